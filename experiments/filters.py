"""Does filtering pay?  Train on corrupted labels with and without the label filters, compare the WER.

    python -m experiments.filters --out runs/filter-experiment     # 3 seeds x 2 x 2000 steps, ~20 min on CPU
    python -m experiments.filters --out DIR --steps 300 --seed 1   # one seed, quicker (both stay at ~100% WER)

The corpus is a small synthetic speech corpus (statecatcher-synth: 4 episodes of 1-1.5 min, seed 1234, 2
of them for training; built on first use and cached), its speaker turns split into their sentences
(Whisper-sized segments).
``--share`` of the training split's transcript segments are corrupted (:mod:`experiments.corrupt`:
looped phrases, text over muted audio, swapped texts, invented outros).  Both runs share seed, model (a
small LSTM + CTC), data order and steps; the filtered run uses every built-in filter (``DEFAULT_FILTERS``).
At this size a CPU model cannot generalise to unseen episodes, so both are scored on the audio they trained
on against its *clean* transcripts: how much of the corruption the model learnt.  Written to ``OUT``:
``corpus/`` (corrupted), ``clean/`` (the reference), ``baseline/`` and ``filtered/`` (run dirs) and
``results.json``; the table is printed.  Needs the lstm, ctc, sentencepiece and synth plugins.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from experiments.corpus import synth_corpus
from experiments.corrupt import corrupt_recordings, segment_labels, sentence_segments
from experiments.recipe import decode, open_model, run_config
from experiments.tables import spread
from statecatcher.data.segmenter import SegmenterConfig, segment_recording
from statecatcher.filters import DEFAULT_FILTERS
from statecatcher.filters.report import read_report
from statecatcher.records import Recording
from statecatcher.testing.dummies import write_local_corpus

SEGMENTER = SegmenterConfig(segment_seconds=5.0, min_seconds=2.0, max_seconds=10.0)


def sentence_recordings(corpus: Path) -> list[Recording]:
    """Every recording of a synthetic corpus (local layout), each speaker turn split into its sentences."""
    from statecatcher.plugins import get

    source = get("data_source", "local").create(str(corpus), shuffle=False)
    recordings = []
    for split in ("train", "dev", "test"):
        for recording in source.recordings(split):
            turns = json.loads((corpus / f"{recording.id}.json").read_text())["segments"]
            recordings.append(sentence_segments(recording.loaded(), [turn["sentences"] for turn in turns]))
    return recordings


def build_corpus(out: Path, *, share: float, seed: int) -> tuple[Path, Path, dict[tuple[str, int], str]]:
    """The training split corrupted (``out/corpus``) and clean (``out/clean``); returns both paths and the
    label (``"clean"`` or the corruption kind) of every training transcript segment."""
    train = [r for r in sentence_recordings(synth_corpus()) if r.meta.get("split") == "train"]
    corrupted, corruptions = corrupt_recordings(train, share=share, seed=seed)
    return (write_local_corpus(out / "corpus", corrupted), write_local_corpus(out / "clean", train),
            segment_labels(corrupted, corruptions))


def filter_run_config(corpus: Path, run_dir: Path, *, steps: int, seed: int, filters: bool) -> Any:
    """The shared recipe (experiments/recipe.py): LSTM 2 x 96 + CTC, two lanes, 5 warm-up steps; with
    ``filters`` every built-in label filter on."""
    return run_config(corpus, run_dir, segmenter=SEGMENTER, steps=steps, seed=seed, encoder="lstm", loss="ctc",
                      encoder_options={"hidden_dim": 96, "num_layers": 2}, batch_size=2, warmup_steps=5,
                      label_filters=list(DEFAULT_FILTERS) if filters else [],
                      filter_options={"loss_outlier": {"warmup": 100, "window": 200}} if filters else {})


def filter_quality(corpus: Path, run_dir: Path, labels: dict[tuple[str, int], str]) -> dict[str, float]:
    """Precision and recall of the filters over training segments (corrupted: any transcript segment is),
    counting a segment as flagged if any detector rejected it at any step."""
    from statecatcher.plugins import get

    source = get("data_source", "local").create(str(corpus))
    corrupted, total = set(), 0
    for recording in source.recordings("train"):
        for segment in segment_recording(recording, SEGMENTER):
            total += 1
            if any(labels[(recording.id, i)] != "clean" for i in segment.transcript_indices):
                corrupted.add((recording.id, segment.index))
    flagged = {(row["recording_id"], row["segment_index"]) for row in read_report(run_dir)}
    hits = len(flagged & corrupted)
    return {"training_segments": total, "corrupted": len(corrupted), "flagged": len(flagged),
            "precision": hits / max(len(flagged), 1), "recall": hits / max(len(corrupted), 1),
            "clean_flagged_share": len(flagged - corrupted) / max(total - len(corrupted), 1)}


def evaluate(clean: Path, run_dir: Path) -> dict[str, float]:
    """WER and CER of ``run_dir``'s model on the training audio against its clean transcripts."""
    loaded, source = open_model(run_dir, clean)
    whole = decode(loaded, source, split="train", how="recording", segmenter=SEGMENTER)
    segments = decode(loaded, source, split="train", how="segment_carried", segmenter=SEGMENTER)
    return {"wer_recording": whole.wer, "cer_recording": whole.cer, "wer_segment": segments.wer,
            "cer_segment": segments.cer}


