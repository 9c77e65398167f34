"""The data path benchmark's network doubles.  The latency proxy: bytes arrive intact, each exchange costs a round
trip, a new connection one more, and it refuses anything but loopback.  The TLS terminator in front of a server:
real TLS (a client that does not trust its CA fails), so behind the latency proxy a new connection costs a TLS
handshake's round trip more; bounded and loopback-only too."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from benchmarks.latency_proxy import LatencyProxy
from benchmarks.tls_terminator import TLSTerminator, server_context

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


@pytest.fixture
def authority():
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


def tls_connection(port: int, authority) -> ssl.SSLSocket:
    """A TLS client connection to ``127.0.0.1:port`` that trusts ``authority`` (handshake done on return)."""
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")


def test_through_tls_a_new_connection_also_pays_the_handshake_round_trip(echo_port, authority):
    payload = bytes(range(256)) * 4096  # 1 MiB
    with TLSTerminator("127.0.0.1", echo_port, server_context(authority)) as tls, \
            LatencyProxy("127.0.0.1", tls.port, ROUND_TRIP) as proxy:
        started = time.perf_counter()
        with tls_connection(proxy.port, authority) as sock:
            first, _ = exchange(sock, payload)
            first_seconds = time.perf_counter() - started
            second, second_seconds = exchange(sock, b"ping")
        assert first == payload and second == b"ping"
        assert first_seconds >= 3 * ROUND_TRIP  # TCP handshake + TLS 1.3 handshake + request/response
        assert ROUND_TRIP <= second_seconds < 2 * ROUND_TRIP, second_seconds
        assert tls.connections == 1


def test_the_terminator_speaks_real_tls(echo_port, authority):
    trustme = pytest.importorskip("trustme")
    with TLSTerminator("127.0.0.1", echo_port, server_context(authority)) as tls:
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_connection(tls.port, trustme.CA())  # a client that trusts another CA
        for _ in range(3):  # a connection per exchange, as a client without keep-alive makes
            with tls_connection(tls.port, authority) as sock:
                assert exchange(sock, b"hello")[0] == b"hello"
        assert tls.connections == 3  # the failed handshake never reached the upstream


def test_tls_connections_beyond_the_bound_are_closed_and_upstreams_are_loopback_only(echo_port, authority):
    with pytest.raises(ValueError, match="upstream 192.0.2.1 is not a loopback address"):
        TLSTerminator("192.0.2.1", 443, server_context(authority))
    with TLSTerminator("127.0.0.1", echo_port, server_context(authority), max_connections=1) as tls:
        with tls_connection(tls.port, authority) as kept:
            assert exchange(kept, b"a")[0] == b"a"
            with tls_connection(tls.port, authority) as refused:
                refused.settimeout(5)
                assert refused.recv(1) == b""  # closed without a byte
            assert exchange(kept, b"b")[0] == b"b"
