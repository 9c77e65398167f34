"""Built-in label filters (hallucination detectors); see docs/filters.md for thresholds."""

from statecatcher.hookspecs import hookimpl

_BUILTINS = (
    ("compression_ratio", "detectors:CompressionRatio", "zlib compression ratio of the text above 2.4 (looping)"),
    ("ngram_repetition", "detectors:NgramRepetition", "share of repeated word 3-grams at or above 0.3"),
    ("unique_words", "detectors:UniqueWords", "share of distinct words at or below 0.4"),
    ("char_rate", "detectors:CharRate", "characters per second outside [4, 30]"),
    ("rate_outlier", "detectors:RateOutlier", "speaking rate far from the recent segments' (robust z > 3.5)"),
    ("long_word", "detectors:LongWord", "a 'word' of 25 characters or more"),
    ("known_phrases", "detectors:KnownPhrases", "known hallucinated phrases (thanks for watching, subtitle credits)"),
    ("no_speech", "detectors:NoSpeechProbability", "text where Whisper's no_speech_prob >= 0.6"),
    ("silence", "detectors:Silence", "text over audio that is mostly silence (energy)"),
    ("loss_outlier", "model:LossOutlier", "per-token loss far above the recent median (robust z > 3.5)"),
)


@hookimpl
def register_label_filters(register):
    for name, factory, description in _BUILTINS:
        register(name, f"statecatcher.filters.{factory}", description=description)
