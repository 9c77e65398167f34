"""Named recipes for ``statecatcher run --preset NAME``: RunConfig keys chosen by the sweep in docs/recipes.md.

A preset is the lowest layer above the defaults: a ``--config`` file and command-line flags override any of
its keys.  The saved ``RUN_DIR/config.toml`` holds the resolved values, so a run never depends on a preset
table that changed later.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # 2 CPU cores, tens of minutes of audio: a small LSTM, characters, one lane, validation every 500 steps.
    # No SpecAugment: within ~5,000 steps it kept the model on the blank plateau longer and ended worse
    # (dev CER 76 % vs 53 % at 2,500 steps, docs/recipes.md)
    # The cell is clipped at 10 every 25 output frames (1 s): the state stays bounded over an hour (state RMS x1.00
    # first to last 10 minutes, against x9.4 unclipped) and dev CER was lower at every validation (47.2 % vs 50.4 %)
    "cpu-demo": {
        "encoder": "lstm", "loss": "ctc",
        "encoder_options": {"hidden_dim": 128, "num_layers": 2, "cell_clip": 10.0, "clip_every": 25},
        "vocab_size": 48, "batch_size": 1, "segmenter": {"segment_seconds": 8.0}, "lr": 6e-3, "schedule": "cosine",
        "warmup_steps": 200, "grad_clip": 1.0, "spec_augment": False, "eval_every": 500,
        "checkpoint_every": 500, "threads": 1,
    },
    # one GPU, hours of audio: 8 lanes, longer warm-up, the lr scaled for the wider batch (docs/recipes.md)
    "gpu-small": {
        "encoder": "lstm", "loss": "ctc", "encoder_options": {"hidden_dim": 512, "num_layers": 3},
        "vocab_size": 256, "batch_size": 8, "segmenter": {"segment_seconds": 16.0}, "lr": 2e-3, "schedule": "cosine",
        "warmup_steps": 1000, "grad_clip": 1.0, "spec_augment": True, "eval_every": 2000,
        "checkpoint_every": 1000,
    },
    "gpu-base": {
        "encoder": "xlstm", "loss": "rnnt", "vocab_size": 500, "batch_size": 32, "segmenter": {"segment_seconds": 16.0},
        "lr": 1.5e-3, "schedule": "cosine", "warmup_steps": 3000, "grad_clip": 1.0, "spec_augment": True,
        "eval_every": 5000, "checkpoint_every": 2000,
    },
}


def preset_for(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The keys preset ``name`` contributes under ``values``: all of them, except that a preset's
    ``encoder_options`` (``loss_options``) describe its own encoder (loss) and are left out when ``values``
    choose another one (``--preset cpu-demo --encoder xlstm`` must not hand the LSTM's options to xLSTM)."""
    preset = dict(PRESETS.get(name, {}))
    for component in ("encoder", "loss"):
        if component in values and values[component] != preset.get(component, values[component]):
            preset.pop(f"{component}_options", None)
    return preset
