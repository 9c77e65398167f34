"""``statecatcher serve CORPUS_DIR --api-key KEY``: serve a local corpus over the speechcatcher-data API.

werkzeug's threaded server speaking HTTP/1.1 (keep-alive, Range); its access log never shows the key.
For production use gunicorn (see :mod:`~statecatcher_speechcatcher_data.server`).
"""

from __future__ import annotations

import os
import sys

import click
from statecatcher.secrets import scrub


def make_server(corpus_dir: str, api_key: str, *, host: str = "127.0.0.1", port: int = 6000,
                index_path: str | None = None, faults=None, with_sessions: bool = True):
    """A werkzeug ``BaseWSGIServer`` (not yet serving; ``port=0`` picks a free one: ``server.server_port``).

    ``faults`` is an optional :class:`~statecatcher_speechcatcher_data.faults.FaultPlan`.
    """
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as werkzeug_server

    from statecatcher_speechcatcher_data.server import create_app

    app = create_app(corpus_dir, api_key, index_path=index_path, faults=faults, with_sessions=with_sessions)

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length

        def log(self, type: str, message: str, *args) -> None:
            super().log(type, "%s", scrub(message % args, [api_key]))

    return werkzeug_server(host, port, app, threaded=True, request_handler=Handler)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--api-key", envvar="STATECATCHER_API_KEY", required=True,
              help="the key clients must send (or env STATECATCHER_API_KEY)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (0.0.0.0: every interface)")
@click.option("--port", default=6000, show_default=True, help="port to bind (0: any free port)")
@click.option("--index", "index_path", type=click.Path(dir_okay=False),
              help="SQLite index file  [default: CORPUS_DIR/.statecatcher-serve-index.sqlite]")
@click.option("--no-sessions", is_flag=True, help="leave out the training-session routes (like older servers)")
@click.option("--faults", "faults_path", type=click.Path(exists=True, dir_okay=False), hidden=True,
              help="JSON fault plan for tests (statecatcher_speechcatcher_data.faults)")
def serve(corpus_dir: str, api_key: str, host: str, port: int, index_path: str | None, no_sessions: bool,
          faults_path: str | None) -> None:
    """Serve CORPUS_DIR (the `local` data-source layout) over the speechcatcher-data HTTP API.

    Clients train from it with `statecatcher run --data speechcatcher:http://HOST:PORT` and the same key
    in env STATECATCHER_API_KEY. The first line on stdout is the URL; Ctrl-C stops the server.
    """
    from statecatcher_speechcatcher_data.faults import FaultPlan

    try:
        faults = FaultPlan.from_file(faults_path) if faults_path else None
        server = make_server(corpus_dir, api_key, host=host, port=port, index_path=index_path, faults=faults,
                             with_sessions=not no_sessions)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"serving {os.path.abspath(corpus_dir)} on http://{host}:{server.server_port}", err=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
