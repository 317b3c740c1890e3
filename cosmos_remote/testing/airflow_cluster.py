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
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from cosmos_remote.testing._cluster_settings import (
    HOSTNAME_ENV,
    AirflowClusterError,
    check_topology,
    cluster_env,
    commands,
    component_hostname,
)
from cosmos_remote.testing._process import EmulatorError, ManagedProcess, free_port
from cosmos_remote.testing._services import missing_packages, postgres_server, redis_server
from cosmos_remote.testing._state_recorder import StateRecorder

__all__ = [
    "AirflowCluster",
    "AirflowClusterError",
    "StateRecorder",
    "airflow_cluster",
    "component_hostname",
    "missing_packages",
]

_STOP_GRACE: Final = 10.0
_TI_SQL: Final = "select task_id, map_index, state from task_instance where dag_id = :d and run_id = :r"


class AirflowCluster:
    """A running cluster (see :func:`airflow_cluster`); reads go to the metadata DB, read-only.

    Attributes:
        home: Its ``AIRFLOW_HOME``; the metadata DB is ``home/airflow.db``, task logs are under ``home/logs``.
        api_url: ``http://127.0.0.1:PORT`` of the api-server.
        env: The environment of the components.
        pids: The PID (also the process-group id) of every component.
        logs: ``{component: log file}`` (``scheduler``, ``triggerer``, ``dag-processor``, ``api-server``).
    """

    def __init__(
        self, home: Path, api_url: str, env: dict[str, str], components: list[ManagedProcess], database_url: str
    ) -> None:
        self.home, self.api_url, self.env, self._components = home, api_url, env, components
        self.pids: tuple[int, ...] = tuple(c.pid for c in components)
        self.logs: dict[str, Path] = {c.name.removeprefix("airflow-"): c.log_path for c in components}
        self._down: set[str] = set()
        if database_url.startswith("sqlite:"):
            read_only = f"sqlite:///file:{home / 'airflow.db'}?mode=ro&uri=true"
            self._db = sa.create_engine(read_only, poolclass=sa.NullPool)
        else:
            self._db = sa.create_engine(database_url, poolclass=sa.NullPool)

    def check_alive(self) -> None:
        """Raise :class:`AirflowClusterError` with its log tail if a component has exited (other than by
        :meth:`kill`)."""
        for c in self._components:
            if c.name.removeprefix("airflow-") not in self._down and not c.is_running():
                raise AirflowClusterError(
                    f"Airflow {c.name} (pid {c.pid}) exited; full log: {c.log_path}. Its last output:\n{c.log_tail()}"
                )

    def _component(self, name: str) -> ManagedProcess:
        for component in self._components:
            if component.name.removeprefix("airflow-") == name:
                return component
        raise AirflowClusterError(f"no component {name!r}; there are {sorted(self.logs)}")

    def kill(self, name: str) -> None:
        """SIGKILL one component's whole process group (``triggerer-2``, ``worker-1``, ``scheduler``...), as a host
        that dies; the cluster no longer counts it as alive until :meth:`restart`."""
        self._down.add(name)
        self._component(name).kill()

    def restart(self, name: str) -> None:
        """Start a killed component again, same command and environment (its log file goes on)."""
        self._component(name).start()
        self._down.discard(name)

    def triggers_by_triggerer(self) -> dict[str, int]:
        """``{triggerer component: triggers it holds now}``."""
        rows = self._rows(
            "select j.hostname, count(*) from trigger t join job j on j.id = t.triggerer_id group by j.hostname"
        )
        return {str(host).split(".")[0]: int(count) for host, count in rows}

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

    def clear(self, dag_id: str, run_id: str, task_ids: Sequence[str]) -> None:
        """Clear these task instances of a finished run through the REST API (as a user re-running them from the UI);
        the run goes back to running."""
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": list(task_ids), "only_failed": False,
                "reset_dag_runs": True}  # fmt: skip
        self._api("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The XCom ``key`` of a task of a run, decoded from its JSON (``None`` if there is none)."""
        rows = self._rows(
            "select value from xcom where dag_id = :d and run_id = :r and task_id = :t and key = :k",
            d=dag_id, r=run_id, t=task_id, k=key,
        )  # fmt: skip
        if not rows or rows[0][0] is None:
            return None
        value = rows[0][0]
        return json.loads(value) if isinstance(value, str | bytes) else value

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
                waiting = [c.name for c in self._components if "worker-" in c.name and " ready." not in c.log_tail()]
                if not unhealthy and expected <= parsed and not waiting:
                    return
                last = f"unhealthy: {unhealthy}, DAG files not parsed yet: {sorted(expected - parsed)}, Celery workers "
                last += f"not ready yet: {waiting}"
            except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, sa.exc.OperationalError) as exc:
                last = repr(exc)
            time.sleep(0.25)
        tails = "\n".join(f"--- {c.name} ({c.log_path}):\n{c.log_tail()[-1500:]}" for c in self._components)
        raise AirflowClusterError(f"Airflow at {self.api_url} not ready in time ({last}). Component logs:\n{tails}")


