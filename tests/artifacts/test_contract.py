"""The ArtifactStore contract, run against every implementation: fsspec on memory://, file://, gs://, and XCom."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cosmos_remote.artifacts import (
    ArtifactRef,
    ArtifactStore,
    ChecksumMismatchError,
    IncompleteRunError,
    NodeArtifact,
    NodeNotFoundError,
    RunExistsError,
    RunNotFoundError,
    RunScope,
)

from .helpers import Harness, jaffle_nodes

SCOPE = RunScope(dag_id="jaffle_shop", run_id="manual__2026-11-02T10:00:00+00:00")


def _publish(store: ArtifactStore, scope: RunScope = SCOPE, variant: str = "") -> ArtifactRef:
    return store.publish(
        scope=scope, nodes=jaffle_nodes(variant=variant), project_name="jaffle_shop", dbt_version="1.11.2"
    )


def test_implements_the_written_contract(harness: Harness) -> None:
    assert isinstance(harness.store, ArtifactStore)


def test_every_file_of_every_node_comes_back_byte_for_byte(harness: Harness) -> None:
    ref = _publish(harness.store)
    consumer = harness.fresh()  # a model task: new process, nothing cached, only the XCom value
    pulled = ArtifactRef.from_xcom(json.loads(json.dumps(ref.to_xcom())))
    for node in jaffle_nodes():
        for name, content in node.encoded().items():
            assert consumer.fetch(ref=pulled, unique_id=node.unique_id, name=name) == content


def test_xcom_carries_only_a_small_reference(harness: Harness) -> None:
    ref = _publish(harness.store)
    value = json.dumps(ref.to_xcom())
    assert set(ref.to_xcom()) == {"uri", "index_sha256"}
    assert "select" not in value
    assert len(value) < 300


def test_index_records_what_consumers_need(harness: Harness) -> None:
    ref = _publish(harness.store)
    index = harness.fresh().read_index(ref=ref)
    assert (index.project_name, index.dbt_version, index.scope) == ("jaffle_shop", "1.11.2", SCOPE)
    node = index.nodes["model.jaffle_shop.stg_orders"]
    assert node.resource_type == "model"
    assert node.materialization == "view"
    assert (node.relation.database, node.relation.schema, node.relation.identifier) == ("p", "d", "stg_orders")
    assert set(node.files) == {"script", "compiled"}
    assert node.files["script"].bytes == len(jaffle_nodes()[0].encoded()["script"])


def test_unknown_node_raises_node_not_found_naming_the_node(harness: Harness) -> None:
    ref = _publish(harness.store)
    with pytest.raises(KeyError) as caught:
        harness.fresh().fetch(ref=ref, unique_id="model.jaffle_shop.nope")
    assert isinstance(caught.value, NodeNotFoundError)
    assert "model.jaffle_shop.nope" in str(caught.value)
    assert "setup task" in str(caught.value)


def test_unknown_file_name_raises_node_not_found(harness: Harness) -> None:
    ref = _publish(harness.store)
    with pytest.raises(NodeNotFoundError, match="no file named 'csv'"):
        harness.store.fetch(ref=ref, unique_id="model.jaffle_shop.customers", name="csv")


def test_tampered_file_raises_checksum_error_naming_node_and_path(harness: Harness) -> None:
    ref = _publish(harness.store)
    entry = harness.store.read_index(ref=ref).nodes["model.jaffle_shop.customers"].files["script"]
    harness.overwrite(ref, entry.path, b"drop table customers")
    with pytest.raises(ValueError, match="checksum mismatch") as caught:
        harness.fresh().fetch(ref=ref, unique_id="model.jaffle_shop.customers")
    assert isinstance(caught.value, ChecksumMismatchError)
    assert "model.jaffle_shop.customers" in str(caught.value)
    assert entry.path in str(caught.value)
    report = harness.fresh().verify(ref=ref)
    assert not report.ok
    assert [(p.kind, p.unique_id) for p in report.problems] == [("checksum", "model.jaffle_shop.customers")]


def test_replaced_index_is_refused_against_the_reference(harness: Harness) -> None:
    ref = _publish(harness.store)
    forged = dataclasses.replace(harness.fresh().read_index(ref=ref), created_at="1999-01-01T00:00:00+00:00")
    harness.overwrite(ref, "index.json", forged.to_json())
    with pytest.raises(ChecksumMismatchError, match=r"index\.json"):
        harness.fresh().fetch(ref=ref, unique_id="model.jaffle_shop.customers")


def test_never_published_run_raises_run_not_found(harness: Harness) -> None:
    _publish(harness.store)
    store, missing = harness.unpublished()
    with pytest.raises(FileNotFoundError) as caught:
        store.fetch(ref=missing, unique_id="model.jaffle_shop.customers")
    assert isinstance(caught.value, RunNotFoundError)
    assert missing.uri in str(caught.value)


def test_publishing_a_committed_run_again_is_refused_and_changes_nothing(harness: Harness) -> None:
    ref = _publish(harness.store)
    extra = NodeArtifact(unique_id="model.jaffle_shop.new_model", files={"script": "select 'new'"})
    with pytest.raises(FileExistsError) as caught:
        harness.fresh().publish(
            scope=SCOPE, nodes=[*jaffle_nodes(variant=" -- different"), extra], project_name="p", dbt_version="1"
        )
    assert isinstance(caught.value, RunExistsError)
    original = jaffle_nodes()[1].encoded()["script"]
    assert harness.fresh().fetch(ref=ref, unique_id="model.jaffle_shop.customers") == original
    report = harness.fresh().verify(ref=ref)  # no stray file from the refused attempt either
    assert report.ok, report.problems


def test_index_is_read_once_per_reference_then_served_from_the_bounded_cache(harness: Harness) -> None:
    ref = _publish(harness.store)
    consumer = harness.fresh()
    consumer.fetch(ref=ref, unique_id="model.jaffle_shop.customers")
    harness.delete(ref, "index.json")
    # the cached index still serves this reference; a new consumer sees an incomplete run
    assert consumer.fetch(ref=ref, unique_id="model.jaffle_shop.stg_orders", name="compiled") == (
        b"select * from raw_orders"
    )
    with pytest.raises(IncompleteRunError, match="incomplete run"):
        harness.fresh().fetch(ref=ref, unique_id="model.jaffle_shop.customers")


def test_verify_re_hashes_every_file(harness: Harness) -> None:
    ref = _publish(harness.store)
    report = harness.fresh().verify(ref=ref)
    assert report.ok
    assert report.files_checked == sum(len(n.files) for n in jaffle_nodes())
