"""FsspecArtifactStore on memory://, file:// and gs:// (fake-gcs-server): layout, commit order, isolation, listing."""

from __future__ import annotations

import json
import threading

import pytest

from cosmos_remote.artifacts import (
    ArtifactRef,
    FsspecArtifactStore,
    IncompleteRunError,
    PublishError,
    RunClaimedError,
    RunNotFoundError,
    RunScope,
)
from cosmos_remote.artifacts._build import run_marker

from .helpers import Backend, WriteHook, jaffle_nodes

SCOPE = RunScope(dag_id="jaffle_shop", run_id="manual__2026-11-02T10:00:00+00:00", task_group="dbt")
RUN_DIR = "jaffle_shop/dbt/manual__2026-11-02T10_00_00_00_00~"


def _publish(store: FsspecArtifactStore, scope: RunScope = SCOPE, variant: str = "") -> ArtifactRef:
    return store.publish(
        scope=scope, nodes=jaffle_nodes(variant=variant), project_name="jaffle_shop", dbt_version="1.11.2"
    )


def test_layout_is_browsable_and_mirrors_dbt_resource_paths(backend: Backend) -> None:
    ref = _publish(backend.store())
    assert ref.uri.startswith(f"{backend.root}/{RUN_DIR}")
    assert backend.stored_files(ref.uri) == {
        "index.json",
        "_run.json",
        "jaffle_shop/models/staging/stg_orders.sql",
        "jaffle_shop/models/staging/stg_orders.compiled.sql",
        "jaffle_shop/models/marts/customers.sql",
        "jaffle_shop/seeds/raw_orders.sql",
        "jaffle_shop/seeds/raw_orders.csv",
        "jaffle_shop/models/staging/_staging.yml/not_null_stg_orders_order_id.sql",
    }
    raw = backend.raw_fs()
    assert (
        raw.cat_file(f"{backend.path(ref.uri)}/jaffle_shop/models/marts/customers.sql").decode().startswith("-- café")
    )
    index = json.loads(raw.cat_file(f"{backend.path(ref.uri)}/index.json"))
    assert index["format_version"] == 1
    assert index["run"] == {"dag_id": "jaffle_shop", "task_group": "dbt", "run_id": SCOPE.run_id}
    assert index["nodes"]["seed.jaffle_shop.raw_orders"]["files"]["csv"]["path"] == "jaffle_shop/seeds/raw_orders.csv"


def test_index_is_written_last_after_every_file_finished(backend: Backend) -> None:
    hook = WriteHook()
    ref = _publish(backend.instrumented(hook))
    index_path = f"{backend.path(ref.uri)}/index.json"
    index_start = hook.events.index(("start", index_path))
    file_ends = [i for i, (kind, path) in enumerate(hook.events) if kind == "end" and path != index_path]
    assert len(file_ends) == 7  # 6 node files + the run marker
    assert index_start > max(file_ends)
    assert hook.events[-1] == ("end", index_path)


def leave_dead_publish(backend: Backend, scope: RunScope = SCOPE) -> str:
    """What a publisher killed before its commit leaves: its claim (the marker naming its session) and some files."""
    uri = backend.store().run_uri(scope=scope)
    raw, prefix = backend.raw_fs(), backend.path(uri)
    raw.makedirs(f"{prefix}/jaffle_shop/models/staging", exist_ok=True)
    raw.pipe_file(f"{prefix}/_run.json", run_marker(scope, session="dead0session"))
    raw.pipe_file(f"{prefix}/jaffle_shop/models/staging/stg_orders.sql", b"select 1")
    return uri


def test_a_publish_that_fails_before_its_index_removes_what_it_wrote_and_can_be_retried(backend: Backend) -> None:
    def deny_customers(path: str, attempt: int) -> BaseException | None:
        return PermissionError(f"injected: {path}") if path.endswith("customers.sql") else None

    with pytest.raises(PublishError, match=r"no index\.json"):
        _publish(backend.instrumented(WriteHook(fail=deny_customers)))
    store = backend.store()
    uri = store.run_uri(scope=SCOPE)
    assert backend.stored_files(uri) == set(), "nothing half-written stays, the claim included"
    with pytest.raises(RunNotFoundError):
        store.open_run(uri=uri)
    ref = _publish(store)  # a retry of the setup task publishes into the prefix
    assert store.fetch(ref=ref, unique_id="model.jaffle_shop.customers").startswith(b"-- caf")


def test_a_dead_publishers_prefix_is_refused_by_readers_and_writers_until_gc_removes_it(backend: Backend) -> None:
    uri = leave_dead_publish(backend)
    store = backend.store()
    with pytest.raises(IncompleteRunError, match="incomplete run"):
        store.open_run(uri=uri)
    with pytest.raises(FileNotFoundError, match="incomplete run"):
        store.fetch(ref=ArtifactRef(uri=uri, index_sha256="0" * 64), unique_id="model.jaffle_shop.stg_orders")
    [summary] = store.list_runs()
    assert (summary.complete, summary.run_id) == (False, SCOPE.run_id)
    with pytest.raises(RunClaimedError, match=r"session dead0session .*cosmos-remote gc"):
        _publish(store)
    assert backend.stored_files(uri) == {"_run.json", "jaffle_shop/models/staging/stg_orders.sql"}, "nothing touched"
    assert store.delete_run(uri=uri) == 2  # what `cosmos-remote gc` does
    ref = _publish(store)
    assert store.verify(ref=ref).ok


def test_transient_errors_are_retried_per_file(backend: Backend) -> None:
    def flaky(path: str, attempt: int) -> BaseException | None:
        return ConnectionResetError("injected: connection reset") if attempt == 1 else None

    hook = WriteHook(fail=flaky)
    ref = _publish(backend.instrumented(hook))
    assert set(hook.attempts.values()) == {2}
    fresh = backend.store()
    for node in jaffle_nodes():
        for name, content in node.encoded().items():
            assert fresh.fetch(ref=ref, unique_id=node.unique_id, name=name) == content


