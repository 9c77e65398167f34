"""A loopback TCP proxy that adds network latency, so keep-alive and prefetch are measured as on a real network.

    with LatencyProxy("127.0.0.1", server_port, round_trip=0.020) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"        # every byte now takes round_trip / 2 each way

Every byte waits ``round_trip / 2`` in each direction (in order; bandwidth is not limited), and a new connection
first waits one round trip, as a TCP handshake does.  It is bounded and local by construction: it listens on
127.0.0.1 only, forwards only to a loopback address, and holds at most ``max_connections`` connections (more are
closed at once).  Each connection runs two forwarding threads (one per direction).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import deque

BUFFER_BYTES = 64 * 1024


class LatencyProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream_host:upstream_port`` with ``round_trip`` seconds of latency."""

    def __init__(self, upstream_host: str, upstream_port: int, round_trip: float, max_connections: int = 64):
        if not ipaddress.ip_address(socket.gethostbyname(upstream_host)).is_loopback:
            raise ValueError(f"latency proxy: upstream {upstream_host} is not a loopback address")
        if not 0 <= round_trip <= 1:
            raise ValueError(f"latency proxy: round_trip {round_trip} s must be within [0, 1]")
        self.upstream, self.delay = (upstream_host, upstream_port), round_trip / 2
        self.max_connections = max_connections
        self.connections = 0  # accepted so far (the number a client without keep-alive drives up)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept_loop, daemon=True, name="latency-proxy").start()

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._open:
                _shut(sock)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                full = len(self._open) >= 2 * self.max_connections
                self.connections += not full
            if full:
                client.close()
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        time.sleep(2 * self.delay)  # the handshake's round trip
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        for sock in (client, server):  # no Nagle: a small write must not wait for the peer's (delayed) ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._open.update((client, server))
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._forward, args=(source, sink), daemon=True).start()

    def _forward(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy ``source`` to ``sink``, each chunk sent ``delay`` seconds after it arrived (a sender thread)."""
        queue: deque[tuple[float, bytes]] = deque()
        ready = threading.Condition()
        sender = threading.Thread(target=self._send_delayed, args=(queue, ready, sink), daemon=True)
        sender.start()
        while True:
            try:
                data = source.recv(BUFFER_BYTES)
            except OSError:
                data = b""
            with ready:
                queue.append((time.monotonic() + self.delay, data))
                ready.notify()
            if not data:
                break
        sender.join()
        self._drop(source)

    def _send_delayed(self, queue: deque, ready: threading.Condition, sink: socket.socket) -> None:
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, data = queue.popleft()
            time.sleep(max(0.0, due - time.monotonic()))
            if not data:
                _shut(sink, socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()


def _shut(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass
