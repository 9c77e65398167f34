"""Precision and recall of every label filter on a labelled set of corrupted transcript segments.

    python benchmarks/bench_filters.py            # both corpora, a model trained for the loss detector (~4 min)
    python benchmarks/bench_filters.py --small    # fewer recordings and steps (~3 min on 2 busy CPU cores)

Corpora: tone-word recordings (:mod:`statecatcher.testing.dummies`) and, when the synth plugin is installed,
the experiment's synthetic podcast corpus (4 episodes, cached) split into its sentences (Whisper-sized
segments).  A quarter of the transcript segments are corrupted (:mod:`statecatcher.filters.corrupt`: looped
phrases, text over muted audio, swapped texts, invented outros), the rest are clean.  Each transcript segment
is judged alone.  Text and audio detectors need no model; the model detector (``loss_outlier``) scores each
segment's per-token CTC loss under a small LSTM + CTC model trained with the filters on the corrupted dummy
corpus (or ``--model RUN_DIR``), as a robust z-score against the segments the other detectors accept.
``rate_outlier`` judges the segments online, in recording order, after a warm-up of ``WARMUP`` segments.
"combined" flags a segment if any detector does; its recall must reach 90% with at most 5% of the clean
segments flagged.  Results and their reading: docs/filters.md.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

from statecatcher.data.fbank import fbank, span_samples
from statecatcher.data.features import FeatureConfig
from statecatcher.data.segmenter import TrainingSegment
from statecatcher.filters import DEFAULT_FILTERS, FilterStage
from statecatcher.filters.corrupt import corrupt_recordings, segment_labels
from statecatcher.filters.experiment import run_config, sentence_recordings
from statecatcher.filters.experiment import synth_corpus as synth_corpus_path
from statecatcher.filters.model import LossOutlier
from statecatcher.testing.dummies import make_recordings, write_local_corpus

SHARE = 0.25  # corrupted share of the transcript segments
WARMUP = 20  # segments the rate detector collects first (a run has thousands; these corpora a few hundred)
TEXT_FILTERS = [name for name in DEFAULT_FILTERS if name != "loss_outlier"]
Key = tuple[str, int]  # (recording id, transcript segment index)


def dummy_corpus(count: int, seed: int):
    recordings = make_recordings(count, min_duration=15.0, max_duration=40.0, seed=seed, prefix="train")
    corrupted, corruptions = corrupt_recordings(recordings, share=SHARE, seed=seed)
    return corrupted, segment_labels(corrupted, corruptions)


def synth_corpus(seed: int):
    """The experiment's synthetic corpus (built once, cached), each turn split into its sentences."""
    try:
        recordings = sentence_recordings(synth_corpus_path())
    except ImportError:  # statecatcher-synth is not installed
        return None
    corrupted, corruptions = corrupt_recordings(recordings, share=SHARE, seed=seed)
    return corrupted, segment_labels(corrupted, corruptions)


def text_verdicts(recordings) -> dict[str, set[Key]]:
    """Detector name -> the transcript segments it rejects, each judged alone (with its recording's audio)."""
    stage = FilterStage.from_config(TEXT_FILTERS, {"rate_outlier": {"warmup": WARMUP}})
    flagged: dict[str, set[Key]] = defaultdict(set)
    for recording in recordings:
        waveform = recording.load_audio()
        for i, segment in enumerate(recording.segments):
            alone = TrainingSegment(0, segment.start, segment.end, segment.text, transcript_indices=(i,))
            for rejection in stage.judge(recording, alone, waveform).rejections:
                flagged[rejection.detector].add((recording.id, i))
    return flagged


def token_losses(run_dir: Path, recordings) -> dict[Key, float]:
    """Per-token CTC loss of every transcript segment, its audio alone from the initial state."""
    from statecatcher.decode.pack import load_model

    loaded = load_model(run_dir)
    features: FeatureConfig = loaded.features
    losses = {}
    with torch.no_grad():
        for recording in recordings:
            waveform = recording.load_audio().numpy()
            for i, segment in enumerate(recording.segments):
                first = round(segment.start / features.frame_shift) * features.hop_samples
                last = round(segment.end / features.frame_shift) * features.hop_samples
                feats = torch.from_numpy(fbank(span_samples(waveform, first, last, features), features))[None]
                ids = loaded.tokenizer.encode(loaded.normalizer(segment.text))
                if not ids or not len(feats[0]):
                    continue
                loss, _, _ = loaded.model(feats, torch.tensor([feats.shape[1]]), torch.tensor([ids]),
                                          torch.tensor([len(ids)]), loaded.model.init_state(1))
                losses[(recording.id, i)] = float(loss[0]) / len(ids)
    return losses


