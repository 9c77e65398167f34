"""``statecatcher serve CORPUS_DIR --api-key KEY``: serve a local corpus over the speechcatcher-data API.

The WSGI server is waitress (pure Python, threaded, HTTP/1.1 keep-alive; werkzeug's development server
answers every request with ``Connection: close``).  The access log (stderr) shows ``***`` for the key
segment; every other log record (exceptions, waitress) is scrubbed of the key too, and control characters in
logged paths are escaped (:mod:`~statecatcher_speechcatcher_data.logs`).  Production alternatives: see the
README.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
import threading

import click

from statecatcher_speechcatcher_data.logs import protect_logs

FORWARDED_HEADERS = {"x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"}
URL_SCHEMES = ("http", "https")


class Server:
    """A waitress server for a WSGI ``app`` on ``host:port`` (``port=0``: a free one, see ``self.port``).

    ``serve_forever()`` blocks; ``shutdown()`` (from another thread) closes every connection and returns
    once the loop has stopped (it wakes the loop at once).  ``poll_seconds`` is the loop's select timeout in
    whole seconds: waitress truncates it to an integer, and 0 turns the idle loop into a busy one that keeps a
    core spinning (a 0.05 did that to every test server, and slowed the tests after them up to 10x).

    Behind a TLS-terminating reverse proxy the listings must hand out ``https://`` audio and transcript URLs:
    ``url_scheme="https"`` says so outright (a proxy that forwards bytes only, e.g. stunnel or a TCP load
    balancer); ``trusted_proxy`` (the proxy's address) honours its ``X-Forwarded-Proto``, ``-Host`` and
    ``-Port`` headers instead (nginx, Caddy), which are ignored from every other address.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 6000, *, threads: int = 8,
                 secrets: list[str] = (), poll_seconds: int = 1, url_scheme: str = "http",
                 trusted_proxy: str | None = None):
        from waitress.server import create_server

        if isinstance(poll_seconds, bool) or not isinstance(poll_seconds, int) or poll_seconds < 1:
            raise ValueError(f"poll_seconds must be a whole number of seconds >= 1 (waitress truncates it; 0 "
                             f"busy-loops), got {poll_seconds!r}")
        if url_scheme not in URL_SCHEMES:
            raise ValueError(f"url_scheme must be http or https, got {url_scheme!r}")
        if trusted_proxy is not None:
            try:
                ipaddress.ip_address(trusted_proxy)
            except ValueError:  # waitress compares it as a string: a typo would silently never match
                raise ValueError(f"--trusted-proxy must be the proxy's IP address (e.g. 127.0.0.1), got "
                                 f"{trusted_proxy!r}") from None
        protect_logs(secrets)
        proxy = dict(trusted_proxy=trusted_proxy, trusted_proxy_headers=FORWARDED_HEADERS) if trusted_proxy else {}
        self._server = create_server(app, host=host, port=port, threads=threads,
                                     ident="statecatcher-serve", asyncore_loop_timeout=poll_seconds,
                                     channel_timeout=120, clear_untrusted_proxy_headers=True,
                                     url_scheme=url_scheme, **proxy)
        self.host, self.port = host, self._server.effective_port
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        from waitress import wasyncore

        # inside the loop's thread: close the listening socket, every connection and the trigger itself,
        # so the loop's map empties and run() returns
        try:
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
        except OSError:  # the trigger's pipe is gone (seen once in CI: EBADF): close from here instead;
            wasyncore.close_all(self._server._map)  # the loop finds its map empty after its current poll
        self._stopped.wait(timeout)
        self._server.task_dispatcher.shutdown()


def make_server(corpus_dir: str, api_key: str, *, host: str = "127.0.0.1", port: int = 6000,
                index_path: str | None = None, faults=None, with_sessions: bool = True, threads: int = 8,
                poll_seconds: int = 1, url_scheme: str = "http", trusted_proxy: str | None = None,
                **app_options) -> Server:
    """A :class:`Server` for ``corpus_dir`` (not yet serving); ``faults``: an optional
    :class:`~statecatcher_speechcatcher_data.faults.FaultPlan`; ``app_options`` go to
    :func:`~statecatcher_speechcatcher_data.server.create_app` (``session_idle_seconds``, ``max_sessions``)."""
    from statecatcher_speechcatcher_data.server import create_app

    app = create_app(corpus_dir, api_key, index_path=index_path, faults=faults, with_sessions=with_sessions,
                     **app_options)
    return Server(app, host, port, threads=threads, secrets=[api_key], poll_seconds=poll_seconds,
                  url_scheme=url_scheme, trusted_proxy=trusted_proxy)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--api-key", envvar="STATECATCHER_API_KEY", required=True,
              help="the key clients must send (or env STATECATCHER_API_KEY)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (0.0.0.0: every interface)")
@click.option("--port", default=6000, show_default=True, help="port to bind (0: any free port)")
@click.option("--threads", default=8, show_default=True, help="worker threads (concurrent requests)")
@click.option("--index", "index_path", type=click.Path(dir_okay=False),
              help="SQLite index file  [default: CORPUS_DIR/.statecatcher-serve-index.sqlite]")
@click.option("--no-sessions", is_flag=True, help="leave out the training-session routes (like older servers)")
@click.option("--session-idle-seconds", type=click.FloatRange(min=0, min_open=True), default=3600.0,
              show_default=True, help="forget a training session unused for this long")
@click.option("--max-sessions", type=click.IntRange(min=1), default=1000, show_default=True,
              help="training sessions open at once (more: HTTP 429 until one ends or expires)")
@click.option("--url-scheme", type=click.Choice(URL_SCHEMES), default="http", show_default=True,
              help="scheme of the audio and transcript URLs in listings: https behind a TLS proxy that only "
                   "forwards bytes")
@click.option("--trusted-proxy", metavar="ADDRESS",
              help="a reverse proxy's address (e.g. 127.0.0.1) whose X-Forwarded-Proto/-Host/-Port headers set "
                   "the URLs in listings (nginx, Caddy); ignored from any other address")
@click.option("--quiet", is_flag=True, help="no access log")
@click.option("--faults", "faults_path", type=click.Path(exists=True, dir_okay=False), hidden=True,
              help="JSON fault plan for tests (statecatcher_speechcatcher_data.faults)")
def serve(corpus_dir: str, api_key: str, host: str, port: int, threads: int, index_path: str | None,
          no_sessions: bool, session_idle_seconds: float, max_sessions: int, url_scheme: str,
          trusted_proxy: str | None, quiet: bool, faults_path: str | None) -> None:
    """Serve CORPUS_DIR (the `local` data-source layout) over the speechcatcher-data HTTP API.

    Clients train from it with `statecatcher run --data speechcatcher:http://HOST:PORT` and the same key
    in env STATECATCHER_API_KEY. The first line on stdout is the URL; Ctrl-C stops the server.
    """
    from statecatcher_speechcatcher_data.faults import FaultPlan

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    protect_logs([api_key], root_handlers=True)
    try:
        faults = FaultPlan.from_file(faults_path) if faults_path else None
        server = make_server(corpus_dir, api_key, host=host, port=port, index_path=index_path, faults=faults,
                             with_sessions=not no_sessions, threads=threads, url_scheme=url_scheme,
                             trusted_proxy=trusted_proxy, session_idle_seconds=session_idle_seconds,
                             max_sessions=max_sessions)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"serving {os.path.abspath(corpus_dir)} on {server.url}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
