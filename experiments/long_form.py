"""Long-form stability: stream an hour through a trained model and watch its state and its accuracy.

    python -m experiments.long_form RUN_DIR [RUN_DIR ...] --corpus CORPUS [--minutes 60] [--best]

The hour is built from CORPUS's held-out episodes (``test``, then ``dev``; any ``local`` corpus folder, see
docs/data-format.md), concatenated and repeated until it lasts ``--minutes``.  Each transcript segment of an
episode is a *piece*: the audio from its start to the next segment's start.  Every model streams the whole
hour once, in ``--chunk-seconds`` chunks with its state carried (as ``statecatcher transcribe`` does), and
each piece is also decoded alone from a fresh state.  Reported per model (issue #21, item 5):

* the RMS of the encoder state (all its floating-point leaves), averaged over the first and over the last
  ``--window`` minutes of the stream, and their ratio (target: <= 2);
* the CER of the pieces as decoded inside the stream and as decoded with a fresh state, over the whole hour
  and over its last window (target: the stream within 1 point of the fresh decodes).

Greedy decoding; tokens are given to the piece whose time span holds their emission time.  The JSON report
(``--out``) keeps every number and the per-minute state RMS curve.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Piece:
    """One transcript segment of a held-out episode, placed at ``offset`` seconds into the long stream."""

    key: str          # "<episode id>/<segment index>": the same audio wherever it repeats
    offset: float     # start in the long stream, seconds
    begin: int        # sample range inside the episode's audio
    end: int
    text: str


def held_out_episodes(corpus: Path) -> list[tuple[str, torch.Tensor, list[Any]]]:
    """``(id, samples, segments)`` of the corpus's test then dev recordings, through the ``local`` source."""
    from statecatcher.data.local import LocalDataSource

    source = LocalDataSource(str(corpus), shuffle=False)
    chosen = [recording for split in ("test", "dev") for recording in source.recordings(split)]
    if not chosen:
        raise SystemExit(f"long_form: {corpus} has no test or dev recording")
    return [(r.id, r.load_audio(), list(r.load_segments())) for r in chosen]


def build_stream(episodes: list[tuple[str, torch.Tensor, list[Any]]], minutes: float
                 ) -> tuple[torch.Tensor, list[Piece]]:
    """The held-out episodes repeated to ``minutes`` and cut after the last piece that fits whole:
    ``(samples, pieces in stream order)``."""
    target = int(minutes * 60 * SAMPLE_RATE)
    parts: list[torch.Tensor] = []
    pieces: list[Piece] = []
    length = 0
    while length < target:
        for episode_id, samples, segments in episodes:
            if length >= target:
                break
            starts = [int(s.start * SAMPLE_RATE) for s in segments] + [samples.numel()]
            for index, segment in enumerate(segments):
                begin, end = starts[index], max(starts[index], min(starts[index + 1], samples.numel()))
                if end > begin and segment.text.strip():
                    pieces.append(Piece(f"{episode_id}/{index}", (length + begin) / SAMPLE_RATE, begin, end,
                                        segment.text))
            parts.append(samples)
            length += samples.numel()
    pieces = [p for p in pieces if _piece_end(p) <= target]
    # cut after the last whole piece: audio past it would belong to no piece, and its tokens would be
    # counted as the last piece's errors
    return torch.cat(parts)[:_piece_end(pieces[-1]) if pieces else target], pieces


def _piece_end(piece: Piece) -> int:
    """Where ``piece`` ends in the stream, in samples."""
    return round(piece.offset * SAMPLE_RATE) + piece.end - piece.begin


def state_rms(state: Any) -> float:
    """Root mean square over every floating-point leaf of an encoder state."""
    from statecatcher.state import leaves

    floats = [leaf.detach().double() for leaf in leaves(state) if leaf.is_floating_point()]
    count = sum(leaf.numel() for leaf in floats)
    return math.sqrt(sum(float(leaf.square().sum()) for leaf in floats) / max(count, 1))


def stream_hour(transcriber: Any, samples: torch.Tensor, chunk_seconds: float) -> tuple[list[Any], list[float]]:
    """Stream ``samples`` with carried state: ``(tokens with times, state RMS after every chunk)``."""
    transcriber.reset()
    step = int(chunk_seconds * SAMPLE_RATE)
    rms: list[float] = []
    for begin in range(0, samples.numel(), step):
        transcriber.feed(samples[begin:begin + step])
        rms.append(state_rms(transcriber.state["encoder"]))
    transcriber.finish()
    return transcriber.transcript().tokens, rms


def texts_by_piece(tokens: list[Any], pieces: list[Piece], tokenizer: Any) -> list[str]:
    """The decoded text of every piece occurrence: the tokens emitted inside its span of the stream."""
    bounds = [p.offset for p in pieces[1:]] + [math.inf]
    ids: list[list[int]] = [[] for _ in pieces]
    index = 0
    for token in tokens:
        while index < len(pieces) - 1 and token.time >= bounds[index]:
            index += 1
        ids[index].append(token.id)
    return [tokenizer.decode(piece_ids) for piece_ids in ids]


def fresh_texts(transcriber: Any, episodes: list[tuple[str, torch.Tensor, list[Any]]], pieces: list[Piece],
                chunk_seconds: float) -> dict[str, str]:
    """Every distinct piece decoded alone, from a fresh state."""
    from statecatcher.decode.streaming import transcribe_waveform

    audio = {episode_id: samples for episode_id, samples, _ in episodes}
    out: dict[str, str] = {}
    for piece in pieces:
        if piece.key not in out:
            samples = audio[piece.key.rsplit("/", 1)[0]][piece.begin:piece.end]
            out[piece.key] = transcribe_waveform(transcriber, samples, chunk_seconds).text
    return out


