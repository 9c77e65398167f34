"""``nox -s results``: measure every published table from one clean run, write its JSON, render the docs.

    python -m experiments.results                      # demo, filters-bench, performance; 3 seeds (~35 min)
    python -m experiments.results all                  # and the filter experiment (~15-20 min more)
    python -m experiments.results demo --seeds 5       # some tables
    python -m experiments.results --render-only        # re-render the docs from results/*.json
    python -m experiments.results --quick              # tiny sizes into runs/results-quick/: the machinery only

Each table of :data:`experiments.tables.TABLES` is produced by one function below and written to
``results/<table>.json`` with the date, the command, the machine (CPU, cores, torch and its thread count) and
what could not be made deterministic; then every ``<!-- results:NAME -->`` block of RESULTS.md and the docs is
rendered from its JSON.  ``--quick`` writes its JSON to ``runs/results-quick/results`` and renders nothing.
Training runs go under ``--work`` (default ``runs/results``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from experiments.machine import machine_info
from experiments.tables import RESULTS_DIR, ROOT, render, render_docs, write_json

THREADS = 1  # torch threads of every training and scoring run here (the demo preset and run_config set 1 too)
PRODUCED = ("demo", "filters-bench", "filter-experiment", "performance")  # filters-summary: filters-bench's JSON
# what a plain run measures: ~35 minutes on 2 idle cores; the filter experiment adds ~15-20 (name it, or "all")
DEFAULT = ("demo", "filters-bench", "performance")
NOT_DETERMINISTIC = {
    "demo": "nothing known on one machine: the demo's numbers repeat to the last digit (seeded corpus, data order, "
            "initialisation; one torch thread); another CPU type or torch build may round differently and train "
            "other models, so compare medians and ranges. Wall times depend on the machine and its load.",
    "filter-experiment": "nothing known on one machine (seeded, one torch thread); another CPU type or torch build "
                         "may round differently.",
    "performance": "everything: these are timings, they depend on the machine and on what else runs on it; compare "
                   "ratios within one run.",
}


def produce_demo(seeds: list[int], work: Path, quick: bool) -> dict[str, Any]:
    from experiments.demo import run_demo

    runs = []
    for seed in seeds:
        runs.append(run_demo(work / "demo" / f"seed{seed}", seed=seed, corpus=work / "demo" / "corpus", quick=quick,
                             plot=False))
    return {"seeds": seeds, "runs": runs}


def produce_filters_bench(seeds: list[int], work: Path, quick: bool) -> dict[str, Any]:
    """``benchmarks/bench_filters.py`` in its own process (it sets its own torch threads)."""
    out = work / "filters-bench.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_filters.py"), "--seeds", str(len(seeds)),
                    "--json", str(out), *(["--small"] if quick else [])], check=True, cwd=ROOT)
    return {k: v for k, v in json.loads(out.read_text()).items() if k != "machine"}


def produce_filter_experiment(seeds: list[int], work: Path, quick: bool) -> dict[str, Any]:
    from experiments.filters import run_experiment

    steps = 20 if quick else 2000
    return {"steps": steps, "runs": [run_experiment(work / "filter-experiment" / f"seed{seed}", steps=steps, seed=seed)
                                     for seed in seeds]}


def produce_performance(seeds: list[int], work: Path, quick: bool) -> dict[str, Any]:
    """``python -m benchmarks`` (every row, each in its own process); timings, so one run, not seeds."""
    out = work / "performance.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--out", str(out), *(["--small"] if quick else [])],
                          cwd=ROOT)
    if not out.exists():
        raise RuntimeError(f"python -m benchmarks wrote no report (exit status {done.returncode})")
    report = json.loads(out.read_text())
    failed = [row for row, outcome in report["rows"].items() if "error" in outcome]
    if done.returncode != 0 or failed:  # a table with an "error" row is not a result: keep the published one
        raise RuntimeError(f"python -m benchmarks: row(s) {', '.join(failed) or '(bad ratios)'} failed (exit status "
                           f"{done.returncode}); its report is {out}; the published table is unchanged")
    return {k: v for k, v in report.items() if k not in ("machine", "started")}


PRODUCERS = {"demo": produce_demo, "filters-bench": produce_filters_bench,
             "filter-experiment": produce_filter_experiment, "performance": produce_performance}


def produce(name: str, seeds: list[int], work: Path, quick: bool, results_dir: Path, command: str) -> Path:
    """Run table ``name``'s producer and write its JSON (with date, command, machine, threads, wall seconds)."""
    import torch

    torch.set_num_threads(THREADS)
    started, clock = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.monotonic()
    print(f"=== results: {name}, seeds {seeds}{' (quick)' if quick else ''}", flush=True)
    data = PRODUCERS[name](seeds, work, quick)
    data = {"started": started, "command": command, "machine": machine_info(), "quick": quick,
            "wall_seconds": round(time.monotonic() - clock, 1),
            "nondeterministic": data.get("nondeterministic") or NOT_DETERMINISTIC.get(name, ""), **data}
    path = write_json(data, name, results_dir)
    print(f"=== results: {name} done in {data['wall_seconds']:.0f} s, wrote {path}", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="*", metavar="TABLE",
                        help=f"tables to measure: {', '.join(PRODUCED)} or all (default {', '.join(DEFAULT)})")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 of every seeded table (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes into runs/results-quick; renders nothing")
    parser.add_argument("--render-only", action="store_true", help="only re-render the docs from results/*.json")
    parser.add_argument("--work", type=Path, help="training runs (default runs/results, runs/results-quick)")
    args = parser.parse_args(argv)
    tables = list(PRODUCED) if args.tables == ["all"] else args.tables or list(DEFAULT)
    unknown = [name for name in tables if name not in PRODUCED]
    if unknown or args.seeds < 1:
        parser.error(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(PRODUCED)}" if unknown
                     else f"--seeds must be >= 1, got {args.seeds}")
    work = (args.work or ROOT / "runs" / ("results-quick" if args.quick else "results")).resolve()
    results_dir = work / "results" if args.quick else RESULTS_DIR
    command = shlex.join(["python", "-m", "experiments.results", *(argv if argv is not None else sys.argv[1:])])
    if not args.render_only:
        for name in tables:
            produce(name, list(range(args.seeds)), work, args.quick, results_dir, command)
    if args.quick:
        for name in tables:
            print(f"\n<!-- results:{name} -->\n{render(name, results_dir)}")
        return 0
    for path in render_docs():
        print(f"rendered {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
