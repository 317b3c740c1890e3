"""Publishing in two steps (``begin_publish`` → ``add`` per node → ``commit``), as the setup task does while dbt
renders: files go up before the commit, the commit alone decides what the run holds, an abort leaves nothing."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from cosmos_remote.artifacts import (
    ArtifactStore,
    FsspecArtifactStore,
    NodeArtifact,
    PublishSession,
    RunExistsError,
    RunScope,
)

from .helpers import Backend, Harness, jaffle_nodes

SCOPE = RunScope(dag_id="jaffle_shop", run_id="scheduled__2026-11-25T06:00:00+00:00")


def _commit(session: PublishSession, nodes: list[NodeArtifact]) -> object:
    return session.commit(nodes=nodes, project_name="jaffle_shop", dbt_version="1.11.2")


def _wait_for(backend: Backend, uri: str, count: int, timeout: float = 15.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = backend.stored_files(uri)
        if len(stored) >= count:
            return stored
        time.sleep(0.02)
    raise AssertionError(f"only {backend.stored_files(uri)} of {count} files under {uri} after {timeout} s")


def test_every_store_publishes_through_a_session(harness: Harness) -> None:
    nodes = jaffle_nodes()
    with harness.store.begin_publish(scope=SCOPE) as session:
        assert isinstance(session, PublishSession)
        for node in nodes:
            session.add(node)
        ref = session.commit(nodes=nodes, project_name="jaffle_shop", dbt_version="1.11.2")
    consumer: ArtifactStore = harness.fresh()
    for node in nodes:
        for name, content in node.encoded().items():
            assert consumer.fetch(ref=ref, unique_id=node.unique_id, name=name) == content
    assert consumer.verify(ref=ref).ok


def test_added_nodes_are_uploaded_before_the_commit_and_not_twice(backend: Backend) -> None:
    nodes = jaffle_nodes()
    store = backend.store()
    with store.begin_publish(scope=SCOPE) as session:
        for node in nodes:
            session.add(node)
        files = sum(len(node.files) for node in nodes)
        uri = store.run_uri(scope=SCOPE)
        early = _wait_for(backend, uri, files + 1)  # while the producer would still be rendering
        assert "index.json" not in early  # nothing is committed yet: no reader can use the run
        with pytest.raises(FileNotFoundError, match="incomplete"):
            store.open_run(uri=uri)
        # the run marker went first: a publish that dies here (worker killed) is listed, and gc can remove it
        (listed,) = store.list_runs()
        assert (listed.uri, listed.complete, listed.node_count) == (uri, False, None)
        ref = _commit(session, nodes)
    assert backend.stored_files(uri) == early | {"index.json"}
    assert store.verify(ref=ref).ok


def test_the_commit_decides_changed_and_dropped_nodes(backend: Backend) -> None:
    """A node rendered again with other SQL, and a node that is not in the final run: the index and the files
    follow the commit, and nothing extra stays under the run prefix."""
    early, final = jaffle_nodes(variant=" -- first"), jaffle_nodes()
    dropped = NodeArtifact(
        unique_id="model.jaffle_shop.scratch", files={"script": "select 2"}, resource_path="models/scratch.sql"
    )
    store = backend.store()
    with store.begin_publish(scope=SCOPE) as session:
        for node in [*early, dropped]:
            session.add(node)
        ref = _commit(session, final)
    fetched = backend.store()
    for node in final:
        for name, content in node.encoded().items():
            assert fetched.fetch(ref=ref, unique_id=node.unique_id, name=name) == content
    report = fetched.verify(ref=ref)
    assert report.ok, report.problems
    assert not any(path.startswith("jaffle_shop/models/scratch") for path in backend.stored_files(ref.uri))


def test_a_path_that_clashes_only_in_the_final_run_moves_and_leaves_no_orphan(backend: Backend) -> None:
    """Added alone, a node gets its plain path; the final run has a second node on the same path (case aside), so
    both get tagged paths. The plain-path upload is removed before the index is written."""
    first = NodeArtifact(unique_id="model.pkg.Orders", files={"script": "select 1"}, resource_path="models/Orders.sql")
    second = NodeArtifact(unique_id="model.pkg.orders", files={"script": "select 2"}, resource_path="models/orders.sql")
    store = backend.store()
    with store.begin_publish(scope=SCOPE) as session:
        session.add(first)
        ref = session.commit(nodes=[first, second], project_name="pkg", dbt_version="1.11.2")
    index = store.read_index(ref=ref)
    paths = {entry.files["script"].path for entry in index.nodes.values()}
    assert all("~" in path for path in paths)  # both tagged
    assert backend.stored_files(ref.uri) == paths | {"index.json", "_run.json"}
    assert store.fetch(ref=ref, unique_id="model.pkg.Orders") == b"select 1"


def test_an_exception_before_the_commit_removes_what_was_uploaded(backend: Backend) -> None:
    store = backend.store()
    uri = store.run_uri(scope=SCOPE)
    nodes = jaffle_nodes()

    def render_then_fail() -> None:
        with store.begin_publish(scope=SCOPE) as session:
            for node in nodes:
                session.add(node)
            _wait_for(backend, uri, sum(len(node.files) for node in nodes))
            raise RuntimeError("dbt failed on model.jaffle_shop.customers")

    with pytest.raises(RuntimeError, match="dbt failed"):
        render_then_fail()
    assert backend.stored_files(uri) == set()
    with pytest.raises(FileNotFoundError):
        store.open_run(uri=uri)


def test_a_session_on_a_committed_run_is_refused_and_removes_only_its_own_files(backend: Backend) -> None:
    store = backend.store()
    committed = store.publish(scope=SCOPE, nodes=jaffle_nodes(), project_name="jaffle_shop", dbt_version="1.11.2")
    before = backend.stored_files(committed.uri)
    extra = NodeArtifact(unique_id="model.jaffle_shop.new", files={"script": "select 3"}, resource_path="models/n.sql")
    nodes = [*jaffle_nodes(variant=" -- again"), extra]

    def publish_again() -> None:
        with store.begin_publish(scope=SCOPE) as session:
            for node in nodes:
                session.add(node)
            _commit(session, nodes)

    with pytest.raises(RunExistsError):
        publish_again()
    assert backend.stored_files(committed.uri) == before
    assert backend.store().verify(ref=committed).ok


def test_add_after_commit_is_a_programming_error(backend: Backend) -> None:
    store = backend.store()
    node = jaffle_nodes()[0]
    with store.begin_publish(scope=SCOPE) as session:
        _commit(session, [node])
        with pytest.raises(RuntimeError, match="already committed"):
            session.add(dataclasses.replace(node, unique_id="model.jaffle_shop.late"))
    assert isinstance(store, FsspecArtifactStore)


class _LateFutures:
    """Uploads that reach the store at once but whose futures resolve only later: the window in which a real upload
    has been written by the server while its client-side future is still pending. A fake, because no real store
    holds that window open on demand."""

    def __init__(self, store: FsspecArtifactStore, uri: str) -> None:
        self._store, self._uri = store, uri

    def submit(self, path: str, data: bytes) -> Future[BaseException | None]:
        self._store.put_files(self._uri, {path: data}, create=False)
        future: Future[BaseException | None] = Future()

        def finish() -> None:  # as asyncio's run_coroutine_threadsafe does once the coroutine ends
            if future.set_running_or_notify_cancel():
                future.set_result(None)

        timer = threading.Timer(1.0, finish)
        timer.daemon = True
        timer.start()
        return future

    def close(self) -> None:
        pass


class _LateFutureStore(FsspecArtifactStore):
    def open_uploads(self, uri: str) -> _LateFutures:
        return _LateFutures(self, uri)


def test_an_abort_also_removes_uploads_cancelled_after_they_reached_the_store_with_a_late_future_fake(
    tmp_path: Path,
) -> None:
    store = _LateFutureStore(root=f"file://{tmp_path}/runs")
    nodes = jaffle_nodes()

    def render_then_fail() -> None:
        with store.begin_publish(scope=SCOPE) as session:
            for node in nodes:
                session.add(node)
            raise RuntimeError("dbt failed on model.jaffle_shop.customers")

    with pytest.raises(RuntimeError, match="dbt failed"):
        render_then_fail()
    run = tmp_path / "runs"
    assert [p for p in run.rglob("*") if p.is_file()] == [], "the aborted publish left files behind"