@contextlib.contextmanager
def airflow_cluster(
    *,
    home: Path,
    dags_folder: Path,
    parallelism: int = 2,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    preload: Sequence[str] = (),
    executor: str = "local",
    database: str = "sqlite",
    triggerers: int = 1,
    celery_workers: int = 2,
    python: Path | None = None,
) -> Iterator[AirflowCluster]:
    """Start scheduler, triggerer(s), dag-processor and api-server on loopback (and Celery workers, PostgreSQL and
    Redis for the production topology); stop them all on exit.

    Args:
        home: An ``AIRFLOW_HOME`` of its own (created; the metadata DB is migrated with ``airflow db migrate``).
        dags_folder: The DAGs folder; every DAG file in it is parsed before the block starts.
        parallelism: Worker slots: of the LocalExecutor (``[core] parallelism``), or of each Celery worker
            (``[celery] worker_concurrency``). A deferred task holds none.
        env: Extra environment of every component, e.g. ``LocalGCP.env`` (the cluster's own settings win over it).
        timeout: Seconds allowed for the migration, and again for the components to become ready.
        preload: Modules the scheduler and the Celery workers import at start (an Airflow plugin of their own,
            ``lazy_load_plugins = False``). Task processes fork from them and find them imported, instead of
            importing them again to parse their DAG file (seconds per task start with the Google provider).
        executor: ``"local"`` (LocalExecutor in the scheduler) or ``"celery"`` (CeleryExecutor on a Redis broker, with
            ``celery_workers`` worker processes: each its own process group, working directory, temp directory and
            host name, as separate hosts; they share only the network, the DAGs folder and the log folder).
        database: ``"sqlite"`` (a file in ``home``) or ``"postgres"`` (a throwaway PostgreSQL cluster on a free
            loopback port, from Debian's ``postgresql``). Celery needs PostgreSQL.
        triggerers: How many triggerers (``triggerer``, ``triggerer-2``...); Airflow hands the triggers of one
            that dies to the others.
        celery_workers: How many Celery workers (``worker-1``...), with ``executor="celery"``.
        python: The interpreter of every component (default: this one), e.g. another virtualenv's ``bin/python``
            with its own Airflow and packages; its ``bin`` comes first on their ``PATH``. Without cosmos_remote
            there, the components keep the machine's host name.

    Yields:
        The :class:`AirflowCluster`. On exit, also after an exception, every component's process group gets SIGTERM,
        then SIGKILL 10 s later if still alive; PostgreSQL and Redis stop after them.

    Raises:
        AirflowClusterError: A bad topology argument, the migration failed, a component exited, a DAG file failed to
            import, or the cluster was not ready within ``timeout``; the message carries the relevant log tail.
        EmulatorError: PostgreSQL or Redis is not installed (the message names the Debian package).

    Example:
        >>> with airflow_cluster(home=Path("/tmp/af"), dags_folder=dags, env=gcp.env) as cluster:  # doctest: +SKIP
        ...     cluster.wait("my_dag", cluster.trigger("my_dag"))
        'success'
    """
    check_topology(executor, database, triggerers, celery_workers)
    if not dags_folder.is_dir():
        raise AirflowClusterError(f"airflow_cluster: the DAGs folder {dags_folder} does not exist; create it first")
    home, dags_folder, port = home.resolve(), dags_folder.resolve(), free_port()
    interpreter = Path(sys.executable) if python is None else python
    home.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as services:
        database_url = (
            services.enter_context(postgres_server()) if database == "postgres" else f"sqlite:///{home / 'airflow.db'}"
        )
        broker_url = services.enter_context(redis_server()) if executor == "celery" else None
        settings = cluster_env(
            home, dags_folder, port, parallelism, database_url=database_url, broker_url=broker_url,
            python=interpreter,
        )  # fmt: skip
        full_env = {**os.environ, **(env or {}), **settings}
        yield from _run_components(
            home, dags_folder, port, full_env, commands(triggerers, celery_workers if executor == "celery" else 0),
            timeout=timeout, preload=preload, database_url=database_url, python=interpreter,
        )  # fmt: skip


