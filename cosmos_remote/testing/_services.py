"""Throwaway PostgreSQL and Redis servers on loopback for :func:`~cosmos_remote.testing.airflow_cluster`'s production
topology, started from Debian's packages (``postgresql``, ``redis-server``) and stopped through their own PIDs."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from cosmos_remote.testing._process import EmulatorError, ManagedProcess, free_port

__all__ = ["missing_packages", "postgres_server", "redis_server"]

_READY_TIMEOUT: Final = 60.0
_RUNUSER: Final = "/usr/sbin/runuser"


def _binary(name: str, *, package: str, extra_dirs: str = "") -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"{extra_dirs}/{name}"), reverse=True)), None)
    if not found:
        raise EmulatorError(
            f"{name} is not installed: it comes with Debian's {package} package (`apt-get install {package}` as root; "
            "`make e2e` does it where apt-get can run)"
        )
    return found


def missing_packages() -> list[str]:
    """The Debian packages the production topology needs that are not installed (``postgresql``, ``redis-server``)."""
    missing = []
    if not (shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        missing.append("postgresql")
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    return missing


def _as_postgres_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` user the Debian package creates."""
    if os.geteuid() != 0:
        return argv
    return [_RUNUSER, "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory on a free loopback port (fsync off: a test database), with a
    database ``airflow`` owned by the trusted user ``airflow``; yields its SQLAlchemy URL (psycopg2)."""
    initdb = _binary("initdb", package="postgresql", extra_dirs="/usr/lib/postgresql/*/bin")
    postgres = str(Path(initdb).resolve().parent / "postgres")
    root = Path(tempfile.mkdtemp(prefix="cosmos-remote-postgres-"))
    data, sockets, port = root / "data", root / "sockets", free_port()
    process: ManagedProcess | None = None
    try:
        root.chmod(0o755)
        sockets.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            os.chown(sockets, user.pw_uid, user.pw_gid)
        command = [initdb, "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"]
        done = subprocess.run(_as_postgres_user(command), capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise EmulatorError(f"initdb failed (exit {done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
        settings = {"listen_addresses": "127.0.0.1", "fsync": "off", "synchronous_commit": "off",
                    "full_page_writes": "off", "max_connections": "300",
                    "unix_socket_directories": str(sockets)}  # fmt: skip
        argv = [postgres, "-D", str(data), "-p", str(port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        process = ManagedProcess(name="postgres", argv=_as_postgres_user(argv))
        process.start()
        _wait_postgres(process, port)
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
        process.stop(grace=10)
        process.discard_log()  # a clean stop leaves nothing to look at
    finally:
        if process is not None:
            process.stop(grace=10)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(process: ManagedProcess, port: int, probe: Callable[[], None], retry_on: type[Exception]) -> None:
    """Call ``probe`` until it stops raising ``retry_on``; fail with the log when the process exits or time runs out."""
    deadline, last = time.monotonic() + _READY_TIMEOUT, "no answer yet"
    while time.monotonic() < deadline:
        if not process.is_running():
            output = process.log_tail()
            raise EmulatorError(f"{process.name} exited before it accepted connections. Its output:\n{output}")
        try:
            probe()
            return
        except retry_on as exc:
            last = str(exc).strip()
        time.sleep(0.1)
    raise EmulatorError(
        f"{process.name} on port {port} not ready in {_READY_TIMEOUT:.0f} s ({last}):\n{process.log_tail()}"
    )


def _wait_postgres(process: ManagedProcess, port: int) -> None:
    import psycopg2  # type: ignore[import-untyped]

    def create_database() -> None:
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            with connection.cursor() as cursor:
                cursor.execute("create database airflow")
        finally:
            connection.close()

    _wait_ready(process, port, create_database, psycopg2.OperationalError)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server on a free loopback port, without persistence; yields its URL (``redis://127.0.0.1:P/0``)."""
    binary = _binary("redis-server", package="redis-server")
    root, port = Path(tempfile.mkdtemp(prefix="cosmos-remote-redis-")), free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(root), "--protected-mode", "no"]  # fmt: skip
    process = ManagedProcess(name="redis", argv=argv)
    try:
        process.start()
        _wait_redis(process, port)
        yield f"redis://127.0.0.1:{port}/0"
        process.stop(grace=5)
        process.discard_log()
    finally:
        process.stop(grace=5)
        shutil.rmtree(root, ignore_errors=True)


def _wait_redis(process: ManagedProcess, port: int) -> None:
    import redis

    def ping() -> None:
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping()

    _wait_ready(process, port, ping, redis.RedisError)
