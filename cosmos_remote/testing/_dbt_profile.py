"""A dbt ``profiles.yml`` whose BigQuery target is the emulator :func:`~cosmos_remote.testing.local_gcp` started."""

from __future__ import annotations

__all__ = ["emulator_profiles_yml"]


def emulator_profiles_yml(profile: str, *, dataset: str | None = None, threads: int = 4) -> str:
    """The text of a ``profiles.yml`` with one target, ``dev``, on the local BigQuery emulator.

    The project and endpoint come from the ``COSMOS_REMOTE_BQ_*`` variables ``local_gcp()`` sets, so the file works
    for whichever ports it picked; the dataset too unless ``dataset`` names one.

    Example:
        >>> print(emulator_profiles_yml("probe", dataset="analytics").splitlines()[0])
        probe:
    """
    from cosmos_remote.profiles.base import profiles_yml

    target = {
        "type": "bigquery",
        "method": "oauth-secrets",
        "token": "dummy",
        "project": "{{ env_var('COSMOS_REMOTE_BQ_PROJECT') }}",
        "dataset": dataset if dataset is not None else "{{ env_var('COSMOS_REMOTE_BQ_DATASET') }}",
        "api_endpoint": "{{ env_var('COSMOS_REMOTE_BQ_ENDPOINT') }}",
        "location": "US",
        "threads": threads,
        "job_retries": 0,
    }
    return profiles_yml(profile_name=profile, target_name="dev", target=target)
