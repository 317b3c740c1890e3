"""The one way cosmos_remote invokes dbt, and the cache folder every dbt step shares.

dbt runs in a subprocess, never in the calling process: dbt's global state (adapter factory, flags, caches) stays
out of the Airflow worker. Two kinds of process, both started here:

* :func:`run_dbt`: dbt's own CLI (``dbt parse`` at DAG parse, ``dbt deps``), with dbt's usage tracking off.
* :func:`run_capture_process`: ``dbt build`` in capture mode (the setup task's render), where the capturing adapter
  is registered in that process only. The process is either this Python (``sys.executable``) or the Python of a
  separate dbt environment, found next to its ``dbt`` executable.

:func:`default_cache_dir` is the one cache root (manifests, package installs, partial-parse files, parse profiles).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cosmos_remote.errors import DbtInvocationError, RenderInputError

__all__ = [
    "CAPTURE_SCRIPT",
    "CaptureProcess",
    "DbtCommandResult",
    "dbt_command",
    "default_cache_dir",
    "partial_parse_cache",
    "python_for",
    "restore_partial_parse",
    "run_capture_process",
    "run_dbt",
    "save_partial_parse",
]

#: the entry script the capture process runs by file path.
CAPTURE_SCRIPT: Final = Path(__file__).with_name("_capture_main.py")
_PARTIAL_PARSE: Final = "partial_parse.msgpack"
_OUTPUT_TAIL: Final = 40
_QUIET_ENV: Final = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}
_POLL_SECONDS: Final = 0.05

#: Called in the calling thread with each record the capture process streams (
#: ``{"node": {...}}`` or ``{"stopped": reason}``) while dbt still runs.
StreamRecord = Callable[[dict[str, Any]], None]


def python_for(dbt_executable_path: Path | None) -> Path:
    """The Python that runs the capture: this one, or the interpreter of the environment holding ``dbt``.

    The interpreter is taken from the ``dbt`` script's ``#!`` line (how pip and uv install it), else a ``python3`` /
    ``python`` next to it. The path is not resolved: a virtualenv's ``bin/python`` symlink is what selects the
    environment.

    Raises:
        RenderInputError: ``dbt_executable_path`` does not exist, or no Python is found for it.
    """
    if dbt_executable_path is None:
        return Path(sys.executable)
    dbt = Path(dbt_executable_path).expanduser()
    if not dbt.is_file():
        raise RenderInputError(
            f"dbt_executable_path {str(dbt)!r} is not a file. Pass the path of the `dbt` executable of the environment "
            "that holds dbt-bigquery (e.g. /opt/dbt-venv/bin/dbt), or leave it unset to use this Python."
        )
    candidates: list[Path] = []
    try:
        with dbt.open("rb") as handle:
            first_line = handle.readline(4096).decode("utf-8", "replace").strip()
    except OSError:
        first_line = ""
    if first_line.startswith("#!"):
        words = first_line[2:].split()
        if words and "python" in Path(words[0]).name:
            candidates.append(Path(words[0]))
    candidates += [dbt.parent / "python3", dbt.parent / "python"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RenderInputError(
        f"no Python interpreter found for dbt_executable_path {str(dbt)!r} (looked at its #! line and for python3 / "
        "python next to it). Point dbt_executable_path at the `dbt` inside a virtualenv's bin/ folder."
    )


def default_cache_dir() -> Path:
    """The cache root of every dbt step on this machine: ``$COSMOS_REMOTE_CACHE_DIR``, else
    ``$TMPDIR/cosmos_remote_cache`` (subfolders ``manifests/``, ``packages/``, ``partial-parse/``,
    ``parse-profiles/``)."""
    base = os.environ.get("COSMOS_REMOTE_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "cosmos_remote_cache")
    return Path(base)


def dbt_command(dbt_executable: Path | None) -> list[str]:
    """The command line of dbt's CLI: ``dbt_executable``, else the dbt installed next to this Python."""
    return [str(dbt_executable)] if dbt_executable else [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]


@dataclass(frozen=True)
class DbtCommandResult:
    """How one dbt CLI command ended: its exit status (None when it could not run or timed out) and its output."""

    command: tuple[str, ...]
    returncode: int | None
    output: str


