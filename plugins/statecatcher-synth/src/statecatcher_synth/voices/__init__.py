"""Offline TTS engines behind one small interface.

Every engine is a module of this package with a ``WEIGHT`` (how often the planner draws it, relative to the
other chosen voices: cheap engines are drawn more often) and three functions:

- ``available() -> bool``: the engine runs here (package importable or program on ``PATH``).
- ``variants() -> tuple[str, ...]``: its voices; the first is the default.
- ``synthesize(text, speed, seed, variant=None) -> (samples float32 [T] in [-1, 1], sample_rate Hz)``:
  one utterance; ``speed`` > 1 speaks faster (1.0 = the engine's own pace); the same arguments give the same
  samples.

A voice is named ``ENGINE`` or ``ENGINE:VARIANT`` (``flite:slt``).  The pip voices (``hibari``, ``piper``)
are the default; the Debian engines (``espeak``, ``flite``, ``festival``) are used when asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

ENGINES = ("hibari", "piper", "espeak", "flite", "festival")
PIP_ENGINES = ("hibari", "piper")


def engine_module(engine: str) -> ModuleType:
    if engine not in ENGINES:
        raise ValueError(f"unknown TTS engine {engine!r}; known engines: {', '.join(ENGINES)}")
    return importlib.import_module(f"statecatcher_synth.voices.{engine}")


def split_voice(voice: str) -> tuple[str, str | None]:
    """``"flite:slt"`` -> ``("flite", "slt")``; ``"hibari"`` -> ``("hibari", None)``."""
    engine, _, variant = voice.partition(":")
    return engine, variant or None


def check_voice(voice: str) -> str:
    """Return ``voice`` unchanged, or raise ``ValueError`` saying why it cannot be used here."""
    engine, variant = split_voice(voice)
    module = engine_module(engine)
    if not module.available():
        raise ValueError(f"voice {voice!r}: engine {engine!r} is not installed here")
    if variant is not None and variant not in module.variants():
        raise ValueError(f"voice {voice!r}: unknown variant; {engine} has {', '.join(module.variants())}")
    return voice


def default_voices() -> tuple[str, ...]:
    """The pip voices that are installed (``hibari``, ``piper``)."""
    return tuple(engine for engine in PIP_ENGINES if engine_module(engine).available())


def installed_voices() -> tuple[str, ...]:
    """Every ``ENGINE:VARIANT`` that runs here, pip and Debian engines alike."""
    out = []
    for engine in ENGINES:
        module = engine_module(engine)
        if module.available():
            out.extend(f"{engine}:{variant}" for variant in module.variants())
    return tuple(out)


def voice_weight(voice: str) -> float:
    """The engine's ``WEIGHT``: its relative chance of being drawn for a speaker."""
    return float(engine_module(split_voice(voice)[0]).WEIGHT)


def synthesize(voice: str, text: str, speed: float, seed: int) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with ``voice`` (``ENGINE[:VARIANT]``); see the module docstring."""
    engine, variant = split_voice(voice)
    samples, sample_rate = engine_module(engine).synthesize(text, speed, seed, variant=variant)
    return np.asarray(samples, dtype=np.float32), int(sample_rate)
