"""The Terraform module for the artifact bucket (``terraform/``), checked offline with the real tools.

No ``terraform init`` of the google provider (it cannot be downloaded here), so:

- ``terraform fmt -check -recursive terraform/``;
- the variable validations and the IAM/output logic are evaluated by Terraform itself: ``variables.tf`` and
  ``locals.tf`` reference no provider, so ``terraform plan`` / ``terraform console`` run on a copy of just those two;
- python-hcl2 parses every ``.tf`` file and the security-relevant settings are asserted on the parsed blocks;
- checkov (its own venv, ``.venv/tools/checkov``, built by ``make test``) reports 0 failed checks, and every skip is
  an inline ``# checkov:skip=ID: reason`` inside the resource it applies to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
TF_FILES = sorted(p for p in TF_DIR.rglob("*.tf") if ".terraform" not in p.parts)
CHECKOV_DEFAULT = REPO / ".venv" / "tools" / "checkov" / "bin" / "checkov"

WRITER_ROLES = {"roles/storage.objectCreator", "roles/storage.objectViewer"}
READER_ROLES = {"roles/storage.objectViewer"}
PUBLIC_MEMBERS = re.compile(r"allusers|allauthenticatedusers", re.IGNORECASE)
# Roles a writer or reader must never get on the artifact bucket.
BROAD_ROLES = re.compile(
    r"roles/(owner|editor|viewer|storage\.admin|storage\.objectAdmin|storage\.objectUser|storage\.legacy\w+)\b"
)

# Every input the plan-based tests start from: all valid, all optional features on.
VALID_VARS: dict[str, Any] = {
    "project_id": "my-project",
    "bucket_name": "my-project-cosmos-artifacts",
    "prefix": "cosmos",
    "location": "europe-west1",
    "storage_class": "STANDARD",
    "retention_days": 30,
    "versioning_enabled": True,
    "noncurrent_retention_days": 7,
    "soft_delete_retention_days": 7,
    "kms_key_name": "projects/my-project/locations/europe-west1/keyRings/ring/cryptoKeys/key",
    "log_bucket": "my-project-access-logs",
    "labels": {"team": "data-platform"},
    "writer_members": ["serviceAccount:airflow-worker@my-project.iam.gserviceaccount.com"],
    "reader_members": [
        "group:data-engineering@example.com",
        "user:ana@example.com",
        "principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/group/g",
    ],
    "allow_writer_delete": True,
    "create_service_account": True,
    "service_account_id": "cosmos-remote-airflow",
    "grant_bigquery_job_user": True,
    "bigquery_datasets": {
        "analytics": {"location": "EU", "viewers": ["group:data-engineering@example.com"]},
    },
    "bigquery_kms_key_name": "projects/my-project/locations/eu/keyRings/ring/cryptoKeys/bq",
}
SW = "serviceAccount:w@p.iam.gserviceaccount.com"
GR = "group:readers@example.com"


# ---------------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------------


def _parse(path: Path) -> dict[str, Any]:
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=True)
    with path.open() as f:
        parsed: dict[str, Any] = hcl2.load(f, serialization_options=options)
    return parsed


def _module() -> dict[str, Any]:
    """The root module's top-level blocks, merged across its .tf files (examples excluded)."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        for key, blocks in _parse(path).items():
            if not key.startswith("__"):
                merged.setdefault(key, []).extend(blocks)
    return merged


def _labelled(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`variable "x" {...}` / `output "x" {...}` blocks by label."""
    return {label: body for block in blocks for label, body in block.items() if not label.startswith("__")}


def _resources(module: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (rtype, name): body
        for block in module.get("resource", [])
        for rtype, by_name in block.items()
        if not rtype.startswith("__")
        for name, body in by_name.items()
    }


def _locals(module: dict[str, Any]) -> dict[str, Any]:
    return {k: v for block in module["locals"] for k, v in block.items() if not k.startswith("__")}


def _strings(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string in a parsed file (keys included), with the path of keys that leads to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), key
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, path)
    elif isinstance(node, str):
        yield path, node


def _tf_env() -> dict[str, str]:
    """The environment minus anything that would change what Terraform evaluates; no version-check call home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TF_VAR_", "TF_CLI_ARGS")) and k not in {"TF_WORKSPACE", "TF_DATA_DIR"}
    }
    config = env.get("TF_CLI_CONFIG_FILE")
    if config is not None and not Path(config).is_file():
        del env["TF_CLI_CONFIG_FILE"]  # a dangling path only makes Terraform print a warning on every call
    env["CHECKPOINT_DISABLE"] = "1"
    env["TF_IN_AUTOMATION"] = "1"
    return env


