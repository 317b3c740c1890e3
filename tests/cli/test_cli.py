"""``cosmos-remote`` end to end, against the GCS and BigQuery emulators.

Both runs are published by the CLI's own ``publish`` (the setup step: a real dbt render of examples/dbt/jaffle_shop
against the BigQuery emulator, then the artifact store on gs:// through ``--conn-id``), once per module: run A from
the example project, run B from a temporary copy in which one model (stg_orders) was edited. Tests that damage or
delete runs work on byte-for-byte copies under their own prefix, so they do not depend on each other's order.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gcsfs
import pytest

from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
from cosmos_remote.cli import ExitCode, main
from cosmos_remote.cli._base import human_bytes, parse_duration
from cosmos_remote.testing import LocalGCP

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "examples" / "dbt" / "jaffle_shop"
PROFILES = REPO / "examples" / "dbt"
CHANGED = "model.jaffle_shop.stg_orders"
RUN_ID_A = "manual__2026-11-02T10:00:00+00:00"
RUN_ID_B = "manual__2026-11-03T10:00:00+00:00"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli(*args: str | Path) -> Result:
    """``main(args)`` in this process, stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return Result(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Published:
    gcp: LocalGCP
    root: str
    run_a: dict[str, Any]
    run_b: dict[str, Any]
    b_stdout: str
    b_stderr: str

    @property
    def conn(self) -> tuple[str, str]:
        return ("--conn-id", self.gcp.conn_id)

    def fs(self) -> gcsfs.GCSFileSystem:
        """gcsfs on the emulator (STORAGE_EMULATOR_HOST), independent of the CLI's own filesystem."""
        return gcsfs.GCSFileSystem(token="anon", project=self.gcp.project, skip_instance_cache=True)

    def backdate(self, uri: str, *, days: int) -> None:
        """Set ``created_at`` in the run's index.json and _run.json (those present) to ``days`` ago."""
        fs = self.fs()
        when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
        for name in ("index.json", "_run.json"):
            path = f"{uri.removeprefix('gs://')}/{name}"
            if fs.exists(path):
                document = json.loads(fs.cat_file(path))
                fs.pipe_file(path, json.dumps({**document, "created_at": when}, sort_keys=True).encode())

    def copy_run(self, uri: str, dest_root: str, *, without: tuple[str, ...] = ()) -> str:
        """Copy the run at ``uri`` byte for byte under ``dest_root`` (same relative prefix); return its URI."""
        fs = self.fs()
        source = uri.removeprefix("gs://")
        target = dest_root.removeprefix("gs://") + source[len(self.root.removeprefix("gs://")) :]
        files = {path: fs.cat_file(path) for path in fs.find(source)}
        fs.pipe(
            {
                target + path[len(source) :]: data
                for path, data in files.items()
                if path.rsplit("/", 1)[1] not in without
            }
        )
        return "gs://" + target


def _subprocess_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped output unless a test asks for a terminal."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


@pytest.fixture(scope="module")
def published(local_gcp_session: LocalGCP, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """Run A in this process (``--json``) while run B renders in a ``python -m cosmos_remote.cli`` subprocess."""
    gcp = local_gcp_session
    dataset = f"cli_{uuid.uuid4().hex[:8]}"
    gcp.create_dataset(dataset)
    root = f"gs://{gcp.bucket}/cli-tests/{uuid.uuid4().hex[:8]}"
    edited = tmp_path_factory.mktemp("edited") / "jaffle_shop"
    shutil.copytree(PROJECT, edited, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = edited / "models" / "staging" / "stg_orders.sql"
    model.write_text(model.read_text().replace("    status,\n", "    lower(status) as status,\n"))
    common = ["--profiles-dir", str(PROFILES), "--to", root, "--conn-id", gcp.conn_id, "--dag-id", "jaffle_shop"]
    command = [sys.executable, "-m", "cosmos_remote.cli", "publish", str(edited), *common, "--run-id", RUN_ID_B]
    env = {**_subprocess_env(), "COSMOS_REMOTE_BQ_DATASET": dataset}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COSMOS_REMOTE_BQ_DATASET", dataset)
            a = cli("publish", PROJECT, *common, "--run-id", RUN_ID_A, "--json")
        b_out, b_err = process.communicate(timeout=300)
    assert a.code == 0, a.err
    assert process.returncode == 0, b_err
    uri = b_out.strip()
    store = FsspecArtifactStore(root=uri, conn_id=gcp.conn_id)
    ref = store.open_run(uri=uri)
    nodes = store.read_index(ref=ref).nodes
    size = sum(f.bytes for node in nodes.values() for f in node.files.values())
    run_b = {"uri": uri, "index_sha256": ref.index_sha256, "nodes": len(nodes), "bytes": size}
    return Published(gcp=gcp, root=root, run_a=a.json(), run_b=run_b, b_stdout=b_out, b_stderr=b_err)


def test_publish_prints_the_run_and_its_xcom_value(published: Published) -> None:
    a, b = published.run_a, published.run_b
    assert a["uri"].startswith(f"{published.root}/jaffle_shop/manual__2026-11-02T10_00_00_00_00~")
    assert len(a["index_sha256"]) == 64
    assert a["project_name"] == "jaffle_shop"
    assert a["nodes"] == b["nodes"] > 20
    assert a["bytes"] > 10_000
    store = FsspecArtifactStore(root=published.root, conn_id=published.gcp.conn_id)
    assert store.open_run(uri=a["uri"]).index_sha256 == a["index_sha256"]


def test_publish_in_a_subprocess_prints_only_the_uri(published: Published) -> None:
    """Run B came from ``python -m cosmos_remote.cli publish`` with output piped: stdout is the URI alone."""
    assert published.b_stdout == published.run_b["uri"] + "\n"
    assert published.run_b["uri"].startswith(f"{published.root}/jaffle_shop/manual__2026-11-03T10_00_00_00_00~")
    assert f"published {published.run_b['nodes']} nodes of jaffle_shop" in published.b_stderr
    assert published.run_b["index_sha256"] in published.b_stderr  # the XCom value the setup task would return
    assert "\x1b[" not in published.b_stdout + published.b_stderr


def test_publish_refuses_bad_input_before_running_dbt() -> None:
    result = cli("publish", PROJECT, "--to", "memory://cli-tests/x", "--profiles-dir", REPO)
    assert result.code == ExitCode.USAGE
    assert result.out == ""
    assert "does not contain a profiles.yml" in result.err
    assert "Traceback" not in result.err
    assert cli("publish", REPO / "docs", "--to", "memory://cli-tests/x").code == ExitCode.USAGE
    assert cli("publish", PROJECT, "--to", "nope://bucket", "--profiles-dir", PROFILES).code == ExitCode.USAGE


def test_runs_lists_both_runs(published: Published) -> None:
    result = cli("runs", published.root, *published.conn, "--json")
    assert result.code == 0, result.err
    runs = result.json()
    assert {r["uri"] for r in runs} == {published.run_a["uri"], published.run_b["uri"]}
    assert runs == sorted(runs, key=lambda r: r["created_at"])  # oldest first
    for run in runs:
        assert run["complete"] is True
        assert run["dag_id"] == "jaffle_shop"
        assert run["node_count"] == published.run_a["nodes"]
        assert run["total_bytes"] > published.run_a["bytes"]  # files plus index.json and _run.json
        assert 0 <= run["age_seconds"] < 3600
    assert {r["run_id"] for r in runs} == {RUN_ID_A, RUN_ID_B}
    assert cli("runs", published.root, *published.conn, "--dag", "other", "--json").json() == []

    quiet = cli("runs", published.root, *published.conn, "-q")
    assert quiet.out.splitlines() == [r["uri"] for r in runs]
    table = cli("runs", published.root, *published.conn, "--dag", "jaffle_shop")
    assert table.out.splitlines()[0].split() == ["CREATED", "AGE", "DAG", "RUN", "ID", "NODES", "SIZE", "STATUS", "URI"]
    assert published.run_a["uri"] in table.out
    assert "\x1b[" not in table.out


def test_ls_lists_nodes(published: Published) -> None:
    result = cli("ls", published.run_a["uri"], *published.conn, "--json")
    assert result.code == 0, result.err
    listing = result.json()
    assert listing["uri"] == published.run_a["uri"]
    assert listing["run_id"] == RUN_ID_A
    nodes = {n["unique_id"]: n for n in listing["nodes"]}
    assert len(nodes) == published.run_a["nodes"]
    orders = nodes["model.jaffle_shop.orders"]
    assert (orders["resource_type"], orders["materialization"]) == ("model", "table")
    assert orders["path"] == "jaffle_shop/models/marts/orders.sql"
    assert orders["bytes"] == orders["files"]["script"]["bytes"] > 0
    assert nodes["model.jaffle_shop.stg_orders"]["materialization"] == "view"
    assert {n["resource_type"] for n in nodes.values()} >= {"model", "seed", "snapshot", "test"}

    seeds = cli("ls", published.run_a["uri"] + "/", *published.conn, "--type", "seed", "--json").json()["nodes"]
    assert sorted(n["unique_id"] for n in seeds) == [
        f"seed.jaffle_shop.raw_{t}" for t in ("customers", "orders", "payments")
    ]
    plain = cli("ls", published.run_a["uri"] + "/index.json", *published.conn, "--type", "model")
    assert plain.out.splitlines()[0].split() == ["NODE", "TYPE", "MATERIALIZATION", "BYTES", "PATH"]
    assert any(line.split()[:3] == ["model.jaffle_shop.orders", "model", "table"] for line in plain.out.splitlines())


def test_show_prints_a_nodes_sql(published: Published) -> None:
    uri = published.run_a["uri"]
    store = FsspecArtifactStore(root=uri, conn_id=published.gcp.conn_id)
    ref = store.open_run(uri=uri)
    script = store.fetch(ref=ref, unique_id="model.jaffle_shop.orders").decode()
    compiled = store.fetch(ref=ref, unique_id="model.jaffle_shop.orders", name="compiled").decode()
    for name in ("orders", "jaffle_shop.orders", "model.jaffle_shop.orders", "jaffle_shop/models/marts/orders.sql"):
        result = cli("show", uri, name, *published.conn)
        assert result.code == 0, result.err
        assert result.out.rstrip("\n") == script.rstrip("\n")
    assert "create or replace table" in script.lower()
    shown = cli("show", uri, "orders", "--compiled", *published.conn)
    assert shown.out.rstrip("\n") == compiled.rstrip("\n")
    assert "create or replace" not in compiled.lower()
    document = cli("show", uri, "raw_orders", "--file", "csv", "--json", *published.conn).json()
    assert document["unique_id"] == "seed.jaffle_shop.raw_orders"
    assert document["content"].startswith("id,user_id,order_date,status")

    missing = cli("show", uri, "raw_orders", "--compiled", *published.conn)
    assert missing.code == ExitCode.NOT_FOUND
    assert "has no 'compiled' file" in missing.err
    assert "csv" in missing.err
    unknown = cli("show", uri, "ordrs", *published.conn)
    assert unknown.code == ExitCode.NOT_FOUND
    assert "did you mean orders" in unknown.err


def test_show_refuses_ambiguous_names() -> None:
    root = f"memory://cli-tests/{uuid.uuid4().hex[:8]}"
    store = FsspecArtifactStore(root=root)
    nodes = [
        NodeArtifact(unique_id="model.shop.orders", files={"script": "select 1"}),
        NodeArtifact(unique_id="model.finance.orders", files={"script": "select 2"}),
    ]
    ref = store.publish(scope=RunScope(dag_id="d", run_id="r"), nodes=nodes, project_name="shop", dbt_version="1")
    result = cli("show", ref.uri, "orders")
    assert result.code == ExitCode.USAGE
    assert "ambiguous" in result.err
    assert "model.finance.orders, model.shop.orders" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert cli("show", ref.uri, "finance.orders").out == "select 2\n"


def test_verify_passes_then_catches_tampering(published: Published) -> None:
    ok = cli("verify", published.run_b["uri"], *published.conn, "--index-sha256", published.run_b["index_sha256"])
    assert ok.code == 0, ok.err
    assert "OK:" in ok.err

    copy = published.copy_run(published.run_b["uri"], f"gs://{published.gcp.bucket}/cli-tamper/{uuid.uuid4().hex[:8]}")
    clean = cli("verify", copy, *published.conn, "--json")
    assert clean.code == 0
    assert clean.json()["ok"] is True
    files_checked = clean.json()["files_checked"]
    assert files_checked > published.run_b["nodes"]

    fs = published.fs()
    orders_sql = f"{copy.removeprefix('gs://')}/jaffle_shop/models/marts/orders.sql"
    fs.pipe_file(orders_sql, fs.cat_file(orders_sql).replace(b"select", b"SELECT", 1))
    fs.rm_file(f"{copy.removeprefix('gs://')}/jaffle_shop/seeds/raw_orders.csv")
    report = cli("verify", copy, *published.conn, "--json")
    assert report.code == ExitCode.MISMATCH
    problems = {(p["kind"], p["path"], p["unique_id"]) for p in report.json()["problems"]}
    assert problems == {
        ("checksum", "jaffle_shop/models/marts/orders.sql", "model.jaffle_shop.orders"),
        ("missing", "jaffle_shop/seeds/raw_orders.csv", "seed.jaffle_shop.raw_orders"),
    }
    plain = cli("verify", copy, *published.conn)
    assert plain.code == ExitCode.MISMATCH
    assert "jaffle_shop/models/marts/orders.sql" in plain.out
    assert "FAILED: 2 problem(s)" in plain.err

    refused = cli("show", copy, "orders", *published.conn)
    assert refused.code == ExitCode.MISMATCH
    assert "checksum mismatch" in refused.err
    assert refused.out == ""
    wrong_index = cli("verify", published.run_b["uri"], *published.conn, "--index-sha256", "0" * 64, "--json")
    assert wrong_index.code == ExitCode.MISMATCH
    assert wrong_index.json()["problems"][0]["path"] == "index.json"


def test_diff_shows_the_changed_model(published: Published) -> None:
    a, b = published.run_a["uri"], published.run_b["uri"]
    result = cli("diff", a, b, *published.conn, "--json")
    assert result.code == ExitCode.MISMATCH, result.err
    report = result.json()
    changes = {c["unique_id"]: c for c in report["changes"]}
    assert changes[CHANGED]["status"] == "changed"
    assert changes[CHANGED]["reasons"] == ["script"]
    assert "+    lower(status) as status," in changes[CHANGED]["diff"]
    assert "-    status," in changes[CHANGED]["diff"]
    assert not any(c["status"] in ("added", "removed") for c in report["changes"])

    # The scripts of models with hooks that log dbt's invocation_id differ in every run; of the compiled SELECTs,
    # only the edited model and order_status_log (which selects '{{ invocation_id }}') do.
    compiled = cli("diff", a, b, *published.conn, "--compiled", "--json").json()
    assert [c["unique_id"] for c in compiled["changes"]] == ["model.jaffle_shop.order_status_log", CHANGED]
    names = cli("diff", a, b, *published.conn, "--compiled", "--name-only")
    assert names.code == ExitCode.MISMATCH
    assert ["changed", CHANGED, "compiled"] in [line.split() for line in names.out.splitlines()]
    assert "@@" not in names.out
    assert (
        "--- a/jaffle_shop/models/staging/stg_orders.compiled.sql"
        in cli("diff", a, b, "--compiled", *published.conn).out
    )

    same = cli("diff", a, a, *published.conn)
    assert same.code == ExitCode.OK
    assert "no differences" in same.err


def test_gc_lists_without_apply_and_deletes_with_it(published: Published) -> None:
    root = f"gs://{published.gcp.bucket}/cli-gc/{uuid.uuid4().hex[:8]}"
    old = published.copy_run(published.run_a["uri"], root)
    new = published.copy_run(published.run_b["uri"], root)
    stale = published.copy_run(published.run_a["uri"], root + "/stale", without=("index.json",))
    for uri in (old, stale):  # published 40 days ago, as far as their index / marker say
        published.backdate(uri, days=40)
    runs = {r["uri"]: r for r in cli("runs", root, *published.conn, "--json").json()}
    assert set(runs) == {old, new, stale}
    assert runs[stale]["complete"] is False
    assert runs[old]["age_seconds"] > 39 * 86400
    assert cli("verify", old, *published.conn).code == ExitCode.OK

    assert "nothing to delete" in cli("gc", root, "--older-than", "41d", *published.conn).err
    dry = cli("gc", root, "--older-than", "30d", *published.conn, "--json")
    assert dry.code == 0, dry.err
    assert dry.json()["applied"] is False
    assert {r["uri"]: r["action"] for r in dry.json()["runs"]} == {old: "delete", stale: "delete"}
    plain = cli("gc", root, "--older-than", "30d", *published.conn)
    assert "would delete 2 run(s) (1 incomplete)" in plain.err
    assert "--apply" in plain.err
    assert old in plain.out
    assert new not in plain.out
    assert len(cli("runs", root, *published.conn, "--json").json()) == 3  # nothing was deleted

    applied = cli("gc", root, "--older-than", "30d", "--apply", *published.conn, "--json")
    assert applied.code == 0, applied.err
    assert {r["uri"]: r["action"] for r in applied.json()["runs"]} == {old: "deleted", stale: "deleted"}
    assert all(r["objects"] > 0 for r in applied.json()["runs"])
    assert [r["uri"] for r in cli("runs", root, *published.conn, "--json").json()] == [new]
    assert cli("ls", old, *published.conn).code == ExitCode.NOT_FOUND
    assert cli("ls", new, *published.conn).code == ExitCode.OK
    assert cli("gc", root, "--older-than", "1 day").code == ExitCode.USAGE


def test_errors_are_one_line_with_the_fix(published: Published) -> None:
    missing = cli("ls", f"{published.root}/jaffle_shop/no_such_run", *published.conn)
    assert missing.code == ExitCode.NOT_FOUND
    assert missing.err.count("\n") == 1
    assert "Traceback" not in missing.err
    assert "Check remote_target_path" in missing.err

    newest = cli("runs", published.root, *published.conn, "-q").out.split()[-1]
    not_a_run = cli("ls", published.root, *published.conn)
    assert not_a_run.code == ExitCode.NOT_FOUND
    assert f"newest: {newest}" in not_a_run.err
    assert f"cosmos-remote runs {published.root}" in not_a_run.err

    incomplete = published.copy_run(
        published.run_a["uri"], f"gs://{published.gcp.bucket}/cli-inc/{uuid.uuid4().hex[:8]}", without=("index.json",)
    )
    result = cli("verify", incomplete, *published.conn)
    assert result.code == ExitCode.NOT_FOUND
    assert "incomplete run" in result.err

    assert cli("ls", "nope://bucket/run").code == ExitCode.USAGE
    debug = cli("ls", f"{published.root}/jaffle_shop/no_such_run", *published.conn, "--debug")
    assert "Traceback" in debug.err
    assert debug.code == ExitCode.NOT_FOUND
    assert cli("ls", "memory://x", "--storage-option", "novalue").code == ExitCode.USAGE


def test_durations_and_sizes() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration("0s") == timedelta(0)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("", "30", "1 day", "-1d", "d"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_duration(bad)
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 * 1024**2)] == ["0 B", "1023 B", "1.5 KiB", "5.0 MiB"]


def test_help_version_and_usage_errors() -> None:
    assert cli("--help").code == 0
    assert cli("--version").code == 0
    assert cli().code == ExitCode.USAGE
    assert cli("runs").code == ExitCode.USAGE
    assert cli("show", "memory://x").code == ExitCode.USAGE
    assert cli("verify", "memory://x", "--index-sha256", "zz").code == ExitCode.USAGE
    assert cli("diff", "memory://x", "memory://y", "--compiled", "--file", "csv").code == ExitCode.USAGE


def test_terminal_output_is_highlighted(published: Published, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    shown = cli("show", published.run_a["uri"], "stg_orders", *published.conn)
    assert shown.code == 0
    assert "\x1b[" in shown.out
    listed = cli("runs", published.root, *published.conn)
    assert "RUN PREFIX" in listed.out
    assert "\x1b[" in listed.out


def test_console_script(published: Published) -> None:
    """The installed entry point (next to this Python, as pip/uv install it) runs the same program, piped: plain."""
    script = Path(sys.executable).parent / "cosmos-remote"
    assert script.is_file(), f"the cosmos-remote console script is not installed next to {sys.executable}"
    command = [str(script), "show", published.run_a["uri"], "orders", *published.conn]
    completed = subprocess.run(command, capture_output=True, text=True, env=_subprocess_env(), timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "create or replace table" in completed.stdout.lower()
    assert "\x1b[" not in completed.stdout


def test_runs_and_gc_on_a_bucket_that_does_not_exist_fail_naming_it(published: Published) -> None:
    missing = "gs://no-such-bucket-cli/cosmos"
    for command in (["runs", missing], ["gc", missing, "--older-than", "0s", "--apply"]):
        result = cli(*command, *published.conn)
        assert result.code == ExitCode.NOT_FOUND, result.err
        assert "'no-such-bucket-cli'" in result.err
        assert "does not exist" in result.err


def test_gc_with_an_age_beyond_any_run_is_a_usage_error_not_a_traceback(published: Published) -> None:
    result = cli("gc", published.root, *published.conn, "--older-than", "99999999999d")
    assert result.code == ExitCode.USAGE
    assert "longer than any age" in result.err
    assert "Traceback" not in result.err


def test_an_unknown_connection_is_named_with_how_to_create_it(published: Published) -> None:
    result = cli("runs", published.root, "--conn-id", "no_such_connection")
    assert result.code == ExitCode.USAGE, result.err
    assert "connection 'no_such_connection'" in result.err
    assert "airflow connections add no_such_connection" in result.err
    assert "unexpected" not in result.err
