"""A real Airflow 3 deployment on loopback, for end-to-end tests and benchmarks of deferrable tasks.

:func:`airflow_cluster` migrates a SQLite metadata DB in its own ``AIRFLOW_HOME`` and starts, each in its own process
group with its own log file, the scheduler (LocalExecutor, ``parallelism`` worker slots), the triggerer, the
dag-processor and the api-server, whose Execution API the task workers call over HTTP. Auth is what ``airflow
standalone`` sets up: the simple auth manager (all-admins mode) and a JWT secret shared by every component.

Example:
    >>> with airflow_cluster(home=tmp / "af", dags_folder=dags, parallelism=2) as cluster:  # doctest: +SKIP
    ...     run_id = cluster.trigger("my_dag")
    ...     with cluster.record_states("my_dag", run_id) as samples:
    ...         assert cluster.wait("my_dag", run_id, timeout=120) == "success"
    >>> samples.peak_deferred, samples.seconds_in("running")  # doctest: +SKIP
    (6, {'publish': 0.8, 'm0.run': 0.6, ...})
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from cosmos_remote.testing._process import EmulatorError, ManagedProcess, free_port

__all__ = ["AirflowCluster", "AirflowClusterError", "StateRecorder", "airflow_cluster"]

_STOP_GRACE: Final = 10.0
_SIMPLE_AUTH: Final = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
_TI_SQL: Final = "select task_id, map_index, state from task_instance where dag_id = :d and run_id = :r"


class AirflowClusterError(EmulatorError):
    """A component failed to start or died, or a run did not finish: the message names it and carries its log."""


class StateRecorder:
    """Samples the task states of one DAG run in a background thread, from creation until :meth:`stop`; the time
    between two samples counts for the state each task had at the first of them.

    Attributes:
        seconds: ``{task_id: {state: seconds}}`` spent in each state while recording (``"None"``: not scheduled).
        peak: ``{state: n}``, the most tasks seen in ``state`` in one sample.
        peak_deferred: The most tasks ``deferred`` at the same moment.
        peak_running: The most tasks ``running`` (each holding a worker slot) at the same moment.
        samples: How many samples were taken.
    """

    def __init__(self, query: Callable[[], dict[str, str | None]], interval: float) -> None:
        self.seconds: dict[str, dict[str, float]] = {}
        self.peak: dict[str, int] = {}
        self.samples = self.peak_deferred = self.peak_running = 0
        self._query, self._interval = query, interval
        self._stop, self._error = threading.Event(), ""
        self._thread = threading.Thread(target=self._run, name="airflow-state-recorder", daemon=True)
        self._thread.start()

    def seconds_in(self, state: str) -> dict[str, float]:
        """``{task_id: seconds}`` each task spent in ``state`` (0 if never seen in it)."""
        return {task: spent.get(state, 0.0) for task, spent in self.seconds.items()}

    def _run(self) -> None:
        previous: tuple[float, dict[str, str | None]] = (0.0, {})
        while True:
            stopping = self._stop.is_set()
            try:
                states = self._query()
            except sa.exc.OperationalError:  # "database is locked" while a component writes: sample again
                self._stop.wait(0.02)
                continue
            except Exception as exc:  # reported by stop()
                self._error = f"{type(exc).__name__}: {exc}"
                return
            now = time.monotonic()
            for task, state in previous[1].items():
                spent = self.seconds.setdefault(task, {})
                spent[str(state)] = spent.get(str(state), 0.0) + now - previous[0]
            for state, count in Counter(str(s) for s in states.values()).items():
                self.peak[state] = max(self.peak.get(state, 0), count)
            self.peak_deferred, self.peak_running = self.peak.get("deferred", 0), self.peak.get("running", 0)
            self.samples, previous = self.samples + 1, (now, states)
            if stopping:
                return
            self._stop.wait(self._interval)

    def stop(self) -> StateRecorder:
        """Take a last sample, stop the thread and return ``self``; raise if sampling failed."""
        self._stop.set()
        self._thread.join()
        if self._error:
            raise AirflowClusterError(f"sampling task states from the metadata DB failed: {self._error}")
        return self

    def __enter__(self) -> StateRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AirflowCluster:
    """A running cluster (see :func:`airflow_cluster`); reads go to the metadata DB, read-only.

    Attributes:
        home: Its ``AIRFLOW_HOME``; the metadata DB is ``home/airflow.db``, task logs are under ``home/logs``.
        api_url: ``http://127.0.0.1:PORT`` of the api-server.
        env: The environment of the components.
        pids: The PID (also the process-group id) of every component.
        logs: ``{component: log file}`` (``scheduler``, ``triggerer``, ``dag-processor``, ``api-server``).
    """

    def __init__(self, home: Path, api_url: str, env: dict[str, str], components: list[ManagedProcess]) -> None:
        self.home, self.api_url, self.env, self._components = home, api_url, env, components
        self.pids: tuple[int, ...] = tuple(c.pid for c in components)
        self.logs: dict[str, Path] = {c.name.removeprefix("airflow-"): c.log_path for c in components}
        self._db = sa.create_engine(f"sqlite:///file:{home / 'airflow.db'}?mode=ro&uri=true", poolclass=sa.NullPool)

    def check_alive(self) -> None:
        """Raise :class:`AirflowClusterError` with its log tail if a component has exited."""
        for c in self._components:
            if not c.is_running():
                raise AirflowClusterError(
                    f"Airflow {c.name} (pid {c.pid}) exited; full log: {c.log_path}. Its last output:\n{c.log_tail()}"
                )

    def _rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self._db.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def _api(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
        try:
            request = urllib.request.Request(f"{self.api_url}{path}", data, headers, method=method)
            with urllib.request.urlopen(request, timeout=60) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code} {exc.read()[:1000]!r}; DAG import errors: {self.import_errors()}"
            raise AirflowClusterError(f"{method} {self.api_url}{path} failed: {detail}") from exc

    def import_errors(self) -> dict[str, str]:
        """``{file: traceback}`` of the DAG files that failed to import."""
        return {str(row[0]): str(row[1]) for row in self._rows("select filename, stacktrace from import_error")}

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and start a manual run of it through the REST API; return its run id."""
        self._api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self._api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id: state}`` of a run (mapped tasks as ``task_id[i]``; ``None``: not scheduled yet)."""
        rows = self._rows(_TI_SQL, d=dag_id, r=run_id)
        return {(task if index < 0 else f"{task}[{index}]"): state for task, index, state in rows}

    def task_tries(self, dag_id: str, run_id: str) -> dict[str, int]:
        """``{task_id: try_number}`` of a run: a task that needed a retry has a try number above 1."""
        rows = self._rows(
            "select task_id, map_index, try_number from task_instance where dag_id = :d and run_id = :r",
            d=dag_id,
            r=run_id,
        )
        return {(task if index < 0 else f"{task}[{index}]"): int(tries or 0) for task, index, tries in rows}

    def wait(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """Wait until the run is ``success`` or ``failed`` and return that state; raise if a component dies."""
        deadline, state = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(sa.exc.OperationalError):
                rows = self._rows("select state from dag_run where dag_id = :d and run_id = :r", d=dag_id, r=run_id)
                if (state := rows[0][0] if rows else None) in ("success", "failed"):
                    return str(state)
            time.sleep(0.5)
        tasks, log = self.task_states(dag_id, run_id), self._components[0].log_tail()
        raise AirflowClusterError(f"run {run_id!r} of {dag_id!r} still {state} after {timeout:.0f} s; {tasks=}\n{log}")

    def ui_url(self, dag_id: str, run_id: str | None = None, task_id: str | None = None, tab: str = "") -> str:
        """The Airflow UI page of a DAG, a run of it, or a task instance of that run; ``tab`` is the page's tab as
        it appears in the URL (``rendered_templates``, ``details``, ``asset_events``; ``""``: the logs)."""
        url = f"{self.api_url}/dags/{urllib.parse.quote(dag_id, safe='')}"
        if run_id is not None:
            url += f"/runs/{urllib.parse.quote(run_id, safe='')}"
            if task_id is not None:
                url += f"/tasks/{urllib.parse.quote(task_id, safe='')}"
        return f"{url}/{tab}" if tab else url

    def record_states(self, dag_id: str, run_id: str, interval: float = 0.2) -> StateRecorder:
        """Start sampling the run's task states every ``interval`` s; use as ``with ... as samples:``."""
        return StateRecorder(lambda: self.task_states(dag_id, run_id), interval)

    def _wait_ready(self, dags_folder: Path, deadline: float) -> None:
        """Wait for the four components to heartbeat and for every DAG file to be parsed; raise on import errors."""
        files = [p for p in dags_folder.rglob("*.py") if b"airflow" in (b := p.read_bytes().lower()) and b"dag" in b]
        expected, last = {str(p.relative_to(dags_folder)) for p in files}, "no answer yet"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                    unhealthy = [k for k, v in json.loads(response.read()).items() if v["status"] != "healthy"]
                # The Execution API builds its versioned routes on first use: here, not in the first task.
                with urllib.request.urlopen(f"{self.api_url}/execution/health", timeout=60) as response:
                    response.read()
                if errors := self.import_errors():
                    raise AirflowClusterError(f"{dags_folder}: DAG files failed to import (fix or remove): {errors}")
                parsed = {str(r[0]) for r in self._rows("select relative_fileloc from dag where not is_stale")}
                if not unhealthy and expected <= parsed:
                    return
                last = f"unhealthy: {unhealthy}, DAG files not parsed yet: {sorted(expected - parsed)}"
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, sa.exc.OperationalError) as exc:
                last = repr(exc)
            time.sleep(0.25)
        tails = "\n".join(f"--- {c.name} ({c.log_path}):\n{c.log_tail()[-1500:]}" for c in self._components)
        raise AirflowClusterError(f"Airflow at {self.api_url} not ready in time ({last}). Component logs:\n{tails}")


