"""Headless Chromium driven over its DevTools protocol, for tests and screenshots of the Airflow UI.

:func:`headless_chromium` starts Debian's ``chromium`` (``/usr/bin/chromium``, or ``$COSMOS_REMOTE_CHROMIUM``) with an
empty profile of its own and returns a :class:`Page`: open a URL, wait until the page shows a text, read what a person
would read (``document.body.innerText``), click, and save a PNG. No browser driver, no Node.js: one WebSocket to the
page's DevTools endpoint.

Example:
    >>> with headless_chromium() as page:  # doctest: +SKIP
    ...     page.open("http://127.0.0.1:8080/dags/jaffle_shop")
    ...     page.wait_for_text("jaffle_shop")
    ...     page.screenshot(Path("dag.png"))
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from websockets.sync.client import ClientConnection, connect

from cosmos_remote.testing._process import EmulatorError, ManagedProcess

__all__ = ["ChromiumError", "Page", "chromium_path", "headless_chromium"]

# What the closed network of a test machine needs: no background connections, no first-run, no GPU.
_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class ChromiumError(EmulatorError):
    """Chromium is missing or failed to start, a page did not show what was waited for, or a protocol call failed."""


def chromium_path() -> str | None:
    """The Chromium binary to use: ``$COSMOS_REMOTE_CHROMIUM``, else ``chromium`` on ``PATH``; ``None`` if neither."""
    return os.environ.get("COSMOS_REMOTE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One browser tab, driven over a DevTools WebSocket. Every wait raises :class:`ChromiumError` on timeout."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket, self._next_id = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise ChromiumError(f"DevTools {method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise ChromiumError(f"JavaScript {expression[:80]!r} failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait until its document has loaded."""
        self.call("Page.navigate", url=url)
        self.wait_for(lambda: self.evaluate("document.readyState") == "complete", f"{url} to load")

    def text(self) -> str:
        """What the page shows as text (``document.body.innerText``)."""
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def wait_for(self, condition: Any, what: str, timeout: float = 30.0) -> None:
        """Poll ``condition()`` every 0.2 s until it is true; ``what`` names it in the timeout error."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                url = self.evaluate("location.href")
                raise ChromiumError(
                    f"waited {timeout:.0f} s for {what} on {url}; the page shows:\n{self.text()[:3000]}"
                )
            time.sleep(0.2)

    def wait_for_text(self, *texts: str, timeout: float = 30.0) -> str:
        """Wait until the page shows every one of ``texts``; return the page's text then."""

        def shows_all() -> bool:
            shown = self.text()  # one read of the page per poll
            return all(text in shown for text in texts)

        self.wait_for(shows_all, f"the text(s) {list(texts)}", timeout)
        return self.text()

    def click_text(self, text: str, selector: str = "button, a, [role=tab]") -> None:
        """Click the first element matching ``selector`` whose visible text is ``text``."""
        script = (
            f"(() => {{ const e = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.innerText.trim() === {json.dumps(text)}); if (e) e.click(); return !!e; }})()"
        )
        if not self.evaluate(script):
            raise ChromiumError(f"no {selector!r} element with the text {text!r} on {self.evaluate('location.href')}")

    def links(self) -> dict[str, str]:
        """``{visible text: href}`` of the page's links."""
        script = "Object.fromEntries([...document.querySelectorAll('a[href]')].map(a => [a.innerText.trim(), a.href]))"
        found: dict[str, str] = self.evaluate(script)
        return found

    def screenshot(self, path: Path) -> Path:
        """Save what the viewport shows as a PNG at ``path``."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def _debugger_url(profile: Path, process: ManagedProcess, deadline: float) -> str:
    """The WebSocket URL of the first page, once Chromium has written its DevTools port."""
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if not process.is_running():
            raise ChromiumError(f"Chromium exited at start; its output:\n{process.log_tail()}")
        if port_file.exists() and (lines := port_file.read_text().split()):
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{lines[0]}/json/list", timeout=5) as response:
                    pages = [t for t in json.loads(response.read()) if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise ChromiumError(f"Chromium did not open its DevTools port in time; its output:\n{process.log_tail()}")


@contextlib.contextmanager
def headless_chromium(*, width: int = 1440, height: int = 1000, timeout: float = 30.0) -> Iterator[Page]:
    """Start headless Chromium with an empty profile; yield its first tab; stop it (and remove the profile) on exit.

    Args:
        width: Viewport width in CSS pixels.
        height: Viewport height; a tall one shows more lines of a virtualized log.
        timeout: Seconds allowed for Chromium to start.

    Raises:
        ChromiumError: No Chromium is installed (``apt-get install chromium``), or it did not start in time.
    """
    binary = chromium_path()
    if binary is None:
        raise ChromiumError("no Chromium found: install Debian's `chromium` package or set $COSMOS_REMOTE_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="cosmos-remote-chromium-") as tmp:
        profile = Path(tmp)
        argv = [binary, *_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        process = ManagedProcess(name="chromium", argv=argv, env=dict(os.environ))
        process.start()
        try:
            url = _debugger_url(profile, process, time.monotonic() + timeout)
            with connect(url, max_size=64 * 2**20, open_timeout=timeout) as socket:
                page = Page(socket)
                page.call("Page.enable")
                page.call(
                    "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
                )
                yield page
        finally:
            process.stop(grace=5.0)
