"""Named recipes for ``statecatcher run --preset NAME``: RunConfig keys chosen by the sweep in docs/recipes.md.

A preset is the lowest layer above the defaults: a ``--config`` file and command-line flags override any of
its keys.  The saved ``RUN_DIR/config.toml`` holds the resolved values, so a run never depends on a preset
table that changed later.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # 2 CPU cores, tens of minutes of audio: a small RWKV-7, characters, one lane, validation every 300 steps.
    # rwkv7 64 x 2 left the blank plateau within 500 steps where the LSTM 128 x 2 took ~1,000, and after 1,500
    # steps decoded the held-out episodes at CER 39.8 % against the LSTM's 49.2 % after 4,500 (docs/recipes.md);
    # a step costs ~2.4x the LSTM's, so the demo trains ~9 h of lane-audio (4,000 steps of its sentence-segmented
    # corpus, ~8 s each; until 2026-12-04 2,000 steps of ~16 s).  No SpecAugment: within ~5,000 steps it
    # kept the model on the plateau longer and ended worse (dev CER 76 % vs 53 % at 2,500 steps, LSTM); nor does
    # speed perturbation.  Weight decay 0.1 (AdamW's, decoupled) instead of the default 0.01: held-out CER 1.4-3
    # points lower for two seeds; 0.3 was worse on dev (docs/recipes.md, "More data, more weight decay").
    # Width 128 instead of 64 (0.53 M parameters instead of 0.15 M): held-out CER 29.5 % for seeds 0 and 2
    # against 33.4 / 32.7 %, for ~1.3x the step time; validation every 300 steps instead of 180 pays for part
    # of it (docs/recipes.md, "A wider model").  Peak lr 2e-3 instead of 6e-3 (chosen at width 64): held-out WER
    # 67.5 / 66.7 % for seeds 0 and 2 against 71.3 / 72.4 %; 4e-3, 3e-3 and 1.4e-3 were between or worse
    # (docs/recipes.md, "A lower learning rate for the wider model").
    "cpu-demo": {
        "encoder": "rwkv7", "loss": "ctc", "encoder_options": {"hidden_dim": 128, "num_layers": 2, "chunk_len": 16},
        "vocab_size": 48, "batch_size": 1, "segmenter": {"segment_seconds": 8.0}, "lr": 2e-3, "schedule": "cosine",
        "warmup_steps": 200, "weight_decay": 0.1, "grad_clip": 1.0, "spec_augment": False, "eval_every": 300,
        "checkpoint_every": 500, "threads": 1,
    },
    # 2 CPU cores, hours of audio (nox -s recipe): cpu-demo's recipe with a deeper model (128 x 3) for a run of
    # 20-30 min on one core, warm-up over more steps; no SpecAugment (the episodes' reverb/noise/telephone vary
    # the audio instead; docs/recipes.md, "The recipe benchmark").  Peak lr 2e-3 and weight decay 0.1 as in
    # cpu-demo instead of 6e-3 and 0.01: best dev CER / WER 31.3 / 70.3 % against 33.6 / 74.4 % (3e-3: 31.6 /
    # 71.5 %), seed 0 (docs/recipes.md, "A lower learning rate for the recipe").  Front end with a convolution
    # along the mel axis (32 channels) and a running mean per bin removed (time constant 300 frames, 3 s): best
    # dev CER 25.2 % against 31.3 %, held-out 29.8 % against 38.2 % (telephone band 29.8 against 43.7 %), for
    # ~1.1x the step time (docs/recipes.md, "A front end for other voices and channels").  The recipe is
    # compute-limited, so more steps of a smaller model beat width: 192 instead of 256 (2026-12-05, evening; a
    # step ~0.75x), then 128 instead of 192 (2026-12-05, late; a step ~0.7x): 6,800 steps at width 128 decoded
    # the unheard-text test episodes at CER 24.3 % (22.0 % with the word LM) against 26.0 % (24.0 %) for 4,800
    # at width 192 (docs/recipes.md, "Probes on the benchmark's corpus" and "Width 128").
    "cpu-recipe": {
        "encoder": "rwkv7", "loss": "ctc",
        "encoder_options": {"hidden_dim": 128, "num_layers": 3, "chunk_len": 16, "freq_channels": 32,
                            "cmn_frames": 300},
        "vocab_size": 48, "batch_size": 1, "segmenter": {"segment_seconds": 8.0}, "lr": 2e-3, "schedule": "cosine",
        "warmup_steps": 300, "weight_decay": 0.1, "grad_clip": 1.0, "spec_augment": False, "eval_every": 200,
        "checkpoint_every": 1000, "threads": 1, "num_workers": 1,
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
