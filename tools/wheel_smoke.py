"""The user's first minutes, run by ``nox -s build`` in a venv that holds ONLY the built wheels.

    python tools/wheel_smoke.py WORK_DIR     # run with the wheel venv's python, from WORK_DIR

Checks that every package imports from site-packages (not from a source tree), that ``list-plugins`` shows
every plugin, that ``statecatcher run --encoder xlstm --loss rnnt`` trains 20 steps on a tiny synthetic
corpus (the embedded corpus of statecatcher-synth, 2 episodes of 1 min) and that ``transcribe`` writes a
transcript of its test episode.  Exits non-zero with the failing step on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

# a small model on short segments: 20 steps in about a minute on 2 CPU cores (the default sizes take ~30 s a step)
SMALL = ("--xlstm-hidden-dim", "64", "--rnnt-pred-dim", "64", "--rnnt-joiner-dim", "64", "--vocab-size", "64",
         "--segment-seconds", "4", "--min-segment-seconds", "2", "--max-segment-seconds", "8")


def statecatcher(work: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``statecatcher ARGS`` (the venv's console script) in ``work``; exit with its stderr on failure."""
    env = {**os.environ, "STATECATCHER_CACHE_DIR": str(work / "cache"), "STATECATCHER_CORPUS_EPISODES": "2",
           "STATECATCHER_CORPUS_MINUTES": "1", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "statecatcher"), *args], cwd=work, env=env,
                          capture_output=True, text=True)
    print(f"statecatcher {' '.join(args)}: exit {done.returncode} in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    if done.returncode != 0:
        sys.exit(f"wheel smoke test failed: statecatcher {' '.join(args)}\n{done.stderr[-4000:]}")
    return done


def main(work: Path) -> None:
    import importlib

    for name in ("statecatcher", *(ep.module for ep in metadata.entry_points(group="statecatcher"))):
        where = importlib.import_module(name).__file__
        if "site-packages" not in where:
            sys.exit(f"wheel smoke test failed: {name} imported from {where}, not from site-packages")
    listing = json.loads(statecatcher(work, "list-plugins", "--json").stdout)
    packages = {row["package"] for row in listing}
    plugins = {ep.dist.name for ep in metadata.entry_points(group="statecatcher")}
    if packages != plugins:
        sys.exit(f"wheel smoke test failed: list-plugins shows {sorted(packages)}, installed {sorted(plugins)}")
    summary = statecatcher(work, "run", "--encoder", "xlstm", "--loss", "rnnt", "--max-steps", "20", "--epochs", "50",
                           *SMALL, "--run-dir", "run").stderr
    if "trained 20 steps" not in summary:
        sys.exit(f"wheel smoke test failed: no 'trained 20 steps' in\n{summary}")
    [corpus] = (work / "cache").glob("corpus-*/*/manifest.jsonl")
    test = next(json.loads(line) for line in corpus.read_text().splitlines() if json.loads(line)["split"] == "test")
    statecatcher(work, "transcribe", "run", str(corpus.parent / test["audio"]), "--json", "transcript.json")
    transcript = json.loads((work / "transcript.json").read_text())
    print(f"wheel smoke test passed: {len(packages)} plugin packages; transcript keys {sorted(transcript)}",
          file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
