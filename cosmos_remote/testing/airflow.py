"""Run Airflow's ``dag.test()`` against an isolated, throw-away Airflow home.

Airflow reads its configuration when it is first imported, so :func:`isolated_airflow_env` must be applied to
``os.environ`` before anything imports ``airflow``; the pytest plugin (:mod:`cosmos_remote.testing.pytest_plugin`)
does that in ``pytest_configure``.

Example:
    >>> env = isolated_airflow_env(Path("/tmp/af"))  # doctest: +SKIP
    >>> os.environ.update(env); migrate_metadata_db()  # doctest: +SKIP
    >>> load_dag(Path("/tmp/af/dags"), "my_dag").test()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cosmos_remote.testing._process import EmulatorError

if TYPE_CHECKING:
    from airflow.sdk import DAG

__all__ = ["SETTLE_ENV", "isolated_airflow_env", "load_dag", "migrate_metadata_db"]

#: The environment variable of ``[cosmos_remote] defer_settle_seconds``.
SETTLE_ENV = "AIRFLOW__COSMOS_REMOTE__DEFER_SETTLE_SECONDS"


def isolated_airflow_env(home: Path, *, dags_folder: Path | None = None) -> dict[str, str]:
    """Environment for an Airflow home under ``home`` with a SQLite DB, no examples, and ``dags_folder`` (default
    ``home/dags``) as the DAGs folder: ``dag.test()`` runs only DAGs parsed from the configured DAGs folder."""
    dags = dags_folder or home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }


def migrate_metadata_db(*, timeout: float = 300.0) -> None:
    """Create or upgrade the metadata DB of the current ``AIRFLOW_HOME`` (``airflow db migrate``)."""
    if "AIRFLOW_HOME" not in os.environ:
        raise EmulatorError("migrate_metadata_db: AIRFLOW_HOME is not set; apply isolated_airflow_env(...) first")
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise EmulatorError(
            f"`airflow db migrate` failed for AIRFLOW_HOME={os.environ['AIRFLOW_HOME']} "
            f"(exit {result.returncode}):\n{result.stderr[-3000:]}"
        )


def load_dag(dags_folder: Path, dag_id: str) -> DAG:
    """Parse ``dags_folder`` as the dag-processor would and return ``dag_id``, or raise with the import errors."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise LookupError(
            f"DAG {dag_id!r} not found in {dags_folder}: found {sorted(bag.dags)}; import errors: {bag.import_errors}"
        )
    return dag
