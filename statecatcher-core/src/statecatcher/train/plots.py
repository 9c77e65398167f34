"""PNG plots of a finished (or running) training run, drawn from ``RUN_DIR/metrics.jsonl``.

* ``loss.png``: training loss over steps, learning rate on a second axis.
* ``wer.png``: every logged WER metric (``wer``, ``eval/wer``, ...) over steps, when there is one.
* ``dev.png``: dev WER and CER of the validations during training (``--eval-every``), when there are some.
* ``state_norms.png``: the norm of the carried state per layer (``state_norm/<path>``) over steps; a
  norm that keeps climbing over a long recording is state drift.
* ``eval.png``: WER and CER of every ``statecatcher eval --report RUN_DIR/eval*.json`` report, when there is one.

:func:`plot_compare` overlays several runs (a sweep): ``compare-loss.png`` and ``compare-dev.png`` (dev CER),
both against hours of audio trained on, so runs with different batch sizes or segment lengths line up.

matplotlib draws on its Agg canvas through :class:`matplotlib.figure.Figure` (no pyplot, no display, no
global state) and is imported only here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..jsonl import read_jsonl


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``RUN_DIR/metrics.jsonl`` (``{"step": N, "time": ..., metric: value}``)."""
    return read_jsonl(Path(run_dir) / "metrics.jsonl",
                      f"no metrics (is {run_dir} a run directory? the jsonl tracker writes it)")


def series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of one metric, leaving out rows without it and non-finite values."""
    points = [(row["step"], float(row[key])) for row in rows
              if isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
    return [step for step, _ in points], [value for _, value in points]


def metric_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every metric name in ``rows``, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row if key not in ("step", "time")))


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the PNGs for ``run_dir`` into ``out_dir`` (default ``RUN_DIR/plots``); returns their paths."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    keys = metric_keys(rows)
    written = [_plot_loss(rows, out / "loss.png")]
    wer_keys = [key for key in keys if key == "wer" or key.endswith("/wer")]
    if wer_keys:
        written.append(_plot_lines(rows, wer_keys, out / "wer.png", title="WER", ylabel="WER", label=str))
    dev_keys = [key for key in ("dev_wer", "dev_cer") if key in keys]
    if dev_keys:
        written.append(_plot_lines(rows, dev_keys, out / "dev.png", title="validation (eval split, carried state)",
                                   ylabel="error rate", label=lambda key: key.removeprefix("dev_").upper()))
    norm_keys = [key for key in keys if key.startswith("state_norm/")]
    if norm_keys:
        written.append(_plot_lines(rows, norm_keys, out / "state_norms.png", title="carried state norm per layer",
                                   ylabel="L2 norm", label=lambda key: key.removeprefix("state_norm/")))
    reports = sorted(run_dir.glob("eval*.json"))
    if reports:
        written.append(_plot_eval(reports, out / "eval.png"))
    return written


def plot_compare(run_dirs: Sequence[str | Path], out_dir: str | Path,
                 labels: Sequence[str] | None = None) -> list[Path]:
    """Overlay ``run_dirs`` (labelled by folder name, or ``labels``) against audio hours trained on: training
    loss and, when the runs validated, dev CER.  Writes into ``out_dir``; returns the paths."""
    runs = [(label, read_metrics(run)) for label, run in
            zip(labels or [Path(run).name for run in run_dirs], run_dirs, strict=True)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_plot_runs(runs, "loss", out / "compare-loss.png", title="training loss", ylabel="loss per token")]
    if any("dev_cer" in metric_keys(rows) for _, rows in runs):
        written.append(_plot_runs(runs, "dev_cer", out / "compare-dev.png", title="validation CER (carried state)",
                                  ylabel="dev CER"))
    return written


def audio_hours_at(rows: Sequence[dict[str, Any]], steps: Sequence[int]) -> list[float]:
    """The ``audio_hours`` logged at (or last before) each of ``steps``; 0 before the first log."""
    logged = series(rows, "audio_hours")
    hours, index, last = [], 0, 0.0
    for step in steps:
        while index < len(logged[0]) and logged[0][index] <= step:
            last, index = logged[1][index], index + 1
        hours.append(last)
    return hours


def _plot_runs(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], key: str, path: Path, *, title: str,
               ylabel: str) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    for label, rows in runs:
        steps, values = series(rows, key)
        axes.plot(audio_hours_at(rows, steps), values, label=label)
    axes.set(title=title, xlabel="hours of audio trained on (all lanes)", ylabel=ylabel)
    axes.legend(fontsize="small")
    figure.savefig(path)
    return path


def _figure():
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 4.5), dpi=100, layout="constrained")


def _plot_loss(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    steps, loss = series(rows, "loss")
    axes.plot(steps, loss, color="tab:blue", label="loss")
    axes.set(title="training loss", xlabel="step", ylabel="loss per token")
    lr_steps, lr = series(rows, "lr")
    if lr:
        twin = axes.twinx()
        twin.plot(lr_steps, lr, color="tab:orange", linestyle="--", label="learning rate")
        twin.set_ylabel("learning rate")
        twin.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        figure.legend(loc="outside upper right", ncols=2)
    figure.savefig(path)
    return path


def _plot_lines(rows: Sequence[dict[str, Any]], keys: Sequence[str], path: Path, *, title: str, ylabel: str,
                label) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    for key in keys:
        axes.plot(*series(rows, key), label=label(key))
    axes.set(title=title, xlabel="step", ylabel=ylabel)
    axes.legend(fontsize="small", ncols=1 + len(keys) // 12)
    figure.savefig(path)
    return path


def _plot_eval(reports: Sequence[Path], path: Path) -> Path:
    """Grouped bars: WER and CER of every evaluation in every report file."""
    labels, wers, cers = [], [], []
    for report in reports:
        for entry in json.loads(report.read_text()):
            state = "reset" if entry.get("stateless") else "carried"
            labels.append(f"{report.stem}\n{entry['mode']}, {state}")
            wers.append(entry["wer"])
            cers.append(entry["cer"])
    figure = _figure()
    axes = figure.add_subplot()
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], wers, width=0.4, label="WER")
    axes.bar([p + 0.2 for p in positions], cers, width=0.4, label="CER")
    axes.set_xticks(list(positions), labels, fontsize="small")
    axes.set(title="evaluation", ylabel="error rate")
    axes.legend()
    figure.savefig(path)
    return path
