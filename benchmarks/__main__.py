"""``python -m benchmarks [ROW ...] [--small] [--out PATH] [--markdown]``: run rows, print ratios, write JSON.

Every row runs in a fresh ``python -m benchmarks --child ROW`` process, so its peak resident set size
(``ru_maxrss`` inside the child) is its own and no row inherits another's threads, caches or allocator
state.  A row that fails or runs past its time limit is reported as an error; the others still run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import ROWS
from experiments.machine import machine_info
from experiments.tables import format_ratio, performance_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("benchmarks/results/latest.json")
DEFAULT_HISTORY = Path("benchmarks/results/history.jsonl")
ROW_TIMEOUT_S = {False: 300, True: 120}  # per row, full and --small


def as_results(value: list[dict] | dict) -> list[dict]:
    """A row's results; a plain ``{key: number}`` dict (``bench_data_path``) gives one result per ``ratio*`` key."""
    if isinstance(value, list):
        return value
    details = {k: v for k, v in value.items() if not k.startswith("ratio")}
    return [{"name": key.removeprefix("ratio").strip(), "ratio": ratio, "description": describe_ratio(key, details),
             "details": details} for key, ratio in value.items() if key.startswith("ratio")]


def describe_ratio(key: str, details: dict) -> str:
    """``"ratio A / B"`` -> ``"A 12.3 vs B 45.6"`` when both numbers are in ``details``, else the key itself."""
    over, _, under = key.removeprefix("ratio").strip().partition(" / ")
    if over in details and under in details:
        return f"{over} {_number(details[over])} vs {under} {_number(details[under])}"
    return key


def _number(value: float) -> str:
    """One decimal from 100 up (``5063.2``), three significant digits below (``0.252``, ``35.4``)."""
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(row: str, small: bool, out: Path) -> None:
    """Inside the child process: run one row and write ``{results, seconds, peak_rss_mib}`` to ``out``."""
    started = time.perf_counter()
    results = as_results(ROWS[row].load()(small))
    out.write_text(json.dumps({"results": results, "seconds": time.perf_counter() - started,
                               "peak_rss_mib": peak_rss_mib()}, default=str))


def run_row(row: str, small: bool) -> dict:
    """Run ``row`` in a fresh process (its printout goes straight to ours); ``{results, seconds, peak_rss_mib}``
    or ``{error, seconds}``."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="statecatcher-bench-") as scratch:
        out = Path(scratch) / "row.json"
        command = [sys.executable, "-m", "benchmarks", "--child", row, "--child-out", str(out)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run(command + ["--small"] * small, cwd=ROOT, env=env, timeout=ROW_TIMEOUT_S[small])
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {ROW_TIMEOUT_S[small]} s", "seconds": time.perf_counter() - started}
        if done.returncode != 0 or not out.exists():
            return {"error": f"exit status {done.returncode}", "seconds": time.perf_counter() - started}
        return json.loads(out.read_text())


def is_good_ratio(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    machine = report["machine"]
    table = Table(title=f"statecatcher benchmarks{' (--small)' if report['small'] else ''}: {machine['cpu']}, "
                        f"{machine['cores_usable']} cores, torch {machine['torch']}")
    for column, justify in (("row", "left"), ("result", "left"), ("ratio", "right"), ("what", "left")):
        table.add_column(column, justify=justify)
    for row, outcome in report["rows"].items():
        if "error" in outcome:
            table.add_row(row, "[red]error[/red]", "", outcome["error"])
            continue
        for result in outcome["results"]:
            table.add_row(row, result["name"], format_ratio(result), result.get("description", ""))
        table.add_row("", f"[dim]{outcome['seconds']:.0f} s, peak RSS {outcome['peak_rss_mib']:.0f} MiB[/dim]",
                      "", "", end_section=True)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def history_line(report: dict) -> dict:
    """One run in a line: when, on what, and every result's ratio (``{row: {result: ratio}}``, or the error)."""
    rows = {row: {"error": outcome["error"]} if "error" in outcome else
            {r["name"]: round(r["ratio"], 4) if is_good_ratio(r.get("ratio")) else r.get("ratio")
             for r in outcome["results"]}
            for row, outcome in report["rows"].items()}
    return {"date": report["started"], "machine": report["machine"], "small": report["small"], "rows": rows}


def append_history(report: dict, path: Path) -> None:
    """Append :func:`history_line` to ``path`` (JSON lines, committed: a regression shows as a diff)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as history:
        history.write(json.dumps(history_line(report), sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="Run benchmark rows, print their ratios, write a JSON report.")
    parser.add_argument("rows", nargs="*", metavar="ROW", help=f"rows to run (default: all): {', '.join(ROWS)}")
    parser.add_argument("--small", action="store_true", help="tiny sizes: every row in seconds (the smoke test)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON report (default {DEFAULT_OUT})")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY,
                        help=f"append the run's ratios as one JSON line (default {DEFAULT_HISTORY}; never with "
                             f"--small)")
    parser.add_argument("--child", choices=list(ROWS), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.small, args.child_out)
        return 0
    unknown = [row for row in args.rows if row not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "small": args.small,
              "machine": machine_info(), "rows": {}}
    for row in args.rows or list(ROWS):
        print(f"--- {row}: {ROWS[row].summary}", flush=True)
        report["rows"][row] = run_row(row, args.small)
    print_table(report)
    if args.markdown:
        print(performance_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    if not args.small:
        append_history(report, args.history)
        print(f"appended to {args.history}")
    bad = [row for row, outcome in report["rows"].items()
           if "error" in outcome or not all(is_good_ratio(r.get("ratio")) for r in outcome["results"])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
