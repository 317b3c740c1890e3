"""Airflow settings: ``[cosmos_remote]`` first, then astronomer-cosmos's ``[cosmos]`` as a fallback.

Read when needed (never at import), from the environment (``AIRFLOW__COSMOS_REMOTE__<NAME>``,
``AIRFLOW__COSMOS__<NAME>``) or Airflow's config file; each value says where it came from, so that a choice made from
a setting can be logged with its reason.

Example:
    >>> import os
    >>> os.environ["AIRFLOW__COSMOS__REMOTE_TARGET_PATH"] = "gs://bucket/cosmos"
    >>> setting("remote_target_path")
    Setting(value='gs://bucket/cosmos', source='[cosmos] remote_target_path')
    >>> del os.environ["AIRFLOW__COSMOS__REMOTE_TARGET_PATH"]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

__all__ = ["COSMOS_SECTION", "SECTION", "Setting", "setting", "setting_bool"]

SECTION: Final = "cosmos_remote"
COSMOS_SECTION: Final = "cosmos"
_TRUE: Final = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE: Final = frozenset({"false", "0", "no", "off", "f", "n"})


@dataclass(frozen=True)
class Setting:
    """A setting's value and where it was found (``[cosmos_remote] name`` or ``[cosmos] name``)."""

    value: str
    source: str


def _read(section: str, name: str) -> str | None:
    env = os.environ.get(f"AIRFLOW__{section.upper()}__{name.upper()}")
    if env is not None:
        return env.strip() or None
    from airflow.configuration import conf

    value = conf.get(section, name, fallback=None)
    return str(value).strip() or None if value is not None else None


def setting(name: str, *, cosmos_fallback: bool = True) -> Setting | None:
    """``[cosmos_remote] name``, else (with ``cosmos_fallback``) ``[cosmos] name``, else None."""
    sections = (SECTION, COSMOS_SECTION) if cosmos_fallback else (SECTION,)
    for section in sections:
        value = _read(section, name)
        if value is not None:
            return Setting(value=value, source=f"[{section}] {name}")
    return None


def setting_bool(name: str, *, cosmos_fallback: bool = True) -> tuple[bool, str] | None:
    """A boolean setting and its source, or None when unset.

    Raises:
        ValueError: the value is not a boolean; the message names the setting.
    """
    found = setting(name, cosmos_fallback=cosmos_fallback)
    if found is None:
        return None
    text = found.value.lower()
    if text in _TRUE:
        return True, found.source
    if text in _FALSE:
        return False, found.source
    raise ValueError(f"{found.source} = {found.value!r} is not a boolean; use true or false.")
