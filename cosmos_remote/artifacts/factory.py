"""Pick the artifact store for a DAG's configuration: object storage when ``remote_target_path`` is set, else XCom."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cosmos_remote.artifacts.contract import ArtifactStore
from cosmos_remote.artifacts.fsspec_store import FsspecArtifactStore
from cosmos_remote.artifacts.xcom_store import XComArtifactStore, XComChannel

__all__ = ["StoreChoice", "artifact_store", "check_remote_target_path", "choose_store"]


def artifact_store(
    *,
    remote_target_path: str | None,
    conn_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    xcom: XComChannel | None = None,
) -> ArtifactStore:
    """The store for a configuration; one contract, two implementations.

    Args:
        remote_target_path: An fsspec URL (``gs://bucket/cosmos``); None or ``""`` falls back to XCom.
        conn_id: Airflow connection id for the object store's credentials (None: the backend's defaults).
        storage_options: fsspec options for the object store, e.g. ``{"token": "anon"}``.
        xcom: The XCom channel, required for the fallback (e.g. ``TaskInstanceXCom(ti=ti, task_id="dbt_setup")``).

    Example:
        >>> artifact_store(remote_target_path="gs://bucket/cosmos", conn_id="google_cloud_default")
        FsspecArtifactStore(root='gs://bucket/cosmos', conn_id='google_cloud_default')
    """
    if remote_target_path:
        return FsspecArtifactStore(root=remote_target_path, conn_id=conn_id, storage_options=storage_options)
    if xcom is None:
        raise ValueError(
            "remote_target_path is not set, so artifacts go through XCom: pass xcom= (e.g. "
            "TaskInstanceXCom(ti=context['ti'], task_id=<setup task id>)), or set remote_target_path to an fsspec "
            "URL such as gs://bucket/cosmos."
        )
    return XComArtifactStore(channel=xcom)


#: Object stores whose URL must name a bucket / container after the scheme.
_BUCKET_SCHEMES: Final = frozenset({"gs", "gcs", "s3", "s3a", "az", "abfs", "abfss", "adl", "oss", "r2"})


def check_remote_target_path(url: str, *, parameter: str) -> None:
    """Refuse a ``remote_target_path`` fsspec cannot open (unknown scheme, no bucket) without touching the network.

    Example:
        >>> check_remote_target_path("gss://x", parameter="remote_target_path")
        Traceback (most recent call last):
        ...
        cosmos_remote.errors.ConfigError: remote_target_path: 'gss://x' has the scheme 'gss', which fsspec does not...
    """
    from fsspec.registry import known_implementations, registry

    from cosmos_remote.errors import ConfigError

    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"{parameter}: {url!r} is not a URL; use e.g. 'gs://my-bucket/cosmos' or 'file:///var/cosmos'."
        )
    scheme, _, rest = url.partition("://")
    if scheme != scheme.lower() and scheme.lower() in known_implementations:
        raise ConfigError(
            f"{parameter}: {url!r} has the scheme {scheme!r}; fsspec schemes are lowercase: use "
            f"'{scheme.lower()}://{rest}'."
        )
    if scheme not in known_implementations and scheme not in registry:
        raise ConfigError(
            f"{parameter}: {url!r} has the scheme {scheme!r}, which fsspec does not know (known object stores: gs, "
            "s3, az, file, memory, ...). Check the spelling, e.g. 'gs://my-bucket/cosmos'."
        )
    if scheme in _BUCKET_SCHEMES and not rest.split("/", 1)[0]:
        raise ConfigError(f"{parameter}: {url!r} names no bucket; use e.g. '{scheme}://my-bucket/cosmos'.")


@dataclass(frozen=True)
class StoreChoice:
    """Which artifact store a DAG uses, and why (logged by the setup task and carried in its XCom reference).

    Attributes:
        remote_target_path: The fsspec root, or None for XCom.
        conn_id: The object store's Airflow connection (None: default credentials).
        reason: Where the choice came from: ``argument``, ``[cosmos_remote] remote_target_path``, ``[cosmos]
            remote_target_path``, or why XCom was chosen.
    """

    remote_target_path: str | None
    conn_id: str | None
    reason: str

    @property
    def kind(self) -> str:
        return "fsspec" if self.remote_target_path else "xcom"


def choose_store(*, remote_target_path: str | None, conn_id: str | None) -> StoreChoice:
    """The store for ``ExecutionConfig``'s values and the Airflow settings: the argument, else ``[cosmos_remote]``,
    else astronomer-cosmos's ``[cosmos]`` settings (XCom there only when ``upload_sql_to_xcom`` is set true), else
    XCom. Reads settings only (no network); a bad URL from a setting raises :class:`ConfigError` naming it."""
    from cosmos_remote.settings import setting, setting_bool

    if remote_target_path:
        return StoreChoice(remote_target_path, conn_id or _conn_setting(), "ExecutionConfig.remote_target_path")
    own = setting("remote_target_path", cosmos_fallback=False)
    if own is not None:
        check_remote_target_path(own.value, parameter=own.source)
        return StoreChoice(own.value, conn_id or _conn_setting(), own.source)
    cosmos = setting("remote_target_path")
    if cosmos is not None:
        check_remote_target_path(cosmos.value, parameter=cosmos.source)
        xcom = setting_bool("upload_sql_to_xcom")
        if xcom is not None and xcom[0]:
            return StoreChoice(None, None, f"XCom: {xcom[1]} = True (over {cosmos.source})")
        return StoreChoice(cosmos.value, conn_id or _conn_setting(), cosmos.source)
    return StoreChoice(None, None, "XCom: no remote_target_path is set (argument, [cosmos_remote] or [cosmos])")


def _conn_setting() -> str | None:
    from cosmos_remote.settings import setting

    found = setting("remote_target_path_conn_id")
    return found.value if found is not None else None
