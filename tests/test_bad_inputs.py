"""Bad input fails at the earliest point, naming the thing and the fix; docs/bad-inputs.md is this table.

Each case is what a user writes, where it fails (DAG parse, the setup task, the CLI), the error and the words the
message must contain. ``test_the_docs_table_is_this_table`` keeps docs/bad-inputs.md equal to :func:`markdown`.
"""

from __future__ import annotations

import io
import json
import uuid
import warnings
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pendulum
import pytest

from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
from cosmos_remote.backends.bigquery import BACKEND
from cosmos_remote.compat import CosmosCompatibilityWarning
from cosmos_remote.publish import check_script_sizes

DOC = Path(__file__).parents[1] / "docs" / "bad-inputs.md"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dataclass
class Env:
    """What a case may use: the example project, its profile and manifest, a temp folder, the emulators."""

    project: Path
    profiles: Path
    manifest: Path
    tmp_path: Path
    request: pytest.FixtureRequest

    def configs(self, **changes: Any) -> dict[str, Any]:
        configs: dict[str, Any] = {
            "project_config": ProjectConfig(dbt_project_path=self.project, manifest_path=self.manifest),
            "profile_config": ProfileConfig(
                profile_name="jaffle_shop", target_name="dev", profiles_yml_filepath=self.profiles / "profiles.yml"
            ),
            "execution_config": ExecutionConfig(remote_target_path="gs://bucket/cosmos"),
        }
        return {**configs, **changes}

    def dag(self, **changes: Any) -> DbtDag:
        return DbtDag(dag_id=f"bad_{uuid.uuid4().hex[:6]}", schedule=None, start_date=START, **self.configs(**changes))

    def cli(self, *args: str) -> tuple[int, str]:
        from cosmos_remote.cli import main

        err = io.StringIO()
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            code = main(list(args))
        return code, err.getvalue()


@dataclass(frozen=True)
class Case:
    """One bad input: ``run`` raises (or returns the CLI's exit code and stderr, or warns)."""

    written: str
    fails_at: str
    error: str
    says: str
    run: Callable[[Env], Any]


def _missing_bucket(env: Env) -> None:
    gcp = env.request.getfixturevalue("gcp")
    options = {"token": "anon", "project": gcp.project, "endpoint_url": gcp.gcs_endpoint}
    store = FsspecArtifactStore(root="gs://no-such-bucket-x/cosmos", storage_options=options)
    nodes = [NodeArtifact(unique_id="model.p.a", files={"script": "select 1"})]
    store.publish(scope=RunScope(dag_id="d", run_id="r"), nodes=nodes, project_name="p", dbt_version="1")


def _profile_of_type(env: Env, kind: str) -> None:
    profiles = env.tmp_path / "profiles.yml"
    profiles.write_text(f"p:\n  target: dev\n  outputs:\n    dev:\n      type: {kind}\n      path: x.db\n")
    env.dag(
        project_config=ProjectConfig(dbt_project_path=env.project),  # no manifest: dbt parse would run next
        profile_config=ProfileConfig(profile_name="p", target_name="dev", profiles_yml_filepath=profiles),
    )


def _cyclic_manifest(env: Env) -> None:
    raw = json.loads(env.manifest.read_text())
    raw["nodes"]["model.jaffle_shop.stg_orders"]["depends_on"]["nodes"].append("model.jaffle_shop.orders")
    cyclic = env.tmp_path / "manifest.json"
    cyclic.write_text(json.dumps(raw))
    env.dag(project_config=ProjectConfig(dbt_project_path=env.project, manifest_path=cyclic))


def _memory_store(env: Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CosmosCompatibilityWarning)
        env.dag(execution_config=ExecutionConfig(remote_target_path="memory://cosmos"))


def _huge_script(env: Env) -> None:
    huge = NodeArtifact(unique_id="model.p.huge", files={"script": "select '" + "x" * 1_100_000 + "' as s"})
    check_script_sizes([huge], limit=int(BACKEND.max_script_bytes or 0))


def _cli_error(*args: str) -> Callable[[Env], Any]:
    def run(env: Env) -> None:
        code, err = env.cli(*args)
        raise SystemExit(f"exit {code}: {err.strip()}")

    return run


