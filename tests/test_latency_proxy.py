"""The benchmark's latency proxy: bytes arrive intact, each exchange costs a round trip, a new connection one more,
and it refuses anything but loopback."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from benchmarks.latency_proxy import LatencyProxy

ROUND_TRIP = 0.1


@pytest.fixture
def echo_port():
    """A loopback server that echoes every byte back, one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def exchange(sock: socket.socket, payload: bytes) -> tuple[bytes, float]:
    started = time.perf_counter()
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        received += sock.recv(65536)
    return received, time.perf_counter() - started


def test_each_exchange_takes_a_round_trip_and_a_new_connection_one_more(echo_port):
    payload = bytes(range(256)) * 4096  # 1 MiB
    with LatencyProxy("127.0.0.1", echo_port, ROUND_TRIP) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
            first, first_seconds = exchange(sock, payload)
            second, second_seconds = exchange(sock, b"ping")
        assert first == payload and second == b"ping"
        assert first_seconds >= 2 * ROUND_TRIP  # handshake + request/response
        assert ROUND_TRIP <= second_seconds < 2 * ROUND_TRIP, second_seconds
        assert proxy.connections == 1


def test_connections_beyond_the_bound_are_closed(echo_port):
    with LatencyProxy("127.0.0.1", echo_port, 0.0, max_connections=1) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as kept:
            assert exchange(kept, b"a")[0] == b"a"
            with socket.create_connection(("127.0.0.1", proxy.port)) as refused:
                refused.settimeout(5)
                assert refused.recv(1) == b""  # closed without a byte
            assert exchange(kept, b"b")[0] == b"b"


def test_only_loopback_upstreams_and_sane_latencies():
    with pytest.raises(ValueError, match="upstream 192.0.2.1 is not a loopback address"):
        LatencyProxy("192.0.2.1", 80, 0.01)
    with pytest.raises(ValueError, match="round_trip 5 s must be within"):
        LatencyProxy("127.0.0.1", 80, 5)
