"""The settings and commands of the components :func:`~cosmos_remote.testing.airflow_cluster.airflow_cluster` starts."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Final

from cosmos_remote.testing._process import EmulatorError

__all__ = ["HOSTNAME_ENV", "AirflowClusterError", "check_topology", "cluster_env", "commands", "component_hostname"]

HOSTNAME_ENV: Final = "COSMOS_REMOTE_CLUSTER_HOSTNAME"
_SIMPLE_AUTH: Final = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


class AirflowClusterError(EmulatorError):
    """A component failed to start or died, or a run did not finish: the message names it and carries its log."""


def component_hostname() -> str:
    """``[core] hostname_callable`` of the components: each its own host name (``triggerer-2``, ``worker-1``...)."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


def cluster_env(
    home: Path,
    dags_folder: Path,
    port: int,
    parallelism: int,
    *,
    database_url: str,
    broker_url: str | None,
    python: Path,
) -> dict[str, str]:
    """Settings of every component: its own home, the metadata DB, the executor, loopback api-server, simple auth."""
    url, core = f"http://127.0.0.1:{port}", "AIRFLOW__CORE__"
    # fmt: off
    env = {
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}", "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"), f"{core}DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url, f"{core}LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"), f"{core}PLUGINS_FOLDER": str(home / "plugins"),
        f"{core}EXECUTOR": "LocalExecutor", f"{core}PARALLELISM": str(parallelism), f"{core}AUTH_MANAGER": _SIMPLE_AUTH,
        f"{core}SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": url, f"{core}EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    if python == Path(sys.executable):  # another environment may not have cosmos_remote: the machine's host name
        env[f"{core}HOSTNAME_CALLABLE"] = "cosmos_remote.testing.airflow_cluster.component_hostname"
    if broker_url is not None:
        env |= {
            f"{core}EXECUTOR": "CeleryExecutor", "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
        }
    # fmt: on
    return env


def commands(triggerers: int, celery_workers: int) -> dict[str, list[str]]:
    """``{component: airflow arguments}``; the api-server serves logs, the others serve none (no ports to collide)."""
    skip = ["--skip-serve-logs"]
    commands = {"scheduler": ["scheduler", *skip]}
    for number in range(1, triggerers + 1):
        commands["triggerer" if number == 1 else f"triggerer-{number}"] = ["triggerer", *skip]
    commands |= {"dag-processor": ["dag-processor"], "api-server": ["api-server"]}
    for number in range(1, celery_workers + 1):
        commands[f"worker-{number}"] = ["celery", "worker", *skip, "-H", f"worker-{number}@%h", "--without-mingle"]
    return commands


def check_topology(executor: str, database: str, triggerers: int, celery_workers: int) -> None:
    if executor not in ("local", "celery"):
        raise AirflowClusterError(f"airflow_cluster(executor={executor!r}): use 'local' or 'celery'")
    if database not in ("sqlite", "postgres"):
        raise AirflowClusterError(f"airflow_cluster(database={database!r}): use 'sqlite' or 'postgres'")
    if executor == "celery" and database != "postgres":
        raise AirflowClusterError("airflow_cluster(executor='celery') needs database='postgres' (SQLite is local only)")
    if triggerers < 1 or (executor == "celery" and celery_workers < 1):
        raise AirflowClusterError("airflow_cluster: triggerers and celery_workers must be at least 1")