CASES = [
    Case(
        '`ExecutionConfig(remote_target_path="gss://bucket/cosmos")`',
        "DAG parse",
        "ConfigError",
        "has the scheme 'gss', which fsspec does not know",
        lambda env: ExecutionConfig(remote_target_path="gss://bucket/cosmos"),
    ),
    Case(
        '`ExecutionConfig(remote_target_path="GS://bucket/cosmos")`',
        "DAG parse",
        "ConfigError",
        "fsspec schemes are lowercase: use 'gs://bucket/cosmos'",
        lambda env: ExecutionConfig(remote_target_path="GS://bucket/cosmos"),
    ),
    Case(
        '`ExecutionConfig(remote_target_path="gs:///cosmos")`',
        "DAG parse",
        "ConfigError",
        "names no bucket",
        lambda env: ExecutionConfig(remote_target_path="gs:///cosmos"),
    ),
    Case(
        '`remote_target_path="memory://cosmos"`',
        "DAG parse (a warning)",
        "CosmosCompatibilityWarning",
        "lives in one process's memory",
        _memory_store,
    ),
    Case(
        "`RenderConfig(select=5)`",
        "DAG parse",
        "ConfigError",
        "RenderConfig.select: expected a list of dbt selection strings",
        lambda env: RenderConfig(select=5),  # type: ignore[arg-type]
    ),
    Case(
        '`ProjectConfig(dbt_vars={"when": datetime(2026, 1, 1)})`',
        "DAG parse",
        "ConfigError",
        "the value of 'when' is a datetime, which dbt's --vars (JSON) cannot carry",
        lambda env: ProjectConfig(dbt_project_path=env.project, dbt_vars={"when": datetime(2026, 1, 1)}),
    ),
    Case(
        '`operator_args={"poll_interval": "fast"}`',
        "DAG parse",
        "ConfigError",
        "poll_interval must be a positive number of seconds",
        lambda env: env.dag(operator_args={"poll_interval": "fast"}),
    ),
    Case(
        '`operator_args={"job_id": "mine"}`',
        "DAG parse",
        "ConfigError",
        "operator_args['job_id'] is not supported by cosmos_remote",
        lambda env: env.dag(operator_args={"job_id": "mine"}),
    ),
    Case(
        "a profile of a type no backend serves (`type: duckdb`), no manifest given",
        "DAG parse, before `dbt parse`",
        "UnknownProfileTypeError",
        "no cosmos_remote backend for dbt profile type 'duckdb'",
        lambda env: _profile_of_type(env, "duckdb"),
    ),
    Case(
        "a `manifest_path` whose dependencies form a cycle",
        "DAG parse",
        "DependencyCycleError",
        "is stale or was edited: rebuild it with `dbt parse`",
        _cyclic_manifest,
    ),
    Case(
        "a `remote_target_path` in a bucket that does not exist",
        "setup task, before any file",
        "PublishError",
        "The bucket 'no-such-bucket-x' of remote_target_path 'gs://no-such-bucket-x/cosmos' does not exist",
        _missing_bucket,
    ),
    Case(
        "a model whose script is over BigQuery's 1 MB query limit",
        "setup task, before any job",
        "RenderError",
        "over the warehouse's limit of 1,048,576 bytes per job: model.p.huge (1,100,014 bytes)",
        _huge_script,
    ),
    Case(
        "`cosmos-remote gc ROOT --older-than 99999999999d`",
        "CLI (exit 2)",
        "usage error",
        "is longer than any age a run can have",
        _cli_error("gc", "memory://bad-inputs", "--older-than", "99999999999d"),
    ),
    Case(
        "`cosmos-remote runs gs://bucket/x --conn-id nope`",
        "CLI (exit 2)",
        "ConfigError",
        "the Airflow connection 'nope' (the artifact store's credentials) does not exist",
        _cli_error("runs", "gs://bucket/x", "--conn-id", "nope"),
    ),
]


def markdown() -> str:
    """The table of docs/bad-inputs.md."""
    lines = ["| what was written | fails at | error | the message says |", "|---|---|---|---|"]
    lines += [f"| {c.written} | {c.fails_at} | `{c.error}` | {c.says.replace('|', '/')} |" for c in CASES]
    return "\n".join(lines) + "\n"


@pytest.fixture
def env(
    example_project: Path,
    example_profiles: Path,
    example_manifest: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Env:
    return Env(example_project, example_profiles, example_manifest, tmp_path, request)


@pytest.mark.parametrize("case", CASES, ids=[c.written.strip("`")[:60] for c in CASES])
def test_bad_input_fails_early_naming_the_thing_and_the_fix(case: Case, env: Env) -> None:
    with pytest.raises((Exception, SystemExit)) as caught:
        case.run(env)
    error = caught.value
    if case.error == "usage error" or case.fails_at.startswith("CLI"):
        assert isinstance(error, SystemExit)
        assert str(error).startswith(f"exit {case.fails_at.split('exit ')[1].rstrip(')')}:"), str(error)
    else:
        assert type(error).__name__ == case.error, f"{type(error).__name__}: {error}"
    assert case.says in str(error)
    assert "Traceback" not in str(error)


def test_the_docs_table_is_this_table() -> None:
    text = DOC.read_text()
    assert markdown() in text, (
        "regenerate the table: python -c 'import tests.test_bad_inputs as t; print(t.markdown())'"
    )
