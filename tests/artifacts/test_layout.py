"""Names: hostile node ids, resource paths, DAG/run ids never escape the run prefix and stay distinct and readable."""

from __future__ import annotations

import os
import re

import pytest

from cosmos_remote.artifacts import NodeArtifact, RunScope, safe_segment
from cosmos_remote.artifacts.layout import plan_paths, safe_relpath

from .helpers import Backend

SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._~-]*")

# (node id, resource path): at least ten kinds of hostility
HOSTILE = [
    ("model.pkg.café_ünïcode", "models/café/ünïcode.sql"),
    ("model.pkg.with space", "models/with space/a b.sql"),
    ("model.pkg.hash#tag", "models/hash#tag.sql"),
    ("model.pkg.question?", "models/q?uery=1&x.sql"),
    ("model.pkg.dotdot", "../../../../escaped.sql"),
    ("model.pkg.absolute", "/tmp/absolute_escape.sql"),
    ("model.pkg." + "x" * 300, "models/" + "y" * 300 + ".sql"),
    ("model.pkg.backslash", "..\\..\\windows\\system32.sql"),
    ("model.pkg.percent", "models/%2e%2e/%2F.sql"),
    ("model.pkg.glob*", "models/*/[a]?.sql"),
    ("model.pkg.newline", "models/line\nbreak\t.sql"),
    ("model.pkg.CON", "models/CON.sql"),
    ("model.pkg.dots", "models/.hidden/..sql"),
    ("model.pkg.emoji🚀", "models/🚀.sql"),
    ("model.pkg.tilde", "~/models/~root.sql"),
    ("model.pkg.nul", "models/nul\x00byte.sql"),
    ("model.pkg.Orders", "models/Orders.sql"),
    ("model.pkg.orders", "models/orders.sql"),
]
HOSTILE_SCOPE = RunScope(dag_id="../dag #1?", run_id="manual__2026-01-01T00:00:00+00:00/../..", task_group="a/../../b")


def test_plain_names_are_kept_readable() -> None:
    for name in ("stg_orders", "jaffle_shop", "scheduled__2026-01-01", "my.dag-v2", "Customers"):
        assert safe_segment(name) == name
    assert safe_relpath("models/staging/stg_orders.sql") == "models/staging/stg_orders.sql"
    scope = RunScope(dag_id="jaffle", run_id="manual__2026-11-02T10:00:00+00:00")
    assert scope.relative_prefix.startswith("jaffle/manual__2026-11-02T10_00_00_00_00~")


def test_hostile_segments_become_safe_distinct_and_bounded() -> None:
    names = [n for pair in HOSTILE for n in pair] + [".", "..", "", "a" * 1000, "CON.txt", "x.", "-rf", "~"]
    mapped = [safe_segment(n) for n in names]
    for original, segment in zip(names, mapped, strict=True):
        assert SAFE_SEGMENT.fullmatch(segment), (original, segment)
        assert segment not in (".", "..")
        assert not segment.endswith(".")
        assert len(segment) <= 120
        assert safe_segment(original) == segment  # deterministic
    assert len(set(mapped)) == len(set(names))


def test_relative_paths_cannot_climb_out() -> None:
    for _, path in HOSTILE:
        relative = safe_relpath(path)
        assert not relative.startswith("/")
        assert ".." not in relative.split("/")
        assert os.path.normpath(os.path.join("/prefix", relative)).startswith("/prefix/")


def test_case_insensitive_collisions_are_disambiguated_deterministically() -> None:
    nodes = {
        "model.p.Orders": ("p", "models/Orders.sql", ["script"]),
        "model.p.orders": ("p", "models/orders.sql", ["script"]),
    }
    planned = plan_paths(nodes)
    paths = [planned[n]["script"] for n in nodes]
    assert len({p.casefold() for p in paths}) == 2
    assert plan_paths(dict(reversed(nodes.items()))) == planned


def test_scope_rejects_empty_ids() -> None:
    with pytest.raises(ValueError, match="run_id"):
        RunScope(dag_id="d", run_id="")
    with pytest.raises(ValueError, match="task_group"):
        RunScope(dag_id="d", run_id="r", task_group="")


def test_hostile_names_round_trip_without_escaping_the_prefix(backend: Backend) -> None:
    store = backend.store()
    nodes = [
        NodeArtifact(unique_id=unique_id, files={"script": f"select '{unique_id}'"}, resource_path=path)
        for unique_id, path in HOSTILE
    ]
    nodes.append(NodeArtifact(unique_id="model.../../pkg.x", files={"script": "select 1"}, package_name="../../pkg"))
    ref = store.publish(scope=HOSTILE_SCOPE, nodes=nodes, project_name="pkg", dbt_version="1.11.2")
    run_relative = ref.uri[len(backend.root) + 1 :]
    assert all(SAFE_SEGMENT.fullmatch(s) for s in run_relative.split("/")), run_relative
    everything = backend.stored_files()  # the whole root: nothing may land beside the run
    assert everything
    assert all(p.startswith(run_relative + "/") for p in everything)
    inside = backend.stored_files(ref.uri)
    assert len(inside) == len(nodes) + 2
    for path in inside:
        assert all(SAFE_SEGMENT.fullmatch(s) for s in path.split("/")), path
    fresh = backend.store()
    for node in nodes:
        assert fresh.fetch(ref=ref, unique_id=node.unique_id) == node.encoded()["script"]
    assert fresh.verify(ref=ref).ok
    if backend.protocol == "file":
        assert not os.path.exists("/tmp/absolute_escape.sql")
        root_parent = os.path.dirname(backend.path(backend.root))
        assert os.listdir(root_parent) == ["root"]
