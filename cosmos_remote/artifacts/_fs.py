"""fsspec plumbing: build a filesystem lazily, and run one bounded, retried, concurrent batch of reads or writes.

Filesystem scope (credentials): every :class:`~cosmos_remote.artifacts.fsspec_store.FsspecArtifactStore` builds its own
filesystem on first use with ``skip_instance_cache=True``. fsspec otherwise keeps every instance in a process-wide
cache keyed by its arguments, so a long-lived worker would keep reusing the credentials (and aiohttp session) of
the first task forever. With an Airflow connection id we call ``airflow.sdk.io.get_fs(scheme, conn_id,
storage_options)``, the provider factory that ``ObjectStoragePath(url, conn_id=...).fs`` ends up in, but not through
``ObjectStoragePath.fs`` itself: that goes through ``airflow.sdk.io.attach()``, which caches one filesystem per
(scheme, conn_id) in a module-global dict for the life of the process and drops storage options.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cosmos_remote.errors import BackendNotInstalledError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "RetryPolicy",
    "is_transient",
    "open_filesystem",
    "progress_logger",
    "run_batch",
    "split_root",
    "thread_count",
    "transfer_async",
    "transfer_sync",
]

log = logging.getLogger("cosmos_remote.artifacts")

_INSTALL_HINTS: Final[Mapping[str, str]] = {
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "s3": "s3fs",
    "s3a": "s3fs",
    "abfs": "adlfs",
    "az": "adlfs",
    "adl": "adlfs",
}
_AIRFLOW_PROVIDERS: Final[Mapping[str, str]] = {
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "s3": "apache-airflow-providers-amazon",
    "s3a": "apache-airflow-providers-amazon",
    "abfs": "apache-airflow-providers-microsoft-azure",
}
_TRANSIENT_HTTP: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_TRANSIENT_ERRNO: Final = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EAGAIN, errno.EPIPE})
_TRANSIENT_NAMES: Final = frozenset({"ClientConnectionError", "ClientPayloadError", "ServerTimeoutError"})


def split_root(url: str) -> tuple[str, str]:
    """Return ``(protocol, normalized url)``; a plain path means ``file``. Raise ValueError for an unknown protocol."""
    from fsspec.registry import known_implementations, registry

    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"remote_target_path must be an fsspec URL such as 'gs://bucket/cosmos', got {url!r}")
    url = url.strip().rstrip("/")
    if "://" not in url:
        import os.path

        return "file", "file://" + os.path.abspath(url)
    protocol = url.split("://", 1)[0].lower()
    if protocol not in known_implementations and protocol not in registry:
        raise ValueError(
            f"remote_target_path {url!r} uses an unknown protocol {protocol!r}; use an fsspec URL such as "
            f"gs://bucket/prefix, s3://bucket/prefix, file:///path or memory://name."
        )
    return protocol, url


def open_filesystem(*, protocol: str, conn_id: str | None, storage_options: Mapping[str, Any]) -> AbstractFileSystem:
    """Build a private (not instance-cached) filesystem for ``protocol``, from an Airflow connection if given."""
    options: dict[str, Any] = {"skip_instance_cache": True, **storage_options}
    if protocol in ("file", "local"):
        options.setdefault("auto_mkdir", True)
    if conn_id is None:
        import fsspec

        try:
            cls = fsspec.get_filesystem_class(protocol)
        except ImportError as exc:
            package = _INSTALL_HINTS.get(protocol)
            hint = f"pip install {package}" if package else str(exc)
            raise BackendNotInstalledError(
                f"the fsspec backend for {protocol}:// is not installed ({hint}); it is needed to read and write "
                f"artifacts under remote_target_path."
            ) from exc
        filesystem: AbstractFileSystem = cls(**options)
        return filesystem
    try:
        from airflow.sdk.io import get_fs
    except ImportError as exc:
        raise BackendNotInstalledError(
            f"conn_id={conn_id!r} needs Apache Airflow (pip install apache-airflow); or pass conn_id=None to use "
            f"the backend's default credentials."
        ) from exc
    try:
        try:
            filesystem = get_fs(protocol, conn_id=conn_id, storage_options=options)
        except AttributeError:  # a provider whose get_fs takes no storage options
            filesystem = get_fs(protocol, conn_id=conn_id)
    except Exception as exc:
        if type(exc).__name__ != "AirflowNotFoundException":
            if isinstance(exc, ValueError):
                provider = _AIRFLOW_PROVIDERS.get(protocol, "the Airflow provider for this protocol")
                raise BackendNotInstalledError(
                    f"Airflow has no filesystem for {protocol}:// (conn_id={conn_id!r}): install {provider}, or pass "
                    f"conn_id=None to use fsspec's default credentials."
                ) from exc
            raise
        from cosmos_remote.errors import ConfigError

        raise ConfigError(
            f"the Airflow connection {conn_id!r} (the artifact store's credentials) does not exist: create it, e.g. "
            f"`airflow connections add {conn_id} --conn-type google_cloud_platform` or the environment variable "
            f"AIRFLOW_CONN_{conn_id.upper()}, or leave the connection id unset to use the default credentials."
        ) from exc
    return filesystem


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient storage error (per file).

    Example:
        >>> RetryPolicy(attempts=5, initial_backoff=0.1).delay(2) <= 0.4
        True
    """

    attempts: int = 4
    initial_backoff: float = 0.25
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based): exponential with jitter."""
        return float(min(self.max_backoff, self.initial_backoff * 2**attempt) * random.uniform(0.5, 1.0))


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: timeouts, dropped connections, HTTP 408/429/5xx."""
    if isinstance(exc, FileNotFoundError | FileExistsError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNO:
        return True
    code = getattr(exc, "code", None) or getattr(exc, "status", None)
    if isinstance(code, int) and code in _TRANSIENT_HTTP:
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


Progress = Callable[[int, int], None]
#: Extra keyword arguments of the write of one path (content type, create-only mode).
WriteKwargs = Callable[[str], Mapping[str, Any]]


def _no_kwargs(_: str) -> Mapping[str, Any]:
    return {}


def progress_logger(uri: str, started: float) -> Progress:
    """A progress callback that logs every 10% (at most once a second) and at the end."""
    state = {"logged_at": started, "step": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        step = done * 10 // total
        if done == total or (step > state["step"] and now - state["logged_at"] >= 1.0):
            state["logged_at"], state["step"] = now, step
            log.info("uploaded %d/%d files to %s (%.1f s)", done, total, uri, now - started)

    return report


def run_batch(
    fs: AbstractFileSystem,
    items: Mapping[str, bytes | None],
    *,
    concurrency: int,
    retry: RetryPolicy,
    write_kwargs: WriteKwargs | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write ``path -> bytes`` (or read ``path -> None``) as one concurrent batch; never raises per item.

    On an async filesystem (gcsfs, s3fs...) this is one coroutine batch on fsspec's IO loop, at most ``concurrency``
    requests in flight; on a sync one (local, memory) a thread pool. Each item is retried on transient errors.

    Returns:
        ``path -> result``: ``None`` for a write, the bytes for a read, or the exception that ended its attempts.
    """
    kwargs = write_kwargs or _no_kwargs
    if getattr(fs, "async_impl", False):
        from fsspec.asyn import sync

        result: dict[str, Any] = sync(fs.loop, _run_async, fs, items, concurrency, retry, kwargs, progress)
        return result
    return _run_threads(fs, items, concurrency, retry, kwargs, progress)


async def transfer_async(fs: Any, path: str, data: bytes | None, retry: RetryPolicy, kwargs: WriteKwargs) -> Any:
    """Write ``data`` to ``path`` (or read it when ``data`` is None) on an async filesystem, retrying transient
    errors; return ``None`` (written), the bytes (read), or the exception that ended the attempts. Never raises."""
    import asyncio

    for attempt in range(retry.attempts):
        try:
            if data is None:
                return await fs._cat_file(path)
            await fs._pipe_file(path, data, **kwargs(path))
            return None
        except Exception as exc:
            if attempt + 1 >= retry.attempts or not is_transient(exc):
                return exc
            log.warning("retrying %s after %s: %s", path, type(exc).__name__, exc)
            await asyncio.sleep(retry.delay(attempt))
    raise AssertionError("unreachable")


#: Serializes create-only writes on synchronous filesystems other than local disk (memory://), whose
#: ``pipe_file(mode="create")`` checks and writes in two steps.
_CREATE_LOCK: Final = threading.Lock()


def _create_only(fs: Any, path: str, data: bytes, kwargs: Mapping[str, Any]) -> None:
    """Write ``data`` only if ``path`` does not exist yet, atomically (fsspec's own create mode checks, then writes):
    on local disk the name is taken with ``O_EXCL`` first, elsewhere (memory://) the check-then-write is locked."""
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        import os

        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))  # FileExistsError: taken
        try:
            fs.pipe_file(path, data, **{key: value for key, value in kwargs.items() if key != "mode"})
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)  # give the name back, so a retry can take it again
            raise
        return
    with _CREATE_LOCK:
        fs.pipe_file(path, data, **kwargs)


def transfer_sync(fs: Any, path: str, data: bytes | None, retry: RetryPolicy, kwargs: WriteKwargs) -> Any:
    """:func:`transfer_async` for a synchronous filesystem; create-only writes are atomic (see
    :func:`_create_only`)."""
    for attempt in range(retry.attempts):
        try:
            if data is None:
                return fs.cat_file(path)
            options = kwargs(path)
            if options.get("mode") == "create":
                _create_only(fs, path, data, options)
            else:
                fs.pipe_file(path, data, **options)
            return None
        except Exception as exc:
            if attempt + 1 >= retry.attempts or not is_transient(exc):
                return exc
            log.warning("retrying %s after %s: %s", path, type(exc).__name__, exc)
            time.sleep(retry.delay(attempt))
    raise AssertionError("unreachable")


async def _run_async(
    fs: Any,
    items: Mapping[str, bytes | None],
    concurrency: int,
    retry: RetryPolicy,
    kwargs: WriteKwargs,
    progress: Progress | None,
) -> dict[str, Any]:
    import asyncio  # here, not at module level: keeps `import cosmos_remote.artifacts` cheap at DAG-parse time

    semaphore = asyncio.Semaphore(concurrency)

    async def one(path: str, data: bytes | None) -> tuple[str, Any]:
        async with semaphore:
            return path, await transfer_async(fs, path, data, retry, kwargs)

    results: dict[str, Any] = {}
    for future in asyncio.as_completed([one(p, d) for p, d in items.items()]):
        path, outcome = await future
        results[path] = outcome
        if progress is not None:
            progress(len(results), len(items))
    return results


def _run_threads(
    fs: AbstractFileSystem,
    items: Mapping[str, bytes | None],
    concurrency: int,
    retry: RetryPolicy,
    kwargs: WriteKwargs,
    progress: Progress | None,
) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    results: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=thread_count(concurrency)) as pool:
        futures = {pool.submit(transfer_sync, fs, p, d, retry, kwargs): p for p, d in items.items()}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(len(results), len(items))
    return results


def thread_count(concurrency: int) -> int:
    """Threads for a synchronous filesystem (local disk, memory): more than 16 only adds contention."""
    return max(1, min(concurrency, 16))