def _run_components(
    home: Path,
    dags_folder: Path,
    port: int,
    full_env: dict[str, str],
    commands: dict[str, list[str]],
    *,
    timeout: float,
    preload: Sequence[str],
    database_url: str,
    python: Path,
) -> Iterator[AirflowCluster]:
    airflow = [str(python), "-m", "airflow"]
    migrate = subprocess.run([*airflow, "db", "migrate"], env=full_env, capture_output=True, text=True, timeout=timeout)
    if migrate.returncode != 0:
        output = (migrate.stdout + migrate.stderr)[-3000:]
        raise AirflowClusterError(f"`airflow db migrate` failed (exit {migrate.returncode}) in {home}:\n{output}")
    preloaded: dict[str, str] = {}
    if preload:  # a plugins folder of the scheduler's and the workers' own, loaded when they start
        (plugins := home / "scheduler-plugins").mkdir(exist_ok=True)
        (plugins / "cluster_preload.py").write_text("".join(f"import {module}\n" for module in preload))
        preloaded = {"AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins), "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False"}
    components: list[ManagedProcess] = []
    try:
        for name, args in commands.items():
            component_env, cwd = {**full_env, HOSTNAME_ENV: name}, None
            if name == "scheduler" or name.startswith("worker-"):
                component_env |= preloaded
            if name.startswith("worker-"):  # a host of its own: working and temp directories
                cwd = home / "hosts" / name
                (cwd / "tmp").mkdir(parents=True, exist_ok=True)
                component_env["TMPDIR"] = str(cwd / "tmp")
            components.append(
                ManagedProcess(name=f"airflow-{name}", argv=[*airflow, *args], env=component_env, cwd=cwd)
            )
            components[-1].start()
        cluster = AirflowCluster(home, f"http://127.0.0.1:{port}", full_env, components, database_url)
        cluster._wait_ready(dags_folder, time.monotonic() + timeout)
        yield cluster
    finally:  # SIGTERM to every process group at once; SIGKILL to what is left _STOP_GRACE s later
        deadline = time.monotonic() + _STOP_GRACE
        for component in components:
            with contextlib.suppress(OSError, EmulatorError):
                os.killpg(component.pid, signal.SIGTERM)
        for component in components:
            component.stop(grace=max(1.0, deadline - time.monotonic()))
            with contextlib.suppress(OSError, EmulatorError):  # leftovers of its process group (forked tasks)
                os.killpg(component.pid, signal.SIGKILL)
