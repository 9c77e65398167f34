"""``benchmarks/results/history.jsonl``: every full run appends one JSON line (date, machine, each result's
ratio), so a regression shows as a diff."""

from __future__ import annotations

import json

from benchmarks.__main__ import append_history

MACHINE = {"cpu": "Test CPU", "cores": 2}


def report(started: str, ratio: float) -> dict:
    return {"started": started, "small": False, "machine": MACHINE,
            "rows": {"memory": {"results": [{"name": "stateful 60 min / 1 min", "ratio": ratio, "description": "x"}],
                                "seconds": 3.0, "peak_rss_mib": 10.0},
                     "losses": {"error": "timed out after 300 s", "seconds": 300.0}}}


def test_each_run_appends_one_line_with_its_ratios(tmp_path):
    path = tmp_path / "results" / "history.jsonl"
    append_history(report("2026-12-03T10:00:00Z", 1.046789), path)
    append_history(report("2026-12-04T10:00:00Z", 1.5), path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {"date": "2026-12-03T10:00:00Z", "machine": MACHINE, "small": False,
         "rows": {"memory": {"stateful 60 min / 1 min": 1.0468}, "losses": {"error": "timed out after 300 s"}}},
        {"date": "2026-12-04T10:00:00Z", "machine": MACHINE, "small": False,
         "rows": {"memory": {"stateful 60 min / 1 min": 1.5}, "losses": {"error": "timed out after 300 s"}}},
    ]
