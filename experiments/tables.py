"""The published tables: each rendered from its own JSON under ``results/``, between marker comments in the docs.

A table ``NAME`` lives in a markdown file between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``;
:data:`TABLES` says which JSON it is rendered from and how.  ``python -m experiments.results`` writes the JSON
and calls :func:`render_docs`; ``tests/test_results_tables.py`` checks that every marked block equals the
rendering of its JSON, so the docs cannot drift from what was measured.  A table whose JSON does not exist
yet renders as one line saying so.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "results"
MARKED = re.compile(r"<!-- results:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /results:(?P=name) -->", re.S)
MISSING = "_Not measured yet: run `nox -s results` (writes `results/{json}`)._"


def spread(values: Iterable[float]) -> dict[str, float]:
    """``{median, min, max, n}`` of ``values`` (at least one)."""
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def percent_spread(values: Iterable[float]) -> str:
    """``median (min-max)`` in percent; just the value when there is one, or all are equal."""
    s = spread(values)
    if s["n"] == 1 or s["min"] == s["max"]:
        return percent(s["median"])
    return f"{percent(s['median'])} ({100 * s['min']:.1f}-{100 * s['max']:.1f})"


def format_ratio(result: dict) -> str:
    return ("≥ " if result.get("lower_bound") else "") + f"{result['ratio']:.3g}"


def performance_table(report: dict) -> str:
    """A ``python -m benchmarks`` report as a markdown table (rows, results, ratios)."""
    lines = ["| row | result | ratio | what |", "|---|---|---:|---|"]
    for row, outcome in report["rows"].items():
        if "error" in outcome:
            lines.append(f"| {row} | error | | {outcome['error']} |")
            continue
        lines += [f"| {row} | {r['name']} | {format_ratio(r)} | {r.get('description', '')} |"
                  for r in outcome["results"]]
    return "\n".join(lines)


def machine_line(data: dict) -> str:
    """Where and how a JSON was measured: date, command, machine, what could not be made deterministic."""
    from experiments.machine import describe

    line = f"Measured {data['started']} with `{data['command']}` on {describe(data['machine'])}."
    if data.get("nondeterministic"):
        line += f" What may vary: {data['nondeterministic'].rstrip('.')}."
    return line


# ---------------------------------------------------------------------------- one renderer per table
def render_demo(data: dict) -> str:
    runs = data["runs"]
    lines = ["| training seed | held-out WER / CER, greedy, carried state | state reset every segment "
             "| beam + word LM | best dev WER / CER (step) | dev CER < 80 % first at | training wall |",
             "|---|---|---|---|---|---|---|"]
    for run in runs:
        best = run["best"]
        lines.append(f"| {run['seed']} | {percent(run['test']['wer'])} / {percent(run['test']['cer'])} "
                     f"| {percent(run['test_stateless']['wer'])} / {percent(run['test_stateless']['cer'])} "
                     f"| {percent(run['test_lm']['wer'])} / {percent(run['test_lm']['cer'])} "
                     f"| {percent(best['dev_wer'])} / {percent(best['dev_cer'])} ({best['step']}) "
                     f"| {plateau_cell(run['plateau'])} | {run['train_seconds']:.0f} s |")
    column = lambda key, metric: percent_spread(run[key][metric] for run in runs)  # noqa: E731
    exits = [run["plateau"]["audio_seconds"] for run in runs if run["plateau"]]
    lines.append(f"| **median (range), {len(runs)} seeds** | **{column('test', 'wer')} / {column('test', 'cer')}** "
                 f"| {column('test_stateless', 'wer')} / {column('test_stateless', 'cer')} "
                 f"| **{column('test_lm', 'wer')} / {column('test_lm', 'cer')}** "
                 f"| {column('best', 'dev_wer')} / {column('best', 'dev_cer')} "
                 f"| {len(exits)} of {len(runs)} seeds, by {max(exits, default=0):,.0f} audio-s "
                 f"| {spread(run['train_seconds'] for run in runs)['median']:.0f} s (timing) |")
    return "\n".join([*lines, "", f"{runs[0]['test']['ref_words']} reference words. " + machine_line(data)])


def plateau_cell(plateau: dict | None) -> str:
    """``dev CER at audio-seconds (step)`` of the first validation below 80 % CER, or "never"."""
    if plateau is None:
        return "never"
    return f"{percent(plateau['dev_cer'])} at {plateau['audio_seconds']:,.0f} audio-s (step {plateau['step']})"


def render_filters_bench(data: dict) -> str:
    """Per corpus: combined precision / recall / clean flagged per seed, their median, and the target verdict."""
    target = data["target"]
    lines = ["| corpus | seed | transcript segments | combined precision | combined recall | clean flagged "
             "| loss model training (timing) |", "|---|---|---|---|---|---|---|"]
    for corpus, seeds in data["corpora"].items():
        for run in seeds:
            c = run["detectors"]["combined"]
            lines.append(f"| {corpus} | {run['seed']} | {run['segments']} | {percent(c['precision'])} "
                         f"| {percent(c['recall'])} | {percent(c['clean_flagged'])} | {run['train_seconds']:.0f} s |")
    lines += ["", "| corpus | combined recall, median (range) | clean flagged, median (range) | target "
              "(on the median) | verdict |", "|---|---|---|---|---|"]
    for corpus, summary in data["summary"].items():
        lines.append(f"| {corpus} | {percent_spread(summary['recall']['values'])} "
                     f"| {percent_spread(summary['clean_flagged']['values'])} "
                     f"| recall >= {percent(target['recall'])}, clean flagged <= {percent(target['clean_flagged'])} "
                     f"| **{summary['verdict']}** |")
    lines += ["", "Per detector, median over seeds (recall / clean flagged):", "",
              "| detector | " + " | ".join(data["corpora"]) + " |", "|---|" + "---|" * len(data["corpora"])]
    detectors = next(iter(data["corpora"].values()))[0]["detectors"]
    for detector in detectors:
        cells = [f"{percent(spread(run['detectors'][detector]['recall'] for run in seeds)['median'])} / "
                 f"{percent(spread(run['detectors'][detector]['clean_flagged'] for run in seeds)['median'])}"
                 for seeds in data["corpora"].values()]
        lines.append(f"| {detector} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", machine_line(data)])


def render_filters_summary(data: dict) -> str:
    """One line per corpus for RESULTS.md: the benchmark's combined verdict."""
    return "\n".join(f"- {corpus}: combined recall {percent_spread(s['recall']['values'])}, clean segments flagged "
                     f"{percent_spread(s['clean_flagged']['values'])} over {len(s['recall']['values'])} seeds: "
                     f"**{s['verdict']}**" for corpus, s in data["summary"].items())


