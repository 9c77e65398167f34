"""The skipped-recordings report: every recording a rank could not train on, with the reason, in the run dir.

``RUN_DIR/skipped.jsonl`` (rank 0; rank r > 0 writes ``skipped.rank<r>.jsonl``) gets one JSON line per
skipped recording: ``{"step", "epoch", "recording_id", "reason"}``, ``step`` being the last step trained when
the batcher handed the skip out (skips travel with the batches, so a resumed run reports each one once).  A
fresh start truncates what an unfinished earlier attempt left; a resumed run drops the rows past its
checkpoint.  At the end of an epoch with skips one summary line goes to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..jsonl import drop_rows_after

REPORT_NAME = "skipped.jsonl"


def skip_report_name(rank: int = 0) -> str:
    """``skipped.jsonl`` for rank 0, ``skipped.rank<r>.jsonl`` for rank r > 0."""
    return REPORT_NAME if rank == 0 else f"skipped.rank{rank}.jsonl"


class SkipLog:
    """Appends the skipped recordings of rank ``rank`` to its report; ``total`` counts them over the run
    (the resumed rows included), ``epoch_skips`` those of the current epoch."""

    def __init__(self, run_dir: Path, rank: int, *, resume_step: int):
        self.path = Path(run_dir) / skip_report_name(rank)
        self.rank = rank
        drop_rows_after(self.path, resume_step)  # step 0 (a fresh start) keeps nothing
        self.total = sum(1 for line in self.path.read_text().splitlines() if line.strip()) if self.path.is_file() else 0
        self.epoch_skips: list[tuple[str, str]] = []
        self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def record(self, skips: list[tuple[str, str]], *, step: int, epoch: int) -> None:
        """Writes ``(recording id, reason)`` pairs handed out by the batcher after ``step``."""
        for recording_id, reason in skips:
            self._file.write(json.dumps({"step": step, "epoch": epoch, "recording_id": recording_id,
                                         "reason": reason}) + "\n")
        self.total += len(skips)
        self.epoch_skips += skips

    def end_epoch(self, epoch: int, steps: int, world_size: int = 1) -> None:
        """One stderr line when the epoch skipped anything; then starts counting the next epoch."""
        if self.epoch_skips:
            who = f"rank {self.rank}, " if world_size > 1 else ""
            first_id, reason = self.epoch_skips[0]
            print(f"epoch {epoch} ({who}{steps} steps): {len(self.epoch_skips)} recording(s) skipped, listed in "
                  f"{self.path}; first: {first_id}: {reason}", file=sys.stderr, flush=True)
        self.epoch_skips = []

    def close(self) -> None:
        self._file.close()
