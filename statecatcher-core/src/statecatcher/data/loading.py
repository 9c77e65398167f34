"""Loading the transcripts of a listed split, one recording at a time, for the passes over text only.

Training loads transcripts in the lane batcher's workers (:func:`statecatcher.data.lane_plan.load_recording`);
tokenizer and language-model training read every transcript of a split through :func:`loaded_recordings`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from statecatcher.records import Recording


def loaded_recordings(source: Any, split: str, purpose: str) -> Iterator[Recording]:
    """The recordings of ``split`` with their segments loaded, in the source's order (epoch 0), loaded one
    at a time.  A recording whose transcript cannot be loaded (``OSError``) is skipped with a warning naming
    it, ``purpose`` (e.g. ``"tokenizer training"``) and why; any other error stops the pass."""
    for recording in source.recordings(split):
        try:
            yield recording.loaded()
        except OSError as error:
            warnings.warn(f"skipping recording {recording.id!r} in {purpose}: {error}", stacklevel=2)
