"""A tiny HTTP endpoint for ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (able to serve)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "ReadinessCheck"]

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when ready, or why not."""


class HealthServer:
    """Serves metrics and probes on 127.0.0.1 (or ``host``) while the service runs."""

    def __init__(
        self, registry: CollectorRegistry, ready: ReadinessCheck, port: int, host: str = "127.0.0.1"
    ) -> None:
        self._registry = registry
        self._ready = ready
        self._port = port
        self._host = host
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info("health and metrics on http://%s:%d", self._host, self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            path = request_line.decode("latin-1").split(" ")[1] if request_line.count(b" ") >= 2 else ""
            status, content_type, body = await self._route(path)
            head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError) as exc:
            log.debug("health client went away: %s", exc)
        finally:
            writer.close()

    async def _route(self, path: str) -> tuple[str, str, bytes]:
        if path == "/metrics":
            # Readiness is evaluated at each scrape too, so the service's readiness gauge is current.
            await self._ready()
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            problem = await self._ready()
            if problem is None:
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", f"not ready: {problem}\n".encode()
        return "404 Not Found", "text/plain", b"not found\n"
