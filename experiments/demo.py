"""The README's demo (``nox -s demo``), one training seed at a time: synthesize the corpus, serve it over HTTP,
train ``--preset cpu-demo``, transcribe a test episode, evaluate the best checkpoint on the test split.

    python -m experiments.demo --out runs/demo                 # what nox -s demo runs
    python -m experiments.demo --out DIR --seed 1              # another training seed, same corpus
    python -m experiments.demo --out DIR --quick               # tiny corpus and 30 steps: the machinery only

The corpus is always ``synth-corpus --seed 0`` (synthesis is seeded); ``--seed`` seeds the training run:
data order, initialisation and feature statistics.  Written to ``OUT``: ``corpus/`` (kept and reused when
present), ``run/``, ``transcript.json``, ``eval.json`` and ``eval-stateless.json`` (held-out WER/CER with the
carried state, then resetting it every segment).  Runs the ``statecatcher`` next to this Python.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

CORPUS = ["--episodes", "32", "--minutes", "3.5-4.5", "--seed", "0"]  # ~134 min: 22 train, 5 dev, 5 test
STEPS = 2000  # one lane, the cpu-demo preset (rwkv7): ~4-5 min of training on 2 idle cores
QUICK_CORPUS = ["--episodes", "4", "--minutes", "0.3-0.4", "--seed", "0"]  # 2 train, 1 dev, 1 test
QUICK_STEPS = 30


def statecatcher(*args: str, env: dict[str, str] | None = None) -> None:
    """Run ``statecatcher ARGS`` (the one installed beside this Python); raises on a non-zero exit."""
    command = [str(Path(sys.executable).parent / "statecatcher"), *args]
    print("+ statecatcher " + " ".join(args), flush=True)
    subprocess.run(command, check=True, env={**os.environ, **(env or {})})


def ensure_corpus(corpus: Path, *, quick: bool = False) -> Path:
    """The demo corpus at ``corpus``, synthesized unless its manifest is already there."""
    if not (corpus / "manifest.jsonl").exists():
        statecatcher("synth-corpus", "--out", str(corpus), *(QUICK_CORPUS if quick else CORPUS))
    return corpus


def train_over_http(corpus: Path, run_dir: Path, cache: Path, *, seed: int, quick: bool) -> float:
    """Serve ``corpus`` on loopback and train ``--preset cpu-demo`` from it; returns the wall seconds."""
    key = secrets.token_hex(16)
    env = {"STATECATCHER_API_KEY": key}
    server = subprocess.Popen([str(Path(sys.executable).parent / "statecatcher"), "serve", str(corpus),
                               "--api-key", key, "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **env})
    try:
        url = server.stdout.readline().split()[-1]  # "serving CORPUS at http://127.0.0.1:PORT"
        started = time.monotonic()
        statecatcher("run", "--preset", "cpu-demo", "--data", f"speechcatcher:{url}", "--data-opt", "split_by=server",
                     "--data-opt", f"cache_dir={cache}", "--run-dir", str(run_dir), "--seed", str(seed),
                     "--max-steps", str(QUICK_STEPS if quick else STEPS), "--epochs", "1000",
                     *(["--eval-every", "10", "--checkpoint-every", "10"] if quick else []), env=env)
        return time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_demo(out: Path, *, seed: int = 0, corpus: Path | None = None, quick: bool = False,
             plot: bool = True) -> dict:
    """The whole demo into ``out`` (corpus shared when ``corpus`` is given); returns ``{seed, train_seconds,
    test: {wer, cer, ref_words}, test_stateless: {...}, best: {step, dev_wer, dev_cer}}``."""
    out = Path(out).resolve()
    corpus = ensure_corpus(Path(corpus).resolve() if corpus else out / "corpus", quick=quick)
    run_dir = out / "run"
    train_seconds = train_over_http(corpus, run_dir, out / "data-cache", seed=seed, quick=quick)
    test_audio = next(json.loads(line)["audio"] for line in (corpus / "manifest.jsonl").read_text().splitlines()
                      if json.loads(line)["split"] == "test")
    statecatcher("transcribe", str(run_dir), str(corpus / test_audio), "--best", "--json", str(out / "transcript.json"))
    scores = {}
    for name, extra in (("test", []), ("test_stateless", ["--stateless"])):
        report = out / f"eval{'-stateless' if extra else ''}.json"
        statecatcher("eval", str(run_dir), "--best", "--data", f"local:{corpus}", "--split", "test",
                     "--mode", "segment", "--report", str(report), *extra)
        (segment,) = json.loads(report.read_text())
        scores[name] = {"wer": segment["wer"], "cer": segment["cer"], "ref_words": segment["words"]["ref_words"]}
    if plot:
        statecatcher("plot", str(run_dir))
    return {"seed": seed, "train_seconds": round(train_seconds, 1), **scores, "best": best_checkpoint(run_dir)}


def best_checkpoint(run_dir: Path) -> dict:
    """Step, dev WER and dev CER of the best validation in ``run_dir/metrics.jsonl``."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    dev = [row for row in rows if "dev_wer" in row]
    if not dev:
        raise RuntimeError(f"{run_dir / 'metrics.jsonl'}: no validation row (dev_wer)")
    best = min(dev, key=lambda row: (row["dev_wer"], row["dev_cer"]))
    return {"step": best["step"], "dev_wer": best["dev_wer"], "dev_cer": best["dev_cer"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the corpus is always seed 0)")
    parser.add_argument("--quick", action="store_true", help="tiny corpus, 30 steps: checks the machinery only")
    args = parser.parse_args(argv)
    result = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"demo seed {result['seed']}: held-out WER {result['test']['wer']:.1%} / CER {result['test']['cer']:.1%} "
          f"(state reset every segment: {result['test_stateless']['wer']:.1%} / "
          f"{result['test_stateless']['cer']:.1%}), training {result['train_seconds']:.0f} s")


if __name__ == "__main__":
    main()
