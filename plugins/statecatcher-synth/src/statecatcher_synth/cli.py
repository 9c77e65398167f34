"""``statecatcher synth-corpus``: a thin click wrapper over :func:`statecatcher_synth.corpus.build_corpus`."""

from __future__ import annotations

import json
import time

import click

from statecatcher_synth.transcript import SEGMENTINGS


def _parse_minutes(ctx, param, value: str) -> tuple[float, float]:
    low, _, high = value.partition("-")
    try:
        minutes = (float(low), float(high or low))
    except ValueError:
        raise click.BadParameter(f"expected MIN-MAX in minutes (e.g. 4-6), got {value!r}") from None
    if not 0.0 < minutes[0] <= minutes[1]:
        raise click.BadParameter(f"need 0 < MIN <= MAX, got {value!r}")
    return minutes


def _parse_list(ctx, param, values: tuple[str, ...]) -> tuple[str, ...] | None:
    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    return names or None


def _list_voices(ctx, param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from statecatcher_synth.voices import default_voices, installed_voices

    click.echo(f"default (pip): {', '.join(default_voices()) or 'none'}")
    for voice in installed_voices():
        click.echo(voice)
    ctx.exit()


@click.command("synth-corpus", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (absent or empty).")
@click.option("--episodes", default=6, show_default=True, type=click.IntRange(min=1), help="Number of episodes.")
@click.option("--minutes", default="3-7", show_default=True, callback=_parse_minutes,
              help="Episode length range MIN-MAX in minutes (or one number).")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same bytes.")
@click.option("--voices", multiple=True, callback=_parse_list,
              help="Comma-separated ENGINE[:VARIANT] names (hibari, piper, espeak:en-us, flite:slt, "
                   "festival:kal_diphone, ...), or 'all' installed voices; default: the installed pip voices.")
@click.option("--effects", multiple=True, callback=_parse_list,
              help="Comma-separated effects: reverb, noise, telephone; NAME@P (noise@0.3) applies one to an "
                   "episode with probability P, NAME to every episode.")
@click.option("--segments", type=click.Choice(SEGMENTINGS), default="turns", show_default=True,
              help="Transcript segments: a speaker's consecutive sentences merged up to 30 s (turns), or one per "
                   "sentence, as Whisper tends to emit (sentences).")
@click.option("--held-out", default=None, type=click.IntRange(min=1),
              help="Episodes in each of dev and test (the last ones) [default: about a sixth of --episodes].")
@click.option("--held-out-text/--shared-text", default=False, show_default=True,
              help="Dev and test episodes speak only sentences that no train episode speaks (a quarter of the "
                   "sentence bank kept for them), or every episode draws from the whole bank.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Synthesis processes [default: up to 2].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
@click.option("--list-voices", is_flag=True, expose_value=False, is_eager=True, callback=_list_voices,
              help="List the voices installed here and exit.")
def synth_corpus(out_dir, episodes, minutes, seed, voices, effects, segments, held_out, held_out_text, workers,
                 progress):
    """Synthesize a podcast-like corpus with exact, Whisper-style timed transcripts.

    Writes DIR/<id>.flac (16 kHz), DIR/<id>.json (segments with start, end, text, speaker and per-sentence
    times) and DIR/manifest.jsonl with a train/dev/test split by episode, the layout of the ``local`` data
    source.  Example: statecatcher synth-corpus --out corpus --episodes 6 --minutes 4-6
    """
    from statecatcher_synth.corpus import MANIFEST, build_corpus

    started = time.perf_counter()
    try:
        out = build_corpus(out_dir, episodes=episodes, minutes=minutes, seed=seed, voices=voices,
                           effects=effects or (), progress=progress, workers=workers, segments=segments,
                           held_out=held_out, held_out_text=held_out_text)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    audio = sum(row["duration"] for row in rows)
    splits = {split: sum(row["split"] == split for row in rows) for split in ("train", "dev", "test")}
    click.echo(f"wrote {len(rows)} episode{'s' * (len(rows) != 1)} ({audio / 60:.1f} min of audio; train/dev/test "
               f"{splits['train']}/{splits['dev']}/{splits['test']}) to {out} in {wall:.1f} s: "
               f"{audio / wall:.1f}x realtime")
