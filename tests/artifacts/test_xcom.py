"""The XCom fallback: compressed values, the size guard, and the same errors as object storage."""

from __future__ import annotations

import json
import random

import pytest

from cosmos_remote.artifacts import (
    XCOM_VALUE_LIMIT,
    ArtifactRef,
    ArtifactTooLargeError,
    IncompleteRunError,
    InMemoryXCom,
    NodeArtifact,
    RunScope,
    XComArtifactStore,
    artifact_store,
)
from cosmos_remote.artifacts.xcom_store import decode_value

from .helpers import jaffle_nodes

SCOPE = RunScope(dag_id="jaffle_shop", run_id="manual__1")


def _sql(size: int, *, seed: int = 0) -> str:
    words = ["select", "from", "where", "join", "customer_id", "order_id", "sum(amount)", "group by", "coalesce"]
    rng = random.Random(seed)
    return " ".join(rng.choice(words) for _ in range(size // 8))[:size]


def test_values_are_compressed_base64_and_the_index_is_pushed_last() -> None:
    channel = InMemoryXCom()
    XComArtifactStore(channel=channel).publish(
        scope=SCOPE, nodes=[NodeArtifact(unique_id="model.p.big", files={"script": _sql(40_000)})], project_name="p",
        dbt_version="1.11.2",
    )  # fmt: skip
    keys = list(channel.values)
    assert keys[0] == "cosmos_remote/_run.json"
    assert keys[-1] == "cosmos_remote/index.json"
    value = channel.values["cosmos_remote/p/models/big.sql"]
    assert decode_value(value).decode() == _sql(40_000)
    assert len(value) < 40_000 / 2
    json.dumps(channel.values)  # every value is JSON-serializable text


def test_too_large_sql_fails_before_pushing_anything_and_points_to_remote_target_path() -> None:
    channel = InMemoryXCom()
    incompressible = random.Random(1).randbytes(XCOM_VALUE_LIMIT)
    nodes = [*jaffle_nodes(), NodeArtifact(unique_id="model.jaffle_shop.huge", files={"script": incompressible})]
    with pytest.raises(ValueError, match="remote_target_path") as caught:
        XComArtifactStore(channel=channel).publish(scope=SCOPE, nodes=nodes, project_name="p", dbt_version="1")
    assert isinstance(caught.value, ArtifactTooLargeError)
    assert "model.jaffle_shop.huge" in str(caught.value)
    assert channel.values == {}


def test_an_index_over_the_limit_is_refused_too() -> None:
    nodes = [NodeArtifact(unique_id=f"model.p.m{i}", files={"script": f"select {i}"}) for i in range(2_000)]
    with pytest.raises(ArtifactTooLargeError, match="index of 2000 nodes"):
        XComArtifactStore(channel=InMemoryXCom()).publish(scope=SCOPE, nodes=nodes, project_name="p", dbt_version="1")


def test_marker_without_index_is_an_incomplete_run() -> None:
    channel = InMemoryXCom()
    ref = XComArtifactStore(channel=channel).publish(
        scope=SCOPE, nodes=jaffle_nodes(), project_name="p", dbt_version="1"
    )
    del channel.values["cosmos_remote/index.json"]
    with pytest.raises(IncompleteRunError, match="incomplete run"):
        XComArtifactStore(channel=channel).fetch(ref=ref, unique_id="model.jaffle_shop.customers")


def test_garbage_in_a_value_is_a_checksum_error() -> None:
    channel = InMemoryXCom()
    ref = XComArtifactStore(channel=channel).publish(
        scope=SCOPE, nodes=jaffle_nodes(), project_name="p", dbt_version="1"
    )
    channel.values["cosmos_remote/jaffle_shop/models/marts/customers.sql"] = "not base64 at all!"
    with pytest.raises(ValueError, match="checksum mismatch"):
        XComArtifactStore(channel=channel).fetch(ref=ref, unique_id="model.jaffle_shop.customers")


def test_factory_picks_object_storage_or_xcom() -> None:
    channel = InMemoryXCom()
    assert isinstance(artifact_store(remote_target_path=None, xcom=channel), XComArtifactStore)
    assert type(artifact_store(remote_target_path="memory://factory")).__name__ == "FsspecArtifactStore"
    with pytest.raises(ValueError, match="remote_target_path is not set"):
        artifact_store(remote_target_path="")
    ref = ArtifactRef.from_xcom({"uri": "xcom://a/b", "index_sha256": "a" * 64})
    assert ref.uri == "xcom://a/b"
    with pytest.raises(ValueError, match="setup task"):
        ArtifactRef.from_xcom("select 1")