def run_dbt(
    command: Sequence[str],
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> DbtCommandResult:
    """Run ``command args`` (``command`` from :func:`dbt_command`) with dbt's tracking off; never raises for the
    command's own failure: the caller turns a non-zero status into an error naming its step."""
    full = (*command, *args)
    run_env = {**(os.environ if env is None else env), **_QUIET_ENV}
    try:
        done = subprocess.run(
            full, cwd=cwd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return DbtCommandResult(command=full, returncode=None, output=str(error))
    return DbtCommandResult(command=full, returncode=done.returncode, output=done.stdout)


def partial_parse_cache(cache_dir: Path, project_dir: Path, python: Path) -> Path:
    """The cached ``partial_parse.msgpack`` of one project for one dbt environment."""
    key = hashlib.sha256(f"{project_dir.resolve()}\0{python}".encode()).hexdigest()[:24]
    return cache_dir / "partial-parse" / key / _PARTIAL_PARSE


def restore_partial_parse(cache_file: Path, target_dir: Path) -> bool:
    """Copy the cached partial-parse file into a run's target folder; True when there was one."""
    try:
        shutil.copyfile(cache_file, target_dir / _PARTIAL_PARSE)
    except OSError:
        return False
    return True


def save_partial_parse(target_dir: Path, cache_file: Path) -> None:
    """Publish a run's partial-parse file to the cache atomically (concurrent renders never see half a file)."""
    produced = target_dir / _PARTIAL_PARSE
    if not produced.is_file():
        return
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".partial_parse-", dir=cache_file.parent)
        os.close(descriptor)
        shutil.copyfile(produced, temporary)
        os.replace(temporary, cache_file)
    except OSError:
        return  # a cache miss next time is the only consequence


def _sqlglot_path(run_dir: Path) -> str | None:
    """A folder holding only this environment's sqlglot, for a dbt environment that lacks it."""
    spec = importlib.util.find_spec("sqlglot")
    if spec is None or spec.origin is None:
        return None
    folder = run_dir / "sqlglot-path"
    folder.mkdir(exist_ok=True)
    (folder / "sqlglot").symlink_to(Path(spec.origin).parent, target_is_directory=True)
    return str(folder)


@dataclass(frozen=True)
class CaptureProcess:
    """The outcome of one capture process.

    Attributes:
        response: The JSON the process wrote (see ``_capture_main.py``).
        process_seconds: Wall time from start to exit.
        output_path: dbt's console output (stdout and stderr).
    """

    response: dict[str, Any]
    process_seconds: float
    output_path: Path


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-_OUTPUT_TAIL:])


class _StreamReader:
    """Reads the complete JSON lines the capture process appended to its stream file since the last call."""

    def __init__(self, path: Path, on_record: StreamRecord) -> None:
        self._path = path
        self._on_record = on_record
        self._offset = 0
        self._pending = b""

    def poll(self) -> None:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                self._on_record(json.loads(line))


def _wait(popen: subprocess.Popen[bytes], *, timeout: float | None, reader: _StreamReader | None, python: Path) -> None:
    """Wait for the process, handing on streamed records meanwhile; kill it after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = _POLL_SECONDS if reader is not None else None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                popen.kill()
                popen.wait()
                raise subprocess.TimeoutExpired([str(python)], timeout or 0.0)
            step = remaining if step is None else min(step, remaining)
        try:
            popen.wait(timeout=step)
        except subprocess.TimeoutExpired:
            if reader is not None:
                reader.poll()
            continue
        if reader is not None:
            reader.poll()
        return


def run_capture_process(
    *,
    python: Path,
    capture_package: Path,
    dbt_args: Sequence[str],
    env: Mapping[str, str] | None,
    run_dir: Path,
    timeout: float | None,
    on_record: StreamRecord | None = None,
) -> CaptureProcess:
    """Run ``dbt <dbt_args>`` in capture mode under ``python``, in ``run_dir``, with the backend's
    ``capture_package`` (see :class:`~cosmos_remote.backends.contract.WarehouseBackend`); return its response.

    With ``on_record``, the process streams each node the moment dbt finishes it, and ``on_record`` gets it (in
    this thread) while dbt goes on; an exception from ``on_record`` stops the process and propagates.

    Raises:
        DbtInvocationError: The process did not finish in ``timeout`` seconds or wrote no response.
    """
    request_path = run_dir / "request.json"
    response_path = run_dir / "response.json"
    output_path = run_dir / "dbt-output.log"
    stream_path = run_dir / "nodes.jsonl"
    external = Path(python) != Path(sys.executable)
    if not (capture_package / "invoke.py").is_file():
        raise RenderInputError(
            f"capture_package {str(capture_package)!r} has no invoke.py; pass the capture_package of a warehouse "
            "backend (cosmos_remote.backends.get_backend(profile_type).capture_package)."
        )
    request = {
        "args": list(dbt_args),
        "capture_package": str(capture_package),
        "response_path": str(response_path),
        "sqlglot_path": _sqlglot_path(run_dir) if external else None,
        "stream_path": str(stream_path) if on_record is not None else None,
    }
    request_path.write_text(json.dumps(request), encoding="utf-8")
    child_env = dict(os.environ)
    if external:  # this environment's packages must not leak into dbt's
        child_env.pop("PYTHONPATH", None)
        child_env.pop("PYTHONHOME", None)
    child_env.update(env or {})
    child_env.update(_QUIET_ENV)
    reader = None if on_record is None else _StreamReader(stream_path, on_record)
    started = time.perf_counter()
    with output_path.open("wb") as output:
        try:
            popen = subprocess.Popen(
                [str(python), str(CAPTURE_SCRIPT), str(request_path)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=run_dir,
            )
        except OSError as error:
            raise DbtInvocationError(f"cannot start {python}: {error}", log_path=output_path) from error
        try:
            _wait(popen, timeout=timeout, reader=reader, python=python)
        except subprocess.TimeoutExpired as error:
            raise DbtInvocationError(
                f"dbt did not finish rendering within {timeout} s (timeout=). Last output:\n{_tail(output_path)}",
                log_path=output_path,
            ) from error
        except BaseException:
            popen.kill()
            popen.wait()
            raise
    elapsed = time.perf_counter() - started
    if not response_path.is_file():
        raise DbtInvocationError(
            f"the dbt capture process ({python}) exited with status {popen.returncode} without a result. "
            f"Last output:\n{_tail(output_path)}",
            log_path=output_path,
        )
    response: dict[str, Any] = json.loads(response_path.read_text(encoding="utf-8"))
    return CaptureProcess(response=response, process_seconds=elapsed, output_path=output_path)


def output_tail(path: Path) -> str:
    """The last lines of dbt's console output, for error messages."""
    return _tail(path)
