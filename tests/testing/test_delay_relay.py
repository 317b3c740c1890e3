"""The GCS delay relay benchmarks use: every request (also on a kept-alive connection) waits the delay, requests in
flight wait side by side, bytes pass unchanged both ways, the delay can be changed while it runs."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing._emulators import delay_relay
from cosmos_remote.testing._process import free_port

DELAY = 0.2


@pytest.fixture
def relay(gcp: LocalGCP) -> Iterator[str]:
    """A relay in front of the session's fake-gcs-server; yields its endpoint."""
    port = free_port()
    process = delay_relay(name="test-relay", upstream=gcp.gcs_endpoint, port=port, request_delay=DELAY)
    process.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        process.wait_healthy(f"{endpoint}/_proxy/health", timeout=30)
        yield endpoint
    finally:
        process.stop()


def _fs(endpoint: str) -> Any:
    import fsspec

    return fsspec.filesystem("gs", token="anon", endpoint_url=endpoint, skip_instance_cache=True)


def test_each_request_waits_the_delay_and_bytes_pass_unchanged(gcp: LocalGCP, relay: str) -> None:
    fs = _fs(relay)
    big = os.urandom(3 * 1024 * 1024)  # many TCP chunks in each direction
    fs.pipe_file(f"{gcp.bucket}/relay/warm", b"x")  # connection opened: the rest reuse it
    started = time.perf_counter()
    fs.pipe_file(f"{gcp.bucket}/relay/big", big)
    fs.pipe_file(f"{gcp.bucket}/relay/small", b"small")
    assert fs.cat_file(f"{gcp.bucket}/relay/big") == big
    assert fs.cat_file(f"{gcp.bucket}/relay/small") == b"small"
    assert time.perf_counter() - started >= 4 * DELAY
    assert _fs(gcp.gcs_endpoint).cat_file(f"{gcp.bucket}/relay/big") == big  # stored as sent


def test_requests_in_flight_wait_side_by_side(gcp: LocalGCP, relay: str) -> None:
    fs = _fs(relay)
    paths = [f"{gcp.bucket}/relay-many/{i}" for i in range(20)]
    fs.pipe({path: str(i).encode() for i, path in enumerate(paths)})
    started = time.perf_counter()
    contents = fs.cat(paths)
    elapsed = time.perf_counter() - started
    assert [contents[path] for path in paths] == [str(i).encode() for i in range(20)]
    assert DELAY <= elapsed < 20 * DELAY / 2  # one after the other would take 20 delays


def test_the_delay_can_be_changed_while_it_runs(gcp: LocalGCP, relay: str) -> None:
    request = urllib.request.Request(
        f"{relay}/_proxy/config", data=json.dumps({"request_delay": 0.05}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["request_delay"] == 0.05
    with urllib.request.urlopen(f"{relay}/_proxy/health", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok", "upstream": gcp.gcs_endpoint, "request_delay": 0.05}
