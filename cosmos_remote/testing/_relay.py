"""A loopback TCP relay that holds every HTTP request for a fixed delay: real GCS round trips, at almost no CPU cost.

Benchmarks put the GCS emulator behind this relay to model the ~50 ms a request to real GCS takes. It does not parse
HTTP: it copies bytes both ways and, on each connection, waits ``--request-delay`` seconds before forwarding the first
bytes of every request. A request starts whenever the client sends after the server last answered (HTTP/1.1 clients
such as aiohttp do not pipeline, so that is exactly one wait per request). An HTTP-parsing proxy (the BigQuery one in
:mod:`cosmos_remote.testing._proxy`) spends ~2 ms of CPU per request; on a small machine that cost, which real GCS does
not put on the client's machine, would dominate the benchmark it is meant to serve.

Two control requests are answered by the relay itself (``Connection: close``): ``GET /_proxy/health`` returns the
settings, ``POST /_proxy/config`` with ``{"request_delay": S}`` changes the delay.

Run it as ``python -m cosmos_remote.testing._relay --upstream http://127.0.0.1:PORT --port PORT --request-delay S``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["DelayRelay", "main"]

_CHUNK: Final = 256 * 1024
_CONTROL: Final = (b"GET /_proxy/", b"POST /_proxy/")


class DelayRelay:
    """The relay's state: where to forward, and the current delay."""

    def __init__(self, *, upstream: str, request_delay: float) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"--upstream must look like http://127.0.0.1:PORT, got {upstream!r}")
        self.upstream = upstream
        self.host, self.port = parts.hostname, parts.port
        self.request_delay = request_delay

    def settings(self) -> dict[str, Any]:
        return {"status": "ok", "upstream": self.upstream, "request_delay": self.request_delay}

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Serve one client connection until either side closes it."""
        try:
            first = await client_reader.read(_CHUNK)
            if first.startswith(_CONTROL):
                await self._control(first, client_reader, client_writer)
                return
            if not first:
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
            answered = asyncio.Event()
            answered.set()
            try:
                await asyncio.gather(
                    self._requests(first, client_reader, upstream_writer, answered),
                    self._responses(upstream_reader, client_writer, answered),
                )
            finally:
                upstream_writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            client_writer.close()

    async def _requests(
        self,
        first: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        answered: asyncio.Event,
    ) -> None:
        data = first
        while data:
            if answered.is_set():  # the server answered since the last bytes: this is a new request
                answered.clear()
                if self.request_delay > 0:
                    await asyncio.sleep(self.request_delay)
            writer.write(data)
            await writer.drain()
            data = await reader.read(_CHUNK)
        with contextlib.suppress(OSError):
            writer.write_eof()

    @staticmethod
    async def _responses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answered: asyncio.Event) -> None:
        while data := await reader.read(_CHUNK):
            answered.set()
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _control(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = first
        while b"\r\n\r\n" not in data:
            more = await reader.read(_CHUNK)
            if not more:
                return
            data += more
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        if len(body) < length:
            body += await reader.readexactly(length - len(body))
        status, answer = "200 OK", self.settings()
        if lines[0].startswith("POST /_proxy/config"):
            try:
                changes = json.loads(body or b"{}")
                self.request_delay = float(changes.get("request_delay", self.request_delay))
                answer = self.settings()
            except (ValueError, TypeError, AttributeError) as exc:
                status, answer = "400 Bad Request", {"error": f"bad config body: {exc}"}
        elif not lines[0].startswith("GET /_proxy/health"):
            status, answer = "404 Not Found", {"error": f"unknown control request {lines[0]!r}"}
        payload = json.dumps(answer).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()


async def _serve(relay: DelayRelay, port: int) -> None:
    server = await asyncio.start_server(relay.handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--request-delay", type=float, default=0.0, help="seconds every request is held")
    args = parser.parse_args(argv)
    relay = DelayRelay(upstream=args.upstream, request_delay=args.request_delay)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(relay, args.port))


if __name__ == "__main__":
    main()
