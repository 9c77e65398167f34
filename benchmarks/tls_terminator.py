"""A loopback TLS terminator, the part a reverse proxy (nginx, Caddy) plays in front of ``statecatcher serve``.

    authority = trustme.CA()                                   # a throw-away CA (the ``trustme`` package)
    with TLSTerminator("127.0.0.1", serve_port, server_context(authority)) as tls:
        url = f"https://127.0.0.1:{tls.port}"                 # clients must trust ``authority``

It accepts TLS on 127.0.0.1 and forwards the decrypted bytes to a loopback upstream over plain TCP, one
upstream connection per client connection, so a client that closes its connection after every request pays a
TLS handshake per request, as against a real HTTPS server.  Put a :class:`benchmarks.latency_proxy.LatencyProxy`
in front of it to give those handshakes a network's round trips.  Bounded and local like the latency proxy:
listens on 127.0.0.1 only, forwards only to a loopback address, at most ``max_connections`` at a time (more are
closed at once).  One asyncio loop in one thread carries every connection (TLS through memory buffers, so no
ssl object is shared between threads).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading

BUFFER_BYTES = 64 * 1024


def server_context(authority, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server-side TLS context with a certificate for ``host`` issued by ``authority`` (a ``trustme.CA``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(host).configure_cert(context)
    return context


class TLSTerminator:
    """Accepts TLS on ``127.0.0.1:port``, forwards plain bytes to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, context: ssl.SSLContext, max_connections: int = 64):
        if not ipaddress.ip_address(socket.gethostbyname(upstream_host)).is_loopback:
            raise ValueError(f"TLS terminator: upstream {upstream_host} is not a loopback address")
        self.upstream, self.max_connections = (upstream_host, upstream_port), max_connections
        self.connections = 0  # accepted so far: with a client that closes after each request, one per request
        self._open = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tls-terminator")
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context), self._loop)
        self._server = started.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]

    def __enter__(self) -> TLSTerminator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self.max_connections:
            writer.close()
            return
        self._open += 1
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._open -= 1
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._open -= 1


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copies ``source`` to ``sink`` until end of stream or a broken connection, then closes ``sink``."""
    try:
        while data := await source.read(BUFFER_BYTES):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        sink.close()