def _minutes(values: list[float], per_minute: int) -> list[list[float]]:
    return [values[i:i + per_minute] for i in range(0, len(values), per_minute)]


def cer(pairs: list[tuple[str, str]]) -> float:
    """Character error rate of ``(reference, hypothesis)`` pairs, with the evaluator's normalisation."""
    from statecatcher.decode.evaluate import EvalReport

    report = EvalReport(mode="piece")
    for reference, hypothesis in pairs:
        report.add("long-form", reference, hypothesis)
    return report.cer


def measure(run: Path, episodes: list, samples: torch.Tensor, pieces: list[Piece], *, which: str,
            window_minutes: float, chunk_seconds: float) -> dict[str, Any]:
    """Everything this experiment reports for one trained model."""
    from statecatcher.decode.streaming import Transcriber

    started = time.perf_counter()
    transcriber = Transcriber.from_checkpoint(run, which=which)
    tokens, rms = stream_hour(transcriber, samples, chunk_seconds)
    in_stream = texts_by_piece(tokens, pieces, transcriber.tokenizer)
    fresh = fresh_texts(transcriber, episodes, pieces, chunk_seconds)
    window = max(1, int(window_minutes * 60 / chunk_seconds))
    last_start = samples.numel() / SAMPLE_RATE - window_minutes * 60
    late = [i for i, p in enumerate(pieces) if p.offset >= last_start]
    first_rms, last_rms = sum(rms[:window]) / len(rms[:window]), sum(rms[-window:]) / len(rms[-window:])
    result = {
        "run": str(run), "which": which, "encoder": transcriber.loaded.config.get("encoder", "?"),
        "stream_minutes": samples.numel() / SAMPLE_RATE / 60, "pieces": len(pieces),
        "rms_first": first_rms, "rms_last": last_rms, "rms_ratio": last_rms / max(first_rms, 1e-12),
        "cer_stream": cer([(p.text, t) for p, t in zip(pieces, in_stream, strict=True)]),
        "cer_fresh": cer([(p.text, fresh[p.key]) for p in pieces]),
        "cer_stream_last": cer([(pieces[i].text, in_stream[i]) for i in late]),
        "cer_fresh_last": cer([(pieces[i].text, fresh[pieces[i].key]) for i in late]),
        "rms_per_minute": [sum(minute) / len(minute) for minute in _minutes(rms, int(60 / chunk_seconds))],
        "seconds": time.perf_counter() - started,
    }
    result["passes"] = bool(result["rms_ratio"] <= 2.0
                            and result["cer_stream"] - result["cer_fresh"] <= 0.01
                            and result["cer_stream_last"] - result["cer_fresh_last"] <= 0.01)
    return result


def _label(run: Path) -> str:
    """A run's name: its folder, or the folder above a generic ``run``/``checkpoints`` one."""
    while run.name in ("run", "checkpoints", "best.pt", "last.pt") and run.parent != run:
        run = run.parent
    return run.name


def table(results: list[dict[str, Any]], window: float) -> str:
    head = (f"| model | state RMS, first / last {window:g} min | ratio (<= 2) | CER in stream / fresh, whole hour "
            f"| last {window:g} min | within 1 point |\n|---|---|---|---|---|---|")
    rows = [f"| {_label(Path(r['run']))} | {r['rms_first']:.3g} / {r['rms_last']:.3g} | {r['rms_ratio']:.2f} | "
            f"{r['cer_stream']:.1%} / {r['cer_fresh']:.1%} | {r['cer_stream_last']:.1%} / "
            f"{r['cer_fresh_last']:.1%} | {'yes' if r['passes'] else 'NO'} |" for r in results]
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.long_form", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (or checkpoints / packs)")
    parser.add_argument("--corpus", type=Path, required=True, help="a local corpus with test/dev episodes")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the stream (default 60)")
    parser.add_argument("--window", type=float, default=10.0, help="minutes compared at both ends (default 10)")
    parser.add_argument("--chunk-seconds", type=float, default=2.0, help="streaming chunk (default 2)")
    parser.add_argument("--best", action="store_true", help="use each run's best.pt instead of last.pt")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    episodes = held_out_episodes(args.corpus)
    samples, pieces = build_stream(episodes, args.minutes)
    print(f"long_form: {samples.numel() / SAMPLE_RATE / 60:.1f} min stream from {len(episodes)} held-out "
          f"episodes, {len(pieces)} pieces, {torch.get_num_threads()} torch thread(s)", flush=True)
    results = []
    for run in args.runs:
        results.append(measure(run, episodes, samples, pieces, which="best" if args.best else "last",
                               window_minutes=args.window, chunk_seconds=args.chunk_seconds))
        r = results[-1]
        print(f"  {run}: state RMS {r['rms_first']:.3g} -> {r['rms_last']:.3g} (x{r['rms_ratio']:.2f}), "
              f"CER stream {r['cer_stream']:.1%} vs fresh {r['cer_fresh']:.1%} ({r['seconds']:.0f} s)", flush=True)
    print(table(results, args.window))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"minutes": args.minutes, "window": args.window, "results": results},
                                       indent=1))
    return 0 if all(r["passes"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
