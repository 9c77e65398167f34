"""Built-in tracker ``console``: a rich progress display on stderr."""

from statecatcher.hookspecs import hookimpl


@hookimpl
def register_trackers(register):
    register("console", "statecatcher.train.trackers:ConsoleTracker", description="rich progress on stderr")