def render_filter_experiment(data: dict) -> str:
    lines = ["| seed | corrupted transcript segments | WER baseline | WER filtered | CER baseline | CER filtered "
             "| filter recall / precision (training segments) |", "|---|---|---|---|---|---|---|"]
    runs = data["runs"]
    for run in runs:
        corrupted = {k: v for k, v in run["transcript_segments"].items() if k != "clean"}
        total = sum(run["transcript_segments"].values())
        quality = run["filtered"]["filters"]
        base, filtered = run["baseline"], run["filtered"]
        lines.append(f"| {run['seed']} | {sum(corrupted.values())} of {total} | {percent(base['wer_recording'])} "
                     f"| **{percent(filtered['wer_recording'])}** | {percent(base['cer_recording'])} "
                     f"| **{percent(filtered['cer_recording'])}** | {percent(quality['recall'])} / "
                     f"{percent(quality['precision'])} |")
    column = lambda name, key: percent_spread(run[name][key] for run in runs)  # noqa: E731
    lines.append(f"| **median (range)** | | {column('baseline', 'wer_recording')} "
                 f"| {column('filtered', 'wer_recording')} | {column('baseline', 'cer_recording')} "
                 f"| {column('filtered', 'cer_recording')} | |")
    return "\n".join([*lines, "", machine_line(data)])


def render_performance(data: dict) -> str:
    times = ", ".join(f"{row} {outcome['seconds']:.0f} s" for row, outcome in data["rows"].items())
    return "\n".join([performance_table(data), "", f"Row times (each in its own process): {times}. "
                      + machine_line(data)])


@dataclass(frozen=True)
class Table:
    name: str
    json: str  # file name under results/
    render: Callable[[dict], str]
    timing: bool  # True: machine-dependent timings; False: accuracy, reproducible within its spread


TABLES = {table.name: table for table in (
    Table("demo", "demo.json", render_demo, timing=False),
    Table("filters-bench", "filters-bench.json", render_filters_bench, timing=False),
    Table("filters-summary", "filters-bench.json", render_filters_summary, timing=False),
    Table("filter-experiment", "filter-experiment.json", render_filter_experiment, timing=False),
    Table("performance", "performance.json", render_performance, timing=True),
)}
DOCS = ("RESULTS.md", "docs/filters.md", "docs/performance.md")  # the files holding marked tables


def load(name: str, results_dir: Path = RESULTS_DIR) -> dict | None:
    path = results_dir / TABLES[name].json
    return json.loads(path.read_text()) if path.exists() else None


def render(name: str, results_dir: Path = RESULTS_DIR) -> str:
    """Table ``name`` as markdown from its JSON (or the not-measured line when there is none)."""
    data = load(name, results_dir)
    return MISSING.format(json=TABLES[name].json) if data is None else TABLES[name].render(data)


def marked_blocks(text: str) -> dict[str, str]:
    """``{name: body}`` of every marked block in ``text`` (body without its surrounding newlines)."""
    blocks = {}
    for match in MARKED.finditer(text):
        if match["name"] not in TABLES:
            raise ValueError(f"results marker {match['name']!r}: no such table (known: {', '.join(TABLES)})")
        blocks[match["name"]] = match["body"].strip("\n")
    return blocks


def render_text(text: str, results_dir: Path = RESULTS_DIR) -> str:
    """``text`` with every marked block replaced by its table's current rendering."""
    marked_blocks(text)  # unknown names fail before anything is written
    return MARKED.sub(lambda m: f"<!-- results:{m['name']} -->\n{render(m['name'], results_dir)}\n"
                                f"<!-- /results:{m['name']} -->", text)


def render_docs(root: Path = ROOT, results_dir: Path = RESULTS_DIR) -> list[Path]:
    """Rewrite every marked block of :data:`DOCS` under ``root``; returns the files that changed."""
    changed = []
    for doc in DOCS:
        path = root / doc
        text = path.read_text()
        new = render_text(text, results_dir)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def stale_blocks(root: Path = ROOT, results_dir: Path = RESULTS_DIR) -> list[str]:
    """``"FILE: NAME"`` for every marked block that differs from the rendering of its JSON."""
    return [f"{doc}: {name}" for doc in DOCS
            for name, body in marked_blocks((root / doc).read_text()).items() if body != render(name, results_dir)]


def write_json(data: dict[str, Any], name: str, results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / TABLES[name].json
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return path
