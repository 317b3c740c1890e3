"""Building filesystems: lazily, per store, from an Airflow connection or fsspec options; cheap to import."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid

import pytest

from cosmos_remote.artifacts import BackendNotInstalledError, FsspecArtifactStore, RunScope
from cosmos_remote.testing import LocalGCP

from .helpers import jaffle_nodes


def test_importing_the_package_imports_neither_gcsfs_nor_airflow() -> None:
    code = (
        "import sys, cosmos_remote.artifacts; "
        "print(sorted(m for m in ('gcsfs', 'airflow', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_construction_never_resolves_the_connection() -> None:
    store = FsspecArtifactStore(root="gs://bucket/cosmos", conn_id="no_such_connection")
    with pytest.raises(Exception, match="no_such_connection"):
        store.fetch(ref=store.open_run(uri="gs://bucket/cosmos/d/r"), unique_id="model.p.a")


def test_unknown_protocol_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'gss'"):
        FsspecArtifactStore(root="gss://bucket/cosmos")


def test_missing_backend_package_raises_import_error_with_the_install_hint() -> None:
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed here")
    store = FsspecArtifactStore(root="s3://bucket/cosmos")  # fine at parse time
    with pytest.raises(ImportError, match="pip install s3fs") as caught:
        store.open_run(uri="s3://bucket/cosmos/d/r")
    assert isinstance(caught.value, BackendNotInstalledError)


def test_an_airflow_connection_supplies_the_gcs_credentials_and_endpoint(gcs_emulator: LocalGCP) -> None:
    root = f"gs://{gcs_emulator.bucket}/conn/{uuid.uuid4().hex[:8]}"
    store = FsspecArtifactStore(root=root, conn_id=gcs_emulator.conn_id)
    ref = store.publish(scope=RunScope(dag_id="d", run_id="r"), nodes=jaffle_nodes(), project_name="p", dbt_version="1")
    reader = FsspecArtifactStore(root=root, conn_id=gcs_emulator.conn_id)
    assert reader.fetch(ref=ref, unique_id="model.jaffle_shop.customers").startswith(b"-- caf")
    assert reader.fs is not store.fs  # each store owns its filesystem: no credentials shared through a cache


def test_stores_do_not_share_fsspec_instances(gcs_emulator: LocalGCP) -> None:
    options = {"token": "anon", "project": gcs_emulator.project, "endpoint_url": gcs_emulator.gcs_endpoint}
    first = FsspecArtifactStore(root=f"gs://{gcs_emulator.bucket}/x", storage_options=options)
    second = FsspecArtifactStore(root=f"gs://{gcs_emulator.bucket}/x", storage_options=options)
    assert first.fs is not second.fs
    assert first.fs is first.fs
