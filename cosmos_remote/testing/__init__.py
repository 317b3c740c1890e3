"""Test your cosmos_remote DAGs on your machine: local GCS and BigQuery emulators, no cloud account.

:func:`local_gcp` starts both emulators on free loopback ports and points gcsfs, google-cloud-bigquery, the Airflow
Google provider, cosmos_remote's hooks and dbt at them; :mod:`cosmos_remote.testing.pytest_plugin` wraps it in pytest
fixtures, and :func:`emulator_profiles_yml` writes a dbt profile for the emulator. It needs the ``testing`` extra:
``pip install 'cosmos-remote[testing]'``.

Example:
    >>> from cosmos_remote.testing import local_gcp
    >>> with local_gcp(job_latency=5) as gcp:  # doctest: +SKIP
    ...     run_my_dag()  # every BigQuery job stays RUNNING for 5 s, so deferrable tasks really defer
"""

from __future__ import annotations

from cosmos_remote.testing._dbt_profile import emulator_profiles_yml
from cosmos_remote.testing._local_gcp import LocalGCP, local_gcp
from cosmos_remote.testing._process import EmulatorError

__all__ = ["EmulatorError", "LocalGCP", "emulator_profiles_yml", "local_gcp"]