@pytest.fixture(scope="module")
def terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.fail(
            "terraform is not on PATH: tests/terraform needs the Terraform CLI (>= 1.5; CI uses 1.11 at "
            "/usr/local/bin/terraform) for `terraform fmt -check` and to evaluate the module's variable validations."
        )
    return path


@pytest.fixture(scope="module")
def checkov() -> Path:
    path = Path(os.environ.get("COSMOS_REMOTE_CHECKOV", CHECKOV_DEFAULT))
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"checkov not found at {path}: run `make test` (or `make .venv/tools/checkov/bin/checkov`), which builds "
            "it in its own venv from requirements-checkov.lock; or point COSMOS_REMOTE_CHECKOV at a checkov binary."
        )
    return path


class PureModule:
    """variables.tf + locals.tf in a scratch directory: Terraform evaluates them without any provider."""

    def __init__(self, terraform: str, workdir: Path) -> None:
        self.terraform = terraform
        self.workdir = workdir
        for name in ("variables.tf", "locals.tf"):
            shutil.copy(TF_DIR / name, workdir / name)
        self._n = 0

    def _var_file(self, variables: dict[str, Any]) -> Path:
        self._n += 1
        path = self.workdir / f"case{self._n}.tfvars.json"
        path.write_text(json.dumps(variables))
        return path

    def plan(self, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                self.terraform,
                "plan",
                "-input=false",
                "-no-color",
                "-lock=false",
                f"-var-file={self._var_file(variables)}",
            ],
            cwd=self.workdir,
            env=_tf_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def eval(self, variables: dict[str, Any], expressions: dict[str, str]) -> dict[str, Any]:
        """Evaluate `expressions` (name -> HCL expression) with `variables` as the module's inputs."""
        body = ", ".join(f"{name} = {expr}" for name, expr in expressions.items())
        result = subprocess.run(
            [self.terraform, "console", f"-var-file={self._var_file(variables)}"],
            cwd=self.workdir,
            env=_tf_env(),
            input=f"jsonencode({{{body}}})\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        # console prints the JSON document as one quoted HCL string literal
        decoded: dict[str, Any] = json.loads(json.loads(result.stdout.strip()))
        return decoded


@pytest.fixture(scope="module")
def pure(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> PureModule:
    return PureModule(terraform, tmp_path_factory.mktemp("tf-pure"))


def _base(**overrides: Any) -> dict[str, Any]:
    return {"project_id": "my-project", "bucket_name": "my-bucket", **overrides}


def _pairs(bindings: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    return {(b["role"], b["member"]) for b in bindings.values()}


# ---------------------------------------------------------------------------------------------------------------------
# Layout, formatting, parsing
# ---------------------------------------------------------------------------------------------------------------------


def test_module_layout() -> None:
    names = {p.relative_to(TF_DIR).as_posix() for p in TF_FILES}
    assert {
        "versions.tf",
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "examples/basic/main.tf",
        "examples/with-cmek/main.tf",
    } <= names
    assert (TF_DIR / "README.md").is_file()


def test_terraform_fmt_check_passes(terraform: str) -> None:
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", "terraform/"],
        cwd=REPO,
        env=_tf_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", TF_FILES, ids=[p.relative_to(TF_DIR).as_posix() for p in TF_FILES])
def test_every_tf_file_parses(path: Path) -> None:
    parsed = _parse(path)
    assert {k for k in parsed if not k.startswith("__")}, f"{path} has no blocks"


def test_versions_constrain_terraform_and_provider() -> None:
    (terraform_block,) = _parse(TF_DIR / "versions.tf")["terraform"]
    assert re.fullmatch(r">= 1\.\d+, < 2\.0", terraform_block["required_version"])
    (providers,) = terraform_block["required_providers"]
    assert providers["google"]["source"] == "hashicorp/google"
    # a lower and an upper bound: a new major version of the provider is a deliberate upgrade
    assert re.fullmatch(r">= \d+\.\d+, < \d+\.0", providers["google"]["version"])


# ---------------------------------------------------------------------------------------------------------------------
# The bucket
# ---------------------------------------------------------------------------------------------------------------------


def test_bucket_is_private_and_not_force_destroyed() -> None:
    module = _module()
    (bucket,) = [body for (rtype, _), body in _resources(module).items() if rtype == "google_storage_bucket"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] == "${var.force_destroy}"
    variables = _labelled(module["variable"])
    assert variables["force_destroy"]["default"] is False
    # no legacy ACL knobs that could open it up
    assert not {"acl", "default_acl", "predefined_acl"} & set(bucket)
    assert not [r for (rtype, _), r in _resources(module).items() if rtype.endswith(("_acl", "_access_control"))]


def test_lifecycle_rule_deletes_after_retention_days() -> None:
    module = _module()
    bucket = _resources(module)[("google_storage_bucket", "artifacts")]
    rules = [(rule["condition"][0], rule["action"][0]) for rule in bucket["lifecycle_rule"]]
    assert ({"age": "${var.retention_days}"}, {"type": "Delete"}) in rules
    retention = _labelled(module["variable"])["retention_days"]
    assert retention["default"] == 30
    assert retention["type"] == "number"
    assert any(">= 1" in v["condition"] for v in retention["validation"])


def test_optional_bucket_features_follow_their_variables() -> None:
    module = _module()
    bucket = _resources(module)[("google_storage_bucket", "artifacts")]
    variables = _labelled(module["variable"])
    assert bucket["versioning"] == [{"enabled": "${var.versioning_enabled}"}]
    assert variables["versioning_enabled"]["default"] is False
    assert bucket["soft_delete_policy"] == [{"retention_duration_seconds": "${var.soft_delete_retention_days * 86400}"}]
    assert bucket["location"] == "${var.location}"
    assert bucket["storage_class"] == "${var.storage_class}"
    assert bucket["labels"] == "${local.labels}"
    dynamic = {name: body for block in bucket["dynamic"] for name, body in block.items()}
    assert "var.kms_key_name" in dynamic["encryption"]["for_each"]
    assert dynamic["encryption"]["content"] == [{"default_kms_key_name": "${encryption.value}"}]
    assert "var.log_bucket" in dynamic["logging"]["for_each"]
    assert variables["kms_key_name"]["default"] is None
    assert variables["log_bucket"]["default"] is None


# ---------------------------------------------------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TF_FILES, ids=[p.relative_to(TF_DIR).as_posix() for p in TF_FILES])
def test_no_public_member_anywhere(path: Path) -> None:
    """allUsers / allAuthenticatedUsers appear only inside the validation blocks that reject them."""
    for key_path, value in _strings(_parse(path)):
        if PUBLIC_MEMBERS.search(value):
            assert "validation" in key_path, f"{path.name}: public member outside a validation at {key_path}"


@pytest.mark.parametrize("path", TF_FILES, ids=[p.relative_to(TF_DIR).as_posix() for p in TF_FILES])
def test_no_broad_storage_or_basic_roles(path: Path) -> None:
    for key_path, value in _strings(_parse(path)):
        assert not BROAD_ROLES.search(value), f"{path.name}: broad role {value!r} at {key_path}"


def test_bucket_iam_is_bucket_level_and_uses_the_role_sets() -> None:
    module = _module()
    resources = _resources(module)
    assert not [
        key
        for key in resources
        if key[0].startswith("google_storage_bucket_iam_") and key[0].endswith(("_binding", "_policy"))
    ], "authoritative bucket IAM would drop bindings made elsewhere"
    bucket_iam = resources[("google_storage_bucket_iam_member", "bucket")]
    assert bucket_iam["bucket"] == "${google_storage_bucket.artifacts.name}"
    assert bucket_iam["for_each"] == "${local.bucket_bindings}"
    # no project-wide storage grants
    for (rtype, _), body in resources.items():
        if rtype == "google_project_iam_member":
            assert not str(body["role"]).startswith("roles/storage."), body
    locals_ = _locals(module)
    assert locals_["reader_roles"] == ["roles/storage.objectViewer"]
    assert '["roles/storage.objectCreator", "roles/storage.objectViewer"]' in locals_["writer_roles"]
    assert "var.allow_writer_delete ?" in locals_["writer_roles"]
    # the delete grant is a custom role holding only delete, behind the flag
    role = resources[("google_project_iam_custom_role", "writer_delete")]
    assert role["permissions"] == ["storage.objects.delete"]
    assert role["count"] == "${var.allow_writer_delete ? 1 : 0}"
    assert _labelled(module["variable"])["allow_writer_delete"]["default"] is False


def test_writers_create_and_read_readers_only_read(pure: PureModule) -> None:
    got = pure.eval(_base(writer_members=[SW], reader_members=[GR]), {"b": "local.bucket_bindings"})
    assert _pairs(got["b"]) == {(role, SW) for role in WRITER_ROLES} | {(role, GR) for role in READER_ROLES}


def test_no_bindings_by_default(pure: PureModule) -> None:
    got = pure.eval(_base(), {"b": "local.bucket_bindings", "d": "local.dataset_bindings"})
    assert got == {"b": {}, "d": {}}


def test_writer_delete_only_with_the_flag(pure: PureModule) -> None:
    got = pure.eval(
        _base(writer_members=[SW], reader_members=[GR], allow_writer_delete=True), {"b": "local.bucket_bindings"}
    )
    deleter = "projects/my-project/roles/cosmosRemoteArtifactDeleter"
    assert _pairs(got["b"]) == {(role, SW) for role in (*WRITER_ROLES, deleter)} | {("roles/storage.objectViewer", GR)}


def test_member_in_both_lists_gets_writer_roles_once(pure: PureModule) -> None:
    got = pure.eval(_base(writer_members=[SW, SW], reader_members=[SW]), {"b": "local.bucket_bindings"})
    assert _pairs(got["b"]) == {(role, SW) for role in WRITER_ROLES}
    assert len(got["b"]) == 2


def test_created_service_account_is_a_writer_and_dataset_editor(pure: PureModule) -> None:
    variables = _base(
        create_service_account=True,
        bigquery_datasets={"analytics": {"location": "EU", "editors": [GR], "viewers": ["user:ana@example.com"]}},
    )
    got = pure.eval(variables, {"b": "local.bucket_bindings", "d": "local.dataset_bindings", "w": "local.writers"})
    sa = "serviceAccount:cosmos-remote-airflow@my-project.iam.gserviceaccount.com"
    assert got["w"] == [sa]
    assert _pairs(got["b"]) == {(role, sa) for role in WRITER_ROLES}
    assert {(b["dataset_id"], b["role"], b["member"]) for b in got["d"].values()} == {
        ("analytics", "roles/bigquery.dataEditor", GR),
        ("analytics", "roles/bigquery.dataEditor", sa),
        ("analytics", "roles/bigquery.dataViewer", "user:ana@example.com"),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------------


def test_outputs_exist_and_read_the_locals() -> None:
    outputs = _labelled(_module()["output"])
    assert outputs["bucket_name"]["value"] == "${google_storage_bucket.artifacts.name}"
    for name in ("remote_target_path", "airflow_env_var", "execution_config"):
        assert outputs[name]["value"] == f"${{local.{name}}}"
        assert outputs[name]["depends_on"] == ["${google_storage_bucket.artifacts}"]
        assert outputs[name]["description"]


@pytest.mark.parametrize(
    ("prefix", "path"),
    [
        ("cosmos", "gs://my-bucket/cosmos"),
        ("", "gs://my-bucket"),
        ("teams/data/cosmos", "gs://my-bucket/teams/data/cosmos"),
    ],
)
def test_ready_to_paste_airflow_settings(pure: PureModule, prefix: str, path: str) -> None:
    got = pure.eval(
        _base(prefix=prefix),
        {"p": "local.remote_target_path", "e": "local.airflow_env_var", "x": "local.execution_config"},
    )
    assert got == {
        "p": path,
        "e": f"AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH={path}",
        "x": f'ExecutionConfig(remote_target_path="{path}")',
    }


def test_default_prefix_and_labels(pure: PureModule) -> None:
    got = pure.eval(
        _base(labels={"team": "x", "component": "other"}), {"p": "local.remote_target_path", "l": "local.labels"}
    )
    assert got["p"] == "gs://my-bucket/cosmos"
    assert got["l"] == {"team": "x", "component": "cosmos-remote-artifacts"}


# ---------------------------------------------------------------------------------------------------------------------
# Variable validations: present, and evaluated by Terraform
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "project_id",
        "bucket_name",
        "prefix",
        "location",
        "storage_class",
        "retention_days",
        "noncurrent_retention_days",
        "soft_delete_retention_days",
        "kms_key_name",
        "log_bucket",
        "labels",
        "writer_members",
        "reader_members",
        "writer_delete_role_id",
        "service_account_id",
        "bigquery_datasets",
        "bigquery_kms_key_name",
    ],
)
def test_variable_has_validation(name: str) -> None:
    variable = _labelled(_module()["variable"])[name]
    assert variable["validation"], name
    for rule in variable["validation"]:
        assert f"var.{name}" in rule["condition"]
        assert rule["error_message"].strip()


@pytest.mark.parametrize("name", ["writer_members", "reader_members", "bigquery_datasets"])
def test_member_lists_reject_public_principals_explicitly(name: str) -> None:
    rules = _labelled(_module()["variable"])[name]["validation"]
    assert any("allusers" in r["condition"] and "allauthenticatedusers" in r["condition"] for r in rules)


def test_every_variable_is_typed_and_described() -> None:
    for name, variable in _labelled(_module()["variable"]).items():
        assert variable.get("type"), name
        assert variable.get("description"), name


def test_valid_inputs_plan_cleanly(pure: PureModule) -> None:
    result = pure.plan(VALID_VARS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "variable", "message"),
    [
        ({"bucket_name": "My_Bucket"}, "bucket_name", "3-63 characters"),
        ({"bucket_name": "ab"}, "bucket_name", "3-63 characters"),
        ({"bucket_name": "artifacts.example.com"}, "bucket_name", "dotted names"),
        ({"bucket_name": "-artifacts"}, "bucket_name", "starting and ending"),
        ({"bucket_name": "goog-artifacts"}, "bucket_name", 'start with "goog"'),
        ({"bucket_name": "my-g00gle-artifacts"}, "bucket_name", 'contain "google"'),
        ({"project_id": "123456789012"}, "project_id", "project ID"),
        ({"retention_days": 0}, "retention_days", "at least 1"),
        ({"retention_days": 1.5}, "retention_days", "whole number"),
        ({"noncurrent_retention_days": 0}, "noncurrent_retention_days", "at least 1"),
        ({"location": "Europe"}, "location", "multi-region"),
        ({"location": "europe west1"}, "location", "multi-region"),
        ({"storage_class": "REGIONAL"}, "storage_class", "STANDARD, NEARLINE, COLDLINE, ARCHIVE"),
        ({"storage_class": "standard"}, "storage_class", "STANDARD, NEARLINE, COLDLINE, ARCHIVE"),
        ({"prefix": "/cosmos/"}, "prefix", "no leading or trailing"),
        ({"prefix": "a//b"}, "prefix", "single '/'"),
        ({"soft_delete_retention_days": 3}, "soft_delete_retention_days", "between 7 and 90"),
        ({"soft_delete_retention_days": 91}, "soft_delete_retention_days", "between 7 and 90"),
        ({"kms_key_name": "my-key"}, "kms_key_name", "cryptoKeys"),
        ({"bigquery_kms_key_name": "keyRings/r/cryptoKeys/k"}, "bigquery_kms_key_name", "cryptoKeys"),
        ({"log_bucket": "gs://logs"}, "log_bucket", "no gs://"),
        ({"labels": {"Team": "x"}}, "labels", "lowercase"),
        ({"writer_members": ["allUsers"]}, "writer_members", "must not contain allUsers"),
        ({"writer_members": ["allAuthenticatedUsers"]}, "writer_members", "must not contain allUsers"),
        ({"reader_members": ["allUsers"]}, "reader_members", "must not contain allUsers"),
        ({"reader_members": [" AllAuthenticatedUsers "]}, "reader_members", "must not contain allUsers"),
        ({"writer_members": ["airflow@p.iam.gserviceaccount.com"]}, "writer_members", "serviceAccount:"),
        ({"writer_members": ["serviceAccount:"]}, "writer_members", "serviceAccount:"),
        ({"reader_members": ["domain:example.com"]}, "reader_members", "user:EMAIL"),
        ({"reader_members": ["projectViewer:my-project"]}, "reader_members", "user:EMAIL"),
        ({"service_account_id": "sa"}, "service_account_id", "6-30 characters"),
        ({"writer_delete_role_id": "no-dashes"}, "writer_delete_role_id", "3-64 characters"),
        ({"bigquery_datasets": {"my-ds": {"location": "EU"}}}, "bigquery_datasets", "dataset IDs"),
        (
            {"bigquery_datasets": {"ds": {"location": "EU", "viewers": ["allUsers"]}}},
            "bigquery_datasets",
            "must not contain allUsers",
        ),
        (
            {"bigquery_datasets": {"ds": {"location": "EU", "editors": ["bob@example.com"]}}},
            "bigquery_datasets",
            "serviceAccount:EMAIL",
        ),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else None,
)
def test_invalid_input_is_rejected_at_plan(
    pure: PureModule, overrides: dict[str, Any], variable: str, message: str
) -> None:
    result = pure.plan({**VALID_VARS, **overrides})
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"plan accepted {overrides}:\n{output}"
    assert "Invalid value for variable" in output, output
    assert f"var.{variable} " in output, output
    # and it is a validation rule of that variable that rejected it
    lines = (TF_DIR / "variables.tf").read_text().splitlines()
    rule_lines = re.findall(r"validation rule at variables\.tf:(\d+),", output)
    assert rule_lines, output
    for rule_line in rule_lines:
        owner = next(m for line in reversed(lines[: int(rule_line)]) if (m := re.match(r'variable "(\w+)"', line)))
        assert owner.group(1) == variable, output
    assert message in " ".join(output.replace("│", " ").split()), output


# ---------------------------------------------------------------------------------------------------------------------
# Examples and documentation
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["basic", "with-cmek"])
def test_example_calls_the_module(example: str) -> None:
    parsed = _parse(TF_DIR / "examples" / example / "main.tf")
    modules = _labelled(parsed["module"])
    assert modules, example
    variables = _labelled(_module()["variable"])
    required = {name for name, v in variables.items() if "default" not in v}
    for name, call in modules.items():
        assert call["source"] == "../..", name
        args = {k for k in call if not k.startswith("__")} - {"source", "depends_on", "providers"}
        assert required <= args, f"{example}: {name} misses {required - args}"
        assert args <= set(variables), f"{example}: {name} passes unknown inputs {args - set(variables)}"


def test_cmek_example_encrypts_with_a_rotated_key() -> None:
    parsed = _parse(TF_DIR / "examples" / "with-cmek" / "main.tf")
    (call,) = _labelled(parsed["module"]).values()
    assert call["kms_key_name"] == "${local.kms_key_id}"
    key = _resources(parsed)[("google_kms_crypto_key", "artifacts")]
    assert key["rotation_period"] == "7776000s"


def test_readme_documents_every_input_and_output() -> None:
    readme = (TF_DIR / "README.md").read_text()
    module = _module()
    for kind in ("variable", "output"):
        for name in _labelled(module[kind]):
            assert re.search(rf"^\| `{re.escape(name)}` \|", readme, re.MULTILINE), (
                f"README.md: no row for {kind} {name}"
            )


# ---------------------------------------------------------------------------------------------------------------------
# checkov
# ---------------------------------------------------------------------------------------------------------------------


def test_checkov_skips_are_inline_with_a_reason() -> None:
    skip = re.compile(r"checkov:skip=([A-Z0-9_]+)(.*)")
    for path in TF_FILES:
        text = path.read_text()
        raw = {m.group(1) for m in skip.finditer(text)}
        inside_resources: set[str] = set()
        for body in _resources(_parse(path)).values():
            for comment in body.get("__comments__", []):
                match = skip.match(comment["value"])
                if match:
                    reason = match.group(2)
                    assert re.match(r":\s*\S.{19,}", reason), f"{path.name}: {match.group(1)} needs a one-line reason"
                    inside_resources.add(match.group(1))
        assert raw == inside_resources, f"{path.name}: checkov skips outside a resource block: {raw - inside_resources}"
    # no repository-wide skip configuration that would hide checks without a reason next to the code
    assert not list(REPO.glob(".checkov.y*ml"))
    assert not list(TF_DIR.rglob(".checkov.y*ml"))


def test_checkov_reports_no_failed_checks(checkov: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            "terraform",
            "--framework",
            "terraform",
            "--compact",
            "--quiet",
            "--skip-download",
            "-o",
            "json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}):\n{result.stderr}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["terraform"]
    summary = reports[0]["summary"]
    failed = reports[0]["results"].get("failed_checks", [])
    details = "\n".join(f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}" for c in failed)
    assert summary["failed"] == 0, f"checkov failed checks:\n{details}"
    assert summary["parsing_errors"] == 0, summary
    assert summary["passed"] > 0, summary
    assert summary["resource_count"] > 0, summary
    assert result.returncode == 0, result.stderr
    print(f"checkov {summary['checkov_version']}: {summary} in {elapsed:.1f}s")
