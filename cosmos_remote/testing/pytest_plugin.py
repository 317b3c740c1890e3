"""pytest fixtures for testing DAGs against local emulators.

Enable it in your ``conftest.py``::

    pytest_plugins = ["cosmos_remote.testing.pytest_plugin"]

It gives every test session its own Airflow home (SQLite, no examples; set ``COSMOS_REMOTE_KEEP_AIRFLOW_HOME=1`` to
use yours instead) and these fixtures:

* ``local_gcp_session`` — one :class:`~cosmos_remote.testing.LocalGCP` for the session (emulators start once).
* ``gcp`` — the same, for one test; BigQuery job latency and injected faults are reset after the test.
* ``airflow_dags_folder`` — the session's DAGs folder, with the metadata DB migrated.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_remote.testing._local_gcp import LocalGCP, local_gcp
from cosmos_remote.testing.airflow import isolated_airflow_env, migrate_metadata_db


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("COSMOS_REMOTE_KEEP_AIRFLOW_HOME") == "1":
        return
    home = Path(tempfile.mkdtemp(prefix="cosmos-remote-airflow-"))
    os.environ.update(isolated_airflow_env(home))


@pytest.fixture(scope="session")
def local_gcp_session() -> Iterator[LocalGCP]:
    """GCS and BigQuery emulators shared by the whole session."""
    with local_gcp() as gcp:
        yield gcp


@pytest.fixture
def gcp(local_gcp_session: LocalGCP) -> Iterator[LocalGCP]:
    """The session's emulators for one test; job latency set by the test is reset afterwards."""
    yield local_gcp_session
    local_gcp_session.set_job_latency(0.0)
    local_gcp_session.set_faults()


@pytest.fixture(scope="session")
def airflow_dags_folder() -> Path:
    """The session's DAGs folder; the metadata DB is migrated once."""
    migrate_metadata_db()
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
