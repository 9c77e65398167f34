"""statecatcher-hello: only hook implementations here; the tracker lives in ``tracker.py``."""

import click

from statecatcher import hookimpl


@hookimpl
def register_trackers(register):
    register("hello", "statecatcher_hello.tracker:HelloTracker", description="one line per call in RUN_DIR/hello.log",
             options={"filename": "log file name inside RUN_DIR"})


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("name", default="world")
    def hello(name):
        """Greet NAME and list the encoders statecatcher can see."""
        from statecatcher.plugins import get_registry

        encoders = ", ".join(get_registry().names("encoder")) or "none"
        click.echo(f"Hello, {name}! Encoders: {encoders}")
