"""The README's demo (``nox -s demo``), one training seed at a time: synthesize the corpus, serve it over HTTP,
train ``--preset cpu-demo``, transcribe a test episode, evaluate the best checkpoint on the test split.

    python -m experiments.demo --out runs/demo                 # what nox -s demo runs
    python -m experiments.demo --out DIR --seed 1              # another training seed, same corpus
    python -m experiments.demo --out DIR --quick               # tiny corpus and 30 steps: the machinery only

The corpus is always ``synth-corpus --seed 0`` (synthesis is seeded); ``--seed`` seeds the training run:
data order, initialisation and feature statistics.  Written to ``OUT``: ``corpus/`` (kept and reused when
present), ``run/`` (with ``run/lm.arpa``, the word LM from the train split), ``transcript.json``, ``eval.json``,
``eval-stateless.json`` and ``eval-lm.json`` (held-out WER/CER: greedy with the carried state, greedy resetting it
every segment, beam search with the word LM).  Runs the ``statecatcher`` next to this Python.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.corpus import DEMO_CORPUS, ensure_corpus, manifest_rows
from experiments.runner import STATECATCHER, statecatcher
from statecatcher.jsonl import read_jsonl

CORPUS = ["--episodes", str(DEMO_CORPUS["episodes"]), "--minutes", "{:g}-{:g}".format(*DEMO_CORPUS["minutes"]),
          "--seed", str(DEMO_CORPUS["seed"]), "--segments", DEMO_CORPUS["segments"]]
# one lane, the cpu-demo preset (rwkv7): ~5 min of training on 2 idle cores, ~9 h of lane-audio (a step carries
# ~8 s of the sentence-segmented corpus; 2,000 steps carried ~16 s each of the turn-segmented one until 2026-12-04)
STEPS = 4000
QUICK_CORPUS = ["--episodes", "4", "--minutes", "0.3-0.4", "--seed", "0"]  # 2 train, 1 dev, 1 test
QUICK_STEPS = 30
# beam search with the run's 3-gram word LM (`statecatcher lm train`, the train split's transcripts); weight and
# bonus chosen on the dev split of training seed 0 (docs/recipes.md, "Decoding with the word LM")
LM_ORDER = "3"
LM_DECODING = ["--decoder", "beam", "--beam-size", "8", "--lm-weight", "0.4", "--word-bonus", "1.5"]
PLATEAU_CER = 0.8  # the recipe's plateau target: dev CER below this within the first 3,000 audio-seconds


@contextmanager
def served(corpus: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``statecatcher serve corpus`` on loopback with a fresh API key; yields ``(url, env)`` for the client."""
    key = secrets.token_hex(16)
    env = {"STATECATCHER_API_KEY": key}
    server = subprocess.Popen([STATECATCHER, "serve", str(corpus),
                               "--api-key", key, "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **env})
    try:
        yield server.stdout.readline().split()[-1], env  # "serving CORPUS at http://127.0.0.1:PORT"
    finally:
        server.terminate()
        server.wait(timeout=30)


def train_over_http(corpus: Path, run_dir: Path, cache: Path, *, seed: int, quick: bool) -> float:
    """Serve ``corpus`` on loopback, train ``--preset cpu-demo`` from it and estimate the run's word LM from
    the server's train split; returns the training wall seconds."""
    with served(corpus) as (url, env):
        started = time.monotonic()
        statecatcher("run", "--preset", "cpu-demo", "--data", f"speechcatcher:{url}", "--data-opt", "split_by=server",
                     "--data-opt", f"cache_dir={cache}", "--run-dir", str(run_dir), "--seed", str(seed),
                     "--max-steps", str(QUICK_STEPS if quick else STEPS), "--epochs", "1000",
                     *(["--eval-every", "10", "--checkpoint-every", "10"] if quick else []), env=env)
        seconds = time.monotonic() - started
        statecatcher("lm", "train", str(run_dir), "--order", LM_ORDER, env=env)
        return seconds


def run_demo(out: Path, *, seed: int = 0, corpus: Path | None = None, quick: bool = False,
             plot: bool = True) -> dict:
    """The whole demo into ``out`` (corpus shared when ``corpus`` is given); returns ``{seed, train_seconds,
    test: {wer, cer, ref_words}, test_stateless: {...}, best: {step, dev_wer, dev_cer}}``."""
    out = Path(out).resolve()
    corpus = ensure_corpus(Path(corpus).resolve() if corpus else out / "corpus", QUICK_CORPUS if quick else CORPUS)
    run_dir = out / "run"
    train_seconds = train_over_http(corpus, run_dir, out / "data-cache", seed=seed, quick=quick)
    test_audio = next(row["audio"] for row in manifest_rows(corpus) if row["split"] == "test")
    statecatcher("transcribe", str(run_dir), str(corpus / test_audio), "--best", "--json", str(out / "transcript.json"))
    scores = held_out_scores(run_dir, corpus, out, {"test": [], "test_stateless": ["--stateless"],
                                                    "test_lm": LM_DECODING})
    if plot:
        statecatcher("plot", str(run_dir))
    return {"seed": seed, "train_seconds": round(train_seconds, 1), **scores, "best": best_checkpoint(run_dir),
            "plateau": plateau_exit(run_dir)}


def held_out_scores(run_dir: Path, corpus: Path, out: Path, decodes: dict[str, list[str]]) -> dict[str, dict]:
    """``{name: {wer, cer, ref_words}}``: ``statecatcher eval RUN_DIR --best`` on ``corpus``'s test split, segment
    mode, once per ``decodes`` entry (``name: extra eval flags``); each report is ``out/eval[-SUFFIX].json``, the
    suffix being the name after ``test`` (``test_lm`` -> ``eval-lm.json``)."""
    scores = {}
    for name, extra in decodes.items():
        suffix = name.removeprefix("test").replace("_", "-")
        report = out / f"eval{suffix}.json"
        statecatcher("eval", str(run_dir), "--best", "--data", f"local:{corpus}", "--split", "test",
                     "--mode", "segment", "--report", str(report), *extra)
        (segment,) = json.loads(report.read_text())
        scores[name] = {"wer": segment["wer"], "cer": segment["cer"], "ref_words": segment["words"]["ref_words"]}
    return scores


def experiment_parser(prog: str, description: str, *, out: str, corpus_seed: int,
                      quick: str) -> argparse.ArgumentParser:
    """The command line the demo and the recipe benchmark share: ``--out``, ``--seed`` (training), ``--quick``."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(out), help="output directory")
    parser.add_argument("--seed", type=int, default=0,
                        help=f"training seed (the corpus is always seed {corpus_seed})")
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def metric_rows(run_dir: Path) -> tuple[list[dict], list[dict]]:
    """``run_dir/metrics.jsonl`` split into training rows (with ``audio_hours``) and validation rows."""
    rows = read_jsonl(run_dir / "metrics.jsonl", "no metrics: not a run directory")
    dev = [row for row in rows if "dev_wer" in row]
    if not dev:
        raise RuntimeError(f"{run_dir / 'metrics.jsonl'}: no validation row (dev_wer)")
    return [row for row in rows if "audio_hours" in row], dev


def best_checkpoint(run_dir: Path) -> dict:
    """Step, dev WER and dev CER of the best validation in ``run_dir/metrics.jsonl``."""
    best = min(metric_rows(run_dir)[1], key=lambda row: (row["dev_wer"], row["dev_cer"]))
    return {"step": best["step"], "dev_wer": best["dev_wer"], "dev_cer": best["dev_cer"]}


def plateau_exit(run_dir: Path) -> dict | None:
    """The first validation with dev CER below :data:`PLATEAU_CER`: its step, dev CER and the audio seconds
    trained by then (from the last training row at or before that step); None when no validation got there."""
    train, dev = metric_rows(run_dir)
    first = next((row for row in dev if row["dev_cer"] < PLATEAU_CER), None)
    if first is None:
        return None
    hours = max((row["audio_hours"] for row in train if row["step"] <= first["step"]), default=0.0)
    return {"step": first["step"], "dev_cer": first["dev_cer"], "audio_seconds": round(hours * 3600.0, 1)}


def main(argv: list[str] | None = None) -> None:
    args = experiment_parser("python -m experiments.demo", __doc__, out="runs/demo", corpus_seed=DEMO_CORPUS["seed"],
                             quick="tiny corpus, 30 steps: checks the machinery only").parse_args(argv)
    result = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"demo seed {result['seed']}: held-out WER {result['test']['wer']:.1%} / CER {result['test']['cer']:.1%} "
          f"(state reset every segment: {result['test_stateless']['wer']:.1%} / "
          f"{result['test_stateless']['cer']:.1%}; beam + word LM: {result['test_lm']['wer']:.1%} / "
          f"{result['test_lm']['cer']:.1%}), training {result['train_seconds']:.0f} s")


if __name__ == "__main__":
    main()