def run_experiment(out: str | Path, *, steps: int = 2000, share: float = 0.2, seed: int = 0) -> dict[str, Any]:
    """Build the corpus, train baseline and filtered runs, evaluate both; returns (and writes) the results."""
    from statecatcher.train.loop import train

    out = Path(out)
    corpus, clean, labels = build_corpus(out, share=share, seed=seed)
    kinds = sorted(set(labels.values()))
    results: dict[str, Any] = {
        "steps": steps, "share": share, "seed": seed,
        "transcript_segments": {kind: sum(v == kind for v in labels.values()) for kind in kinds},
    }
    for name, filters in (("baseline", False), ("filtered", True)):
        summary = train(filter_run_config(corpus, out / name, steps=steps, seed=seed, filters=filters))
        results[name] = {**evaluate(clean, out / name), "final_loss": summary.losses[-1],
                         "train_seconds": round(summary.wall_seconds, 1)}
        if filters:
            results[name]["filters"] = filter_quality(corpus, out / name, labels)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def print_results(results: dict[str, Any]) -> None:
    print(f"seed {results['seed']}: {results['transcript_segments']} transcript segments (train); "
          f"{results['steps']} steps per run")
    for name in ("baseline", "filtered"):
        r = results[name]
        print(f"{name:9s} WER {r['wer_recording']:.1%} (whole recordings)  {r['wer_segment']:.1%} (segments)  "
              f"CER {r['cer_recording']:.1%}  final loss {r['final_loss']:.3f}  {r['train_seconds']:.0f} s")
    quality = results["filtered"]["filters"]
    print(f"filters in training: recall {quality['recall']:.1%} of {quality['corrupted']} corrupted training "
          f"segments, precision {quality['precision']:.1%}, clean flagged {quality['clean_flagged_share']:.1%}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.filters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory (corpus, runs, results.json)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of each run")
    parser.add_argument("--share", type=float, default=0.2, help="share of corrupted transcript segments")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3), each in OUT/seedN: "
                                                             "median and range")
    parser.add_argument("--seed", type=int, help="one seed only, written to OUT itself")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.seed is not None:
        print_results(run_experiment(args.out, steps=args.steps, share=args.share, seed=args.seed))
        return
    runs = [run_experiment(Path(args.out) / f"seed{seed}", steps=args.steps, share=args.share, seed=seed)
            for seed in range(args.seeds)]
    for results in runs:
        print_results(results)
    for name in ("baseline", "filtered"):
        s = spread(run[name]["wer_recording"] for run in runs)
        print(f"{name:9s} WER over {s['n']} seeds: median {s['median']:.1%} (range {s['min']:.1%}-{s['max']:.1%})")


if __name__ == "__main__":
    main()
