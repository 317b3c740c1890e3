"""The ``profiles.yml`` a run uses: the user's file where it is, or one written from the backend's target."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmos_remote.profiles.base import profiles_yml

if TYPE_CHECKING:
    from cosmos_remote.profile_config import ProfileConfig

__all__ = ["materialize_profile", "write_profile"]


def materialize_profile(profile_config: ProfileConfig, *, work_dir: Path) -> Path:
    """The folder holding the ``profiles.yml`` dbt should use for this run.

    A user file is used where it is (read only). A connection-built profile is written to ``work_dir`` with mode
    0600, since it may hold a service account key.
    """
    if profile_config.profiles_dir is not None:
        return profile_config.profiles_dir
    from cosmos_remote.backends.registry import get_backend

    target = get_backend(profile_config.adapter_type).run_target(profile_config)
    return write_profile(profile_config, target=target, folder=work_dir)


def write_profile(profile_config: ProfileConfig, *, target: Mapping[str, Any], folder: Path) -> Path:
    """Write ``profiles.yml`` (mode 0600) for ``target`` into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "profiles.yml"
    path.touch(mode=0o600)
    path.write_text(
        profiles_yml(profile_name=profile_config.profile_name, target_name=profile_config.target_name, target=target)
    )
    return folder
