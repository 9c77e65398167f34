"""Built-in label filters (hallucination detectors); see docs/filters.md for thresholds."""

from statecatcher.hookspecs import hookimpl

_ROBUST = {"threshold": "reject at a robust z-score (median / MAD) above this",
           "warmup": "values collected before the detector judges anything",
           "window": "recent values the median and MAD are taken over",
           "min_spread": "smallest spread the z-score divides by (keeps it finite when values barely vary)"}
_WORDS = {"min_words": "shorter texts (in words) are not judged"}
_OPTIONS = {
    "compression_ratio": {"threshold": "reject at a zlib compression ratio above this",
                          "min_chars": "shorter texts (in bytes) are not judged"},
    "ngram_repetition": {"n": "word n-gram length", "threshold": "reject at this share of repeated n-grams or above",
                         **_WORDS},
    "unique_words": {"threshold": "reject at this share of distinct words or below", **_WORDS},
    "char_rate": {"min_rate": "reject below this many characters per second",
                  "max_rate": "reject above this many characters per second",
                  "min_seconds": "shorter segments (seconds) are not judged"},
    "rate_outlier": {**_ROBUST, "unit": "speaking rate in words or chars per second",
                     "min_seconds": "shorter segments (seconds) are not judged"},
    "long_word": {"max_chars": "reject a 'word' of this many characters or more"},
    "known_phrases": {"phrases": "the phrases to look for (replaces the built-in list)",
                      "extra_phrases": "phrases to look for besides the built-in list"},
    "no_speech": {"threshold": "reject text whose Whisper no_speech_prob is at or above this"},
    "silence": {"min_speech_fraction": "reject text over audio with a smaller share of speech frames",
                "relative_db": "a frame is speech when within this many dB of the recording's loud level",
                "floor_db": "and louder than this absolute level (dBFS)"},
    "loss_outlier": {**_ROBUST, "threshold": "reject at a robust z-score above this: (loss - median) / "
                                             "max(MAD, MAD of the values above the median)"},
}
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
        register(name, f"statecatcher.filters.{factory}", description=description, options=_OPTIONS[name])
