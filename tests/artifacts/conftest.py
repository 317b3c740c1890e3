"""Fixtures for the artifact store suite: one shared suite over memory://, file://, gs:// (emulator) and XCom.

gs:// is fake-gcs-server on loopback, started once per session. No mocks: every backend is a real fsspec
filesystem, and failure injection subclasses the real filesystem class (see ``helpers.Backend.instrumented``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_remote.artifacts import ArtifactRef, ArtifactStore, InMemoryXCom, RunScope, XComArtifactStore
from cosmos_remote.artifacts.xcom_store import XCOM_KEY_PREFIX, encode_value
from cosmos_remote.testing import LocalGCP, local_gcp

from .helpers import Backend, Harness

FS_BACKENDS = ["memory", "file", "gs"]


@pytest.fixture(scope="session")
def gcs_emulator(request: pytest.FixtureRequest) -> Iterator[LocalGCP]:
    """fake-gcs-server (with the BigQuery emulator) on loopback for the whole session; ~2 s to start.

    Shares the session's emulators when ``cosmos_remote.testing.pytest_plugin`` is active (tests/conftest.py loads
    it), so a full test run starts them once; otherwise starts its own.
    """
    try:
        yield request.getfixturevalue("local_gcp_session")
    except pytest.FixtureLookupError:
        with local_gcp() as gcp:
            yield gcp


def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    unique = uuid.uuid4().hex[:12]
    if request.param == "memory":
        return Backend("memory", f"memory://artifacts-tests/{unique}", {})
    if request.param == "file":
        return Backend("file", f"file://{tmp_path}/root", {})
    gcp: LocalGCP = request.getfixturevalue("gcs_emulator")
    options = {"token": "anon", "project": gcp.project, "endpoint_url": gcp.gcs_endpoint}
    return Backend("gs", f"gs://{gcp.bucket}/tests/{unique}", options)


@pytest.fixture(params=FS_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each fsspec backend in turn."""
    return _backend(request, tmp_path)


@pytest.fixture(params=[*FS_BACKENDS, "xcom"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """Every ArtifactStore implementation: the fsspec store on each backend, and the XCom fallback."""
    if request.param == "xcom":
        channel = InMemoryXCom()

        def xcom_overwrite(ref: ArtifactRef, relative: str, data: bytes) -> None:
            channel.values[XCOM_KEY_PREFIX + relative] = encode_value(data)

        def xcom_delete(ref: ArtifactRef, relative: str) -> None:
            del channel.values[XCOM_KEY_PREFIX + relative]

        def xcom_unpublished() -> tuple[ArtifactStore, ArtifactRef]:
            return XComArtifactStore(channel=InMemoryXCom()), ArtifactRef(uri="xcom://x/never", index_sha256="0" * 64)

        return Harness(
            name="xcom",
            store=XComArtifactStore(channel=channel),
            fresh=lambda: XComArtifactStore(channel=channel),
            overwrite=xcom_overwrite,
            delete=xcom_delete,
            unpublished=xcom_unpublished,
        )
    backend = _backend(request, tmp_path)

    def fs_overwrite(ref: ArtifactRef, relative: str, data: bytes) -> None:
        backend.raw_fs().pipe_file(f"{backend.path(ref.uri)}/{relative}", data)

    def fs_delete(ref: ArtifactRef, relative: str) -> None:
        backend.raw_fs().rm_file(f"{backend.path(ref.uri)}/{relative}")

    def fs_unpublished() -> tuple[ArtifactStore, ArtifactRef]:
        store = backend.store()
        uri = store.run_uri(scope=RunScope(dag_id="x", run_id="never"))
        return store, ArtifactRef(uri=uri, index_sha256="0" * 64)

    return Harness(
        name=backend.name,
        store=backend.store(),
        fresh=backend.store,
        overwrite=fs_overwrite,
        delete=fs_delete,
        unpublished=fs_unpublished,
    )