def test_permanent_errors_are_not_retried(backend: Backend) -> None:
    hook = WriteHook(fail=lambda path, attempt: PermissionError("injected") if path.endswith(".csv") else None)
    with pytest.raises(PublishError, match="1 of 7 files"):
        _publish(backend.instrumented(hook))
    assert max(hook.attempts.values()) == 1


def test_two_concurrent_publishes_of_two_runs_do_not_touch_each_other(backend: Backend) -> None:
    store = backend.store()
    scopes = {"a": RunScope(dag_id="jaffle_shop", run_id="run_a"), "b": RunScope(dag_id="jaffle_shop", run_id="run_b")}
    refs: dict[str, ArtifactRef] = {}
    barrier = threading.Barrier(2)

    def publish(name: str) -> None:
        barrier.wait()
        refs[name] = _publish(store, scope=scopes[name], variant=f" -- {name}")

    threads = [threading.Thread(target=publish, args=(name,)) for name in scopes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(refs) == {"a", "b"}
    expected = backend.stored_files(refs["a"].uri)
    assert backend.stored_files(refs["b"].uri) == expected
    assert len(expected) == 8
    for name, ref in refs.items():
        for node in jaffle_nodes(variant=f" -- {name}"):
            for file_name, content in node.encoded().items():
                assert backend.store().fetch(ref=ref, unique_id=node.unique_id, name=file_name) == content
        assert backend.store().verify(ref=ref).ok


def test_list_runs_shows_complete_and_incomplete_runs_with_counts_and_bytes(backend: Backend) -> None:
    store = backend.store()
    first = _publish(store, scope=RunScope(dag_id="jaffle_shop", run_id="r1"))
    _publish(store, scope=RunScope(dag_id="other_dag", run_id="r1", task_group="tg"))
    leave_dead_publish(backend, scope=RunScope(dag_id="jaffle_shop", run_id="r2"))
    runs = store.list_runs()
    assert [(r.dag_id, r.task_group, r.run_id, r.complete, r.node_count) for r in runs] == [
        ("jaffle_shop", None, "r1", True, 4),
        ("other_dag", "tg", "r1", True, 4),
        ("jaffle_shop", None, "r2", False, None),
    ]
    stored_bytes = sum(len(c) for n in jaffle_nodes() for c in n.encoded().values())
    assert runs[0].uri == first.uri
    assert runs[0].total_bytes > stored_bytes  # the files plus index.json and _run.json
    assert runs[0].created_at is not None
    assert [r.run_id for r in store.list_runs(dag_id="other_dag")] == ["r1"]
    assert set(store.list_nodes(ref=first)) == {n.unique_id for n in jaffle_nodes()}


def test_verify_reports_missing_changed_and_unexpected_files(backend: Backend) -> None:
    store = backend.store()
    ref = _publish(store)
    raw, prefix = backend.raw_fs(), backend.path(ref.uri)
    raw.rm_file(f"{prefix}/jaffle_shop/seeds/raw_orders.csv")
    raw.pipe_file(f"{prefix}/jaffle_shop/models/marts/customers.sql", b"select 2")
    raw.pipe_file(f"{prefix}/jaffle_shop/models/stray.sql", b"select 3")
    report = backend.store().verify(ref=store.open_run(uri=ref.uri))
    assert report.files_checked == 6
    assert sorted((p.kind, p.path) for p in report.problems) == [
        ("checksum", "jaffle_shop/models/marts/customers.sql"),
        ("missing", "jaffle_shop/seeds/raw_orders.csv"),
        ("unexpected", "jaffle_shop/models/stray.sql"),
    ]


def test_references_outside_the_root_are_refused(backend: Backend) -> None:
    store = backend.store()
    ref = _publish(store)
    for uri in (f"{ref.uri}/../../../elsewhere", "memory://somewhere/else", f"{backend.root}-sibling/run"):
        with pytest.raises(ValueError, match=r"not under this store's root|relative path"):
            store.fetch(
                ref=ArtifactRef(uri=uri, index_sha256=ref.index_sha256), unique_id="model.jaffle_shop.customers"
            )


def test_a_forged_index_cannot_point_outside_the_run(backend: Backend) -> None:
    store = backend.store()
    ref = _publish(store)
    raw, prefix = backend.raw_fs(), backend.path(ref.uri)
    index = json.loads(raw.cat_file(f"{prefix}/index.json"))
    index["nodes"]["model.jaffle_shop.customers"]["files"]["script"]["path"] = "../../../../etc/passwd"
    raw.pipe_file(f"{prefix}/index.json", json.dumps(index).encode())
    forged = backend.store().open_run(uri=ref.uri)
    with pytest.raises(ValueError, match="refusing to leave the run prefix"):
        backend.store().fetch(ref=forged, unique_id="model.jaffle_shop.customers")


def test_delete_run_removes_that_run_and_nothing_else(backend: Backend) -> None:
    store = backend.store()
    doomed = _publish(store, scope=RunScope(dag_id="jaffle_shop", run_id="old"))
    kept = _publish(store, scope=RunScope(dag_id="jaffle_shop", run_id="new"))
    assert backend.store().delete_run(uri=doomed.uri) == 8
    assert backend.stored_files(doomed.uri) == set()
    assert [r.run_id for r in store.list_runs()] == ["new"]
    assert backend.store().verify(ref=kept).ok
    with pytest.raises(RunNotFoundError):
        store.delete_run(uri=doomed.uri)
    with pytest.raises(ValueError, match="store root"):
        store.delete_run(uri=backend.root)
