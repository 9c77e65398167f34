"""Label filters: detect hallucinated (weak, Whisper-made) transcript segments and mask their loss.

See ``docs/filters.md``.  :class:`FilterStage` combines the detectors chosen with ``--label-filters``;
the built-in detectors live in :mod:`.text` (text, timing, audio energy) and :mod:`.model` (loss outliers).
:mod:`.scoring` computes every transcript segment's per-token loss under a trained model after the fact.
"""

from statecatcher.filters.stage import ACCEPT, REPORT_NAME, FilterStage, Rejection, Verdict

# the built-ins a run usually wants: every text/audio detector plus the loss outlier detector
DEFAULT_FILTERS: tuple[str, ...] = (
    "compression_ratio", "ngram_repetition", "unique_words", "char_rate", "rate_outlier", "long_word",
    "known_phrases", "no_speech", "silence", "loss_outlier")

__all__ = ["ACCEPT", "DEFAULT_FILTERS", "REPORT_NAME", "FilterStage", "Rejection", "Verdict"]
