"""Summary of a run's filter report (``RUN_DIR/filter.jsonl``): rejections per detector, with examples."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statecatcher.filters.stage import REPORT_NAME
from statecatcher.jsonl import read_jsonl


@dataclass
class DetectorSummary:
    """One detector's rejections: how many, how many were masked (not a dry run), score range, examples."""

    detector: str
    count: int = 0
    masked: int = 0
    min_score: float = float("inf")
    max_score: float = float("-inf")
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "count": self.count, "masked": self.masked,
                "min_score": self.min_score, "max_score": self.max_score, "examples": self.examples}


@dataclass
class FilterSummary:
    """Every detector's :class:`DetectorSummary`, most rejections first, and the rejected training segments."""

    detectors: list[DetectorSummary]
    segments: int  # distinct (recording, segment index) pairs with at least one rejection
    recordings: int

    def to_dict(self) -> dict[str, Any]:
        return {"segments": self.segments, "recordings": self.recordings,
                "detectors": [d.to_dict() for d in self.detectors]}


def read_report(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``RUN_DIR/filter.jsonl`` and, from a distributed run, of every rank's
    ``filter.rank<r>.jsonl``; a clear error when the run has no report."""
    run_dir = Path(run_dir)
    rows = read_jsonl(run_dir / REPORT_NAME, "no filter report; train with --label-filters NAME to write one")
    for path in sorted(run_dir.glob("filter.rank[0-9]*.jsonl"), key=lambda p: (len(p.name), p.name)):
        rows += read_jsonl(path, "unreadable filter report")
    return rows


def summarise(rows: list[dict[str, Any]], *, examples: int = 3) -> FilterSummary:
    """Group report rows by detector; keep the ``examples`` rows with the highest score of each (the
    ``unique_words`` and ``silence`` scores are shares where lower is worse: their lowest are kept)."""
    by_detector: dict[str, DetectorSummary] = {}
    rows_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        summary = by_detector.setdefault(row["detector"], DetectorSummary(row["detector"]))
        summary.count += 1
        summary.masked += bool(row.get("masked"))
        summary.min_score = min(summary.min_score, row["score"])
        summary.max_score = max(summary.max_score, row["score"])
        rows_of[row["detector"]].append(row)
    for name, summary in by_detector.items():
        lower_is_worse = name in ("unique_words", "silence")
        ranked = sorted(rows_of[name], key=lambda r: r["score"], reverse=not lower_is_worse)
        summary.examples = ranked[:examples]
    segments = {(row["recording_id"], row["segment_index"]) for row in rows}
    return FilterSummary(sorted(by_detector.values(), key=lambda d: (-d.count, d.detector)), len(segments),
                         len({recording for recording, _ in segments}))
