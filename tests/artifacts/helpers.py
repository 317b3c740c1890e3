"""Helpers shared by the artifact tests: backends, a write-recording filesystem wrapper, a small dbt run."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosmos_remote.artifacts import (
    ArtifactRef,
    ArtifactStore,
    FsspecArtifactStore,
    NodeArtifact,
    Relation,
    RetryPolicy,
)

FAST_RETRY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05)


@dataclass
class WriteHook:
    """Records write starts/ends in order; ``fail(path, attempt)`` may return an exception to raise instead."""

    fail: Callable[[str, int], BaseException | None] = lambda path, attempt: None
    events: list[tuple[str, str]] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, path: str) -> None:
        with self._lock:
            self.attempts[path] += 1
            attempt = self.attempts[path]
            self.events.append(("start", path))
        error = self.fail(path, attempt)
        if error is not None:
            raise error

    def after(self, path: str) -> None:
        with self._lock:
            self.events.append(("end", path))


@dataclass
class Backend:
    """One real fsspec backend with a root no other test uses."""

    name: str
    root: str
    storage_options: dict[str, Any]

    @property
    def protocol(self) -> str:
        return self.root.split("://", 1)[0]

    def store(self, **kwargs: Any) -> FsspecArtifactStore:
        kwargs.setdefault("retry", FAST_RETRY)
        return FsspecArtifactStore(root=self.root, storage_options=self.storage_options, **kwargs)

    def raw_fs(self) -> Any:
        """A separate filesystem on the same storage, to look at and tamper with stored objects."""
        import fsspec

        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **self.storage_options)

    def path(self, uri: str) -> str:
        stripped: str = self.raw_fs()._strip_protocol(uri)
        return stripped.rstrip("/")

    def stored_files(self, uri: str | None = None) -> set[str]:
        """Every object under ``uri`` (default: the root), relative to it."""
        base = self.path(uri or self.root)
        fs = self.raw_fs()
        fs.invalidate_cache()
        try:
            return {p[len(base) + 1 :] for p in fs.find(base)}
        except FileNotFoundError:
            return set()

    def instrumented(self, hook: WriteHook) -> FsspecArtifactStore:
        """A store on the real filesystem class, subclassed so every write goes through ``hook`` first."""
        base = type(self.raw_fs())
        if getattr(base, "async_impl", False):

            class AsyncInstrumented(base):  # type: ignore[misc,valid-type]
                async def _pipe_file(self, path: str, data: bytes, *args: Any, **kwargs: Any) -> Any:
                    hook.before(path)
                    result = await super()._pipe_file(path, data, *args, **kwargs)
                    hook.after(path)
                    return result

            cls: type = AsyncInstrumented
        else:

            class SyncInstrumented(base):  # type: ignore[misc,valid-type]
                def pipe_file(self, path: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
                    hook.before(path)
                    result = super().pipe_file(path, value, *args, **kwargs)
                    hook.after(path)
                    return result

            cls = SyncInstrumented
        options = dict(self.storage_options)
        if self.protocol == "file":
            options["auto_mkdir"] = True
        return FsspecArtifactStore(
            root=self.root, filesystem=cls(skip_instance_cache=True, **options), retry=FAST_RETRY
        )


@dataclass
class Harness:
    """A store under test, plus the means to damage what it stored behind its back."""

    name: str
    store: ArtifactStore
    fresh: Callable[[], ArtifactStore]
    overwrite: Callable[[ArtifactRef, str, bytes], None]
    delete: Callable[[ArtifactRef, str], None]
    unpublished: Callable[[], tuple[ArtifactStore, ArtifactRef]]


def jaffle_nodes(*, variant: str = "") -> list[NodeArtifact]:
    """A small jaffle_shop-like run: a view, a table, a seed with CSV, a generic test; ``variant`` changes the SQL."""
    return [
        NodeArtifact(
            unique_id="model.jaffle_shop.stg_orders",
            files={
                "script": f"create or replace view `p`.`d`.`stg_orders` as (select * from raw_orders{variant})",
                "compiled": f"select * from raw_orders{variant}",
            },
            resource_path="models/staging/stg_orders.sql",
            materialization="view",
            relation=Relation(database="p", schema="d", identifier="stg_orders"),
        ),
        NodeArtifact(
            unique_id="model.jaffle_shop.customers",
            files={"script": f"-- café ☕ unicode\ncreate or replace table customers as select 1 as id{variant}"},
            resource_path="models/marts/customers.sql",
            materialization="table",
            relation=Relation(database="p", schema="d", identifier="customers"),
        ),
        NodeArtifact(
            unique_id="seed.jaffle_shop.raw_orders",
            files={"script": "insert into raw_orders values (1)", "csv": f"id,status\n1,placed{variant}\r\n".encode()},
            resource_path="seeds/raw_orders.csv",
            materialization="seed",
        ),
        NodeArtifact(
            unique_id="test.jaffle_shop.not_null_stg_orders_order_id.abc123",
            files={"script": f"select * from stg_orders where order_id is null{variant}"},
            resource_path="models/staging/_staging.yml/not_null_stg_orders_order_id.sql",
            materialization="test",
        ),
    ]
