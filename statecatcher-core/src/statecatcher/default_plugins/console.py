"""Built-in tracker ``console``: a rich progress display on stderr."""

from statecatcher.hookspecs import hookimpl


@hookimpl
def register_trackers(register):
    register("console", "statecatcher.train.trackers:ConsoleTracker", description="rich progress on stderr",
             options={"every_seconds": "seconds between plain progress lines when stderr is not a terminal",
                      "stream": "where to write instead of stderr (a file object; for tests)"})
