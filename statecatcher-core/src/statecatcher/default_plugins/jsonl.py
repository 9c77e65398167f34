"""Built-in tracker ``jsonl``: every metric as one JSON line in RUN_DIR/metrics.jsonl."""

from statecatcher.hookspecs import hookimpl


@hookimpl
def register_trackers(register):
    register("jsonl", "statecatcher.train.trackers:JsonlTracker", description="RUN_DIR/metrics.jsonl")
