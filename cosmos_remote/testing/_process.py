"""Start local helper processes on loopback, wait for their health, and stop them by their own PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = ["EmulatorError", "ManagedProcess", "check_port_free", "free_port", "free_ports"]

_LOG_TAIL_BYTES: Final = 4000


class EmulatorError(RuntimeError):
    """A local emulator could not be started: the message says which one, why, and how to fix it."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while chosen, so the kernel cannot hand
    out one twice, as back-to-back :func:`free_port` calls sometimes do)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_port_free(port: int, *, what: str) -> None:
    """Raise :class:`EmulatorError` naming ``what`` if ``port`` on 127.0.0.1 is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise EmulatorError(
                f"{what}: port {port} on 127.0.0.1 is already in use ({exc.strerror}). "
                f"Stop whatever listens there, or pass port 0 to pick a free port."
            ) from exc


class ManagedProcess:
    """One child process in its own process group, with its output in a log file.

    It is stopped through its own PID (and process group), never by name, so several test runs on one machine do not
    stop each other's emulators.
    """

    def __init__(
        self, *, name: str, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._env = env
        self._cwd = cwd
        self._starts = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix=f"cosmos-remote-{name}-", suffix=".log")[1])

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise EmulatorError(f"{self.name} was not started")
        return self._popen.pid

    @property
    def log_path(self) -> Path:
        return self._log

    def start(self) -> None:
        if not Path(self.argv[0]).is_file():
            raise EmulatorError(
                f"{self.name}: executable not found at {self.argv[0]}. "
                "Install the testing extra: pip install 'cosmos-remote[testing]' (or run `make test`)."
            )
        self._starts += 1
        with self._log.open("wb" if self._starts == 1 else "ab") as log:  # a restart appends to the log
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a host that died), and wait until it is gone."""
        popen = self._popen
        if popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)
        _group_gone(popen.pid, timeout=10)

    def discard_log(self) -> None:
        """Remove the log file (after a clean stop: nothing to look at)."""
        self._log.unlink(missing_ok=True)

    def log_tail(self) -> str:
        try:
            data = self._log.read_bytes()
        except OSError:
            return ""
        return data[-_LOG_TAIL_BYTES:].decode("utf-8", "replace")

    def wait_healthy(self, url: str, *, timeout: float) -> None:
        """Poll ``url`` until it answers 2xx; fail early with the log if the process exits."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._popen is not None and self._popen.poll() is not None:
                raise EmulatorError(
                    f"{self.name} exited with code {self._popen.returncode} before it became healthy "
                    f"(command: {' '.join(self.argv)}). Its output:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if 200 <= response.status < 300:
                        return
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        self.stop()
        raise EmulatorError(
            f"{self.name} did not become healthy at {url} within {timeout:.0f} s (last error: {last_error}). "
            f"Its output:\n{self.log_tail()}"
        )

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, *, grace: float = 5.0) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after ``grace`` seconds. Safe to call twice."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=grace)
        # The leader is gone; its children (task runners, workers) got the same SIGTERM and may take a moment
        # longer. Stopped means the whole group is gone: wait for it, then SIGKILL what is left.
        if not _group_gone(popen.pid, timeout=grace):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            _group_gone(popen.pid, timeout=grace)


def _group_gone(pgid: int, *, timeout: float) -> bool:
    """Wait up to ``timeout`` s until no process is left in the process group ``pgid``; whether none is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a member we may not signal: treat as not ours to wait for
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