def _cluster_env(home: Path, dags_folder: Path, port: int, parallelism: int) -> dict[str, str]:
    """Settings of every component: its own home and SQLite DB, LocalExecutor, loopback api-server, simple auth."""
    url, core = f"http://127.0.0.1:{port}", "AIRFLOW__CORE__"
    # fmt: off
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"), f"{core}DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}", f"{core}LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"), f"{core}PLUGINS_FOLDER": str(home / "plugins"),
        f"{core}EXECUTOR": "LocalExecutor", f"{core}PARALLELISM": str(parallelism), f"{core}AUTH_MANAGER": _SIMPLE_AUTH,
        f"{core}SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": url, f"{core}EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    # fmt: on


@contextlib.contextmanager
def airflow_cluster(
    *,
    home: Path,
    dags_folder: Path,
    parallelism: int = 2,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    preload: Sequence[str] = (),
) -> Iterator[AirflowCluster]:
    """Start scheduler, triggerer, dag-processor and api-server on loopback; stop them all on exit.

    Args:
        home: An ``AIRFLOW_HOME`` of its own (created; ``home/airflow.db`` is migrated with ``airflow db migrate``).
        dags_folder: The DAGs folder; every DAG file in it is parsed before the block starts.
        parallelism: Worker slots of the LocalExecutor (``[core] parallelism``); a deferred task holds none.
        env: Extra environment of every component, e.g. ``LocalGCP.env`` (the cluster's own settings win over it).
        timeout: Seconds allowed for the migration, and again for the components to become ready.
        preload: Modules the scheduler imports at start (an Airflow plugin of its own, ``lazy_load_plugins = False``).
            LocalExecutor task processes fork from it and find them imported, instead of importing them again to
            parse their DAG file (seconds per task start with the Google provider; twice per deferrable task).

    Yields:
        The :class:`AirflowCluster`. On exit, also after an exception, every component's process group gets SIGTERM,
        then SIGKILL 10 s later if still alive.

    Raises:
        AirflowClusterError: The migration failed, a component exited, a DAG file failed to import, or the cluster
            was not ready within ``timeout``; the message carries the relevant log tail.

    Example:
        >>> with airflow_cluster(home=Path("/tmp/af"), dags_folder=dags, env=gcp.env) as cluster:  # doctest: +SKIP
        ...     cluster.wait("my_dag", cluster.trigger("my_dag"))
        'success'
    """
    if not dags_folder.is_dir():
        raise AirflowClusterError(f"airflow_cluster: the DAGs folder {dags_folder} does not exist; create it first")
    home, dags_folder, port = home.resolve(), dags_folder.resolve(), free_port()
    home.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {}), **_cluster_env(home, dags_folder, port, parallelism)}
    airflow = [sys.executable, "-m", "airflow"]
    migrate = subprocess.run([*airflow, "db", "migrate"], env=full_env, capture_output=True, text=True, timeout=timeout)
    if migrate.returncode != 0:
        output = (migrate.stdout + migrate.stderr)[-3000:]
        raise AirflowClusterError(f"`airflow db migrate` failed (exit {migrate.returncode}) in {home}:\n{output}")
    # The api-server takes host, port and workers from [api]; the others serve no logs (no ports to collide).
    skip = ["--skip-serve-logs"]
    commands = {"scheduler": skip, "triggerer": skip, "dag-processor": [], "api-server": []}
    envs = dict.fromkeys(commands, full_env)
    if preload:  # a plugins folder of the scheduler's own, loaded when it starts
        (plugins := home / "scheduler-plugins").mkdir(exist_ok=True)
        (plugins / "cluster_preload.py").write_text("".join(f"import {module}\n" for module in preload))
        lazy = {"AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins), "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False"}
        envs["scheduler"] = {**full_env, **lazy}
    components: list[ManagedProcess] = []
    try:
        for name, args in commands.items():
            components.append(ManagedProcess(name=f"airflow-{name}", argv=[*airflow, name, *args], env=envs[name]))
            components[-1].start()
        cluster = AirflowCluster(home, f"http://127.0.0.1:{port}", full_env, components)
        cluster._wait_ready(dags_folder, time.monotonic() + timeout)
        yield cluster
    finally:  # SIGTERM to every process group at once; SIGKILL to what is left _STOP_GRACE s later
        deadline = time.monotonic() + _STOP_GRACE
        for component in components:
            with contextlib.suppress(OSError):
                os.killpg(component.pid, signal.SIGTERM)
        for component in components:
            component.stop(grace=max(1.0, deadline - time.monotonic()))
            with contextlib.suppress(OSError):  # leftovers of its process group (forked task processes), if any
                os.killpg(component.pid, signal.SIGKILL)
