"""Racing publishers of one run prefix (two deployments sharing a bucket, DAG id and a deterministic run id; two
``publish()`` calls): one wins, the others write nothing, and nothing of the committed run is ever overwritten or
deleted. On memory://, file:// and gs:// (the emulator)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from cosmos_remote.artifacts import ArtifactRef, NodeArtifact, RunClaimedError, RunExistsError, RunScope

from .helpers import Backend, jaffle_nodes

SCOPE = RunScope(dag_id="shared_dag", run_id="scheduled__2026-12-01T00:00:00+00:00")


def _commit(session: Any, nodes: list[NodeArtifact]) -> ArtifactRef:
    ref: ArtifactRef = session.commit(nodes=nodes, project_name="jaffle_shop", dbt_version="1.11.2")
    return ref


def _assert_run_is_exactly(backend: Backend, ref: ArtifactRef, nodes: list[NodeArtifact]) -> None:
    store = backend.store()
    assert store.verify(ref=ref).ok
    for node in nodes:
        for name, content in node.encoded().items():
            assert store.fetch(ref=ref, unique_id=node.unique_id, name=name) == content


def test_a_second_session_on_a_claimed_prefix_writes_nothing_and_deletes_nothing(backend: Backend) -> None:
    """``A.add(n); B.add(n); B.commit(); A.commit()``: B is refused at its first add, A's run is whole."""
    store_a, store_b = backend.store(), backend.store()
    ours, theirs = jaffle_nodes(variant=" -- A"), jaffle_nodes(variant=" -- B")

    def b_publishes() -> None:
        with store_b.begin_publish(scope=SCOPE) as b:
            b.add(theirs[0])
            _commit(b, theirs)

    with store_a.begin_publish(scope=SCOPE) as a:
        a.add(ours[0])
        with pytest.raises(RunClaimedError, match=f"session {a.session_id}"):
            b_publishes()
        ref = _commit(a, ours)
    _assert_run_is_exactly(backend, ref, ours)


def test_a_session_that_starts_after_the_commit_is_refused_as_an_existing_run(backend: Backend) -> None:
    store = backend.store()
    ours = jaffle_nodes(variant=" -- A")
    with store.begin_publish(scope=SCOPE) as a:
        ref = _commit(a, ours)
    with pytest.raises(RunExistsError), backend.store().begin_publish(scope=SCOPE) as late:
        late.add(jaffle_nodes(variant=" -- late")[0])
    _assert_run_is_exactly(backend, ref, ours)


@pytest.mark.parametrize("seed", range(20))
def test_concurrent_publishers_commit_at_most_one_run_and_never_damage_it(backend: Backend, seed: int) -> None:
    """2 to 4 publishers in threads, random pauses between their steps (``publish()`` or add-then-commit)."""
    rng = random.Random(seed)
    count = rng.randint(2, 4)
    scope = RunScope(dag_id="shared_dag", run_id=f"race_{seed}")
    contents = {i: jaffle_nodes(variant=f" -- publisher {i}") for i in range(count)}
    outcomes: dict[int, ArtifactRef | BaseException] = {}
    start = threading.Barrier(count)

    def publisher(i: int, pauses: list[float], streams: bool) -> None:
        store, nodes = backend.store(), contents[i]
        start.wait()
        try:
            if not streams:
                time.sleep(pauses[0])
                outcomes[i] = store.publish(scope=scope, nodes=nodes, project_name="jaffle_shop", dbt_version="1")
                return
            with store.begin_publish(scope=scope) as session:
                for node, pause in zip(rng_order(nodes, pauses), pauses, strict=False):
                    time.sleep(pause)
                    session.add(node)
                time.sleep(pauses[-1])
                outcomes[i] = _commit(session, nodes)
        except (RunClaimedError, RunExistsError) as refused:
            outcomes[i] = refused

    def rng_order(nodes: list[NodeArtifact], pauses: list[float]) -> list[NodeArtifact]:
        return sorted(nodes, key=lambda n: hash((n.unique_id, pauses[0])))

    threads = [
        threading.Thread(
            target=publisher,
            args=(i, [rng.uniform(0, 0.02) for _ in range(5)], rng.random() < 0.7),
        )
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == count, "every publisher finished"
    winners = {i: ref for i, ref in outcomes.items() if isinstance(ref, ArtifactRef)}
    assert len(winners) == 1, f"exactly one committed run: {outcomes}"
    [(winner, ref)] = winners.items()
    _assert_run_is_exactly(backend, ref, contents[winner])
    assert backend.store().open_run(uri=ref.uri) == ref, "the one index is the winner's"