def model_verdicts(run_dir: Path, recordings, accepted: set[Key]) -> set[Key]:
    """The segments whose per-token loss is a robust outlier against the segments the text detectors accept."""
    losses = token_losses(run_dir, recordings)
    detector = LossOutlier()
    detector.recent.extend(loss for key, loss in losses.items() if key in accepted)
    return {key for key, loss in losses.items() if detector.z_score(loss) > detector.threshold}


def scores(flagged: set[Key], labels: dict[Key, str]) -> dict[str, float]:
    corrupted = {key for key, kind in labels.items() if kind != "clean"}
    clean = set(labels) - corrupted
    row = {"precision": len(flagged & corrupted) / max(len(flagged), 1),
           "recall": len(flagged & corrupted) / max(len(corrupted), 1),
           "clean_flagged": len(flagged & clean) / max(len(clean), 1)}
    for kind in sorted(set(labels.values()) - {"clean"}):
        of_kind = {key for key, k in labels.items() if k == kind}
        row[f"recall_{kind}"] = len(flagged & of_kind) / len(of_kind)
    return row


def bench_corpus(name: str, recordings, labels: dict[Key, str], run_dir: Path | None) -> dict[str, dict]:
    flagged = text_verdicts(recordings)
    combined = set().union(*flagged.values())
    if run_dir is not None:
        flagged["loss_outlier"] = model_verdicts(run_dir, recordings, set(labels) - combined)
        combined |= flagged["loss_outlier"]
    table = {detector: scores(flagged.get(detector, set()), labels) for detector in [*TEXT_FILTERS, "loss_outlier"]
             if detector in flagged or detector != "loss_outlier"}
    table["combined"] = scores(combined, labels)
    counts = {kind: sum(k == kind for k in labels.values()) for kind in sorted(set(labels.values()))}
    print(f"\n{name}: {len(labels)} transcript segments {counts}")
    kinds = [k for k in table["combined"] if k.startswith("recall_")]
    print(f"{'detector':18s} {'precision':>9s} {'recall':>7s} {'clean':>6s} " + " ".join(f"{k[7:]:>8s}" for k in kinds))
    for detector, row in table.items():
        print(f"{detector:18s} {row['precision']:9.1%} {row['recall']:7.1%} {row['clean_flagged']:6.1%} "
              + " ".join(f"{row[k]:8.1%}" for k in kinds))
    return table


def bench_filters(small: bool = False, *, seed: int = 0, model_dir: str | Path | None = None) -> dict:
    """Print and return ``{corpus: {detector: {precision, recall, clean_flagged, recall_<kind>...}}}``.

    ``model_dir``: a run trained on tone words (e.g. the experiment's ``filtered`` run) to score the losses
    with, instead of training one here on the corrupted corpus.
    """
    from statecatcher.train.loop import train

    torch.manual_seed(seed)
    results = {}
    recordings, labels = dummy_corpus(12 if small else 24, seed + 100)
    with tempfile.TemporaryDirectory(prefix="bench-filters-") as tmp:
        if model_dir is None:
            corpus = write_local_corpus(Path(tmp) / "corpus", recordings)
            model_dir = Path(tmp) / "run"
            train(run_config(corpus, model_dir, steps=150 if small else 250, seed=seed, filters=True))
        results["dummy"] = bench_corpus("tone-word corpus (text + audio + model detectors)", recordings, labels,
                                        Path(model_dir))
    synth = synth_corpus(seed)
    if synth is not None:
        results["synth"] = bench_corpus("synthetic speech, sentence segments (text + audio detectors)", *synth, None)
    combined = results["dummy"]["combined"]
    verdict = "PASS" if combined["recall"] >= 0.9 and combined["clean_flagged"] <= 0.05 else "FAIL"
    print(f"\ncombined filter on the tone-word corpus: recall {combined['recall']:.1%}, clean flagged "
          f"{combined['clean_flagged']:.1%} -> {verdict} (target: recall >= 90%, clean flagged <= 5%)")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="fewer recordings and training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="a run dir trained on tone words to score losses with (else one is trained)")
    args, _ = parser.parse_known_args()
    bench_filters(small=args.small, seed=args.seed, model_dir=args.model)
