"""``statecatcher eval``: WER and CER per segment and per whole recording, with a JSON report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from .decoder_options import build_search_for_cli, decoder_options


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--data", required=True, help="data source as NAME:SPEC, e.g. local:corpus/")
@click.option("--split", default="dev", show_default=True)
@click.option("--mode", type=click.Choice(["both", "segment", "recording"]), default="both", show_default=True)
@click.option("--stateless", is_flag=True, help="reset the state at every segment (per-segment mode)")
@click.option("--batch-size", type=int, default=4, show_default=True, help="lanes for per-segment decoding")
@click.option("--segment-seconds", type=float, help="segment length (default: the model's training segmenter)")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="JSON report path")
@click.option("--best", is_flag=True, help="for a run directory: load checkpoints/best.pt (best dev WER) instead "
                                         "of last.pt")
@click.option("--device", default="cpu", show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="CPU threads for the model (0: torch's own choice); 1 when several evaluations share the cores")
@decoder_options
def evaluate(checkpoint: str, data: str, split: str, mode: str, stateless: bool, batch_size: int,
             segment_seconds: float | None, report_path: str | None, best: bool, device: str, threads: int,
             decoder) -> None:
    """Evaluate CHECKPOINT (pack, checkpoint or run dir) on a data source split.  With --decoder beam the
    per-segment mode commits to the best hypothesis at every segment end."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from ..data.segmenter import training_segmenter
    from ..decode.evaluate import evaluate_recordings, evaluate_segments, write_report
    from ..decode.pack import load_model
    from .resolve import resolve

    if threads:
        torch.set_num_threads(threads)
    name, _, spec = data.partition(":")
    source = resolve("data_source", name, "--data").create(spec)
    loaded = load_model(checkpoint, device, which="best" if best else "last")
    search = build_search_for_cli(loaded, decoder)
    segmenter = training_segmenter(loaded.config)
    if segment_seconds is not None:
        segmenter = replace(segmenter, segment_seconds=segment_seconds,
                            min_seconds=min(segmenter.min_seconds, segment_seconds),
                            max_seconds=max(segmenter.max_seconds, segment_seconds))
    reports = []
    if mode in ("both", "segment"):
        reports.append(evaluate_segments(loaded, source, split=split, batch_size=batch_size, segmenter=segmenter,
                                         stateless=stateless, device=device, search=search))
    if mode in ("both", "recording"):
        reports.append(evaluate_recordings(loaded, source, split=split, device=device, search=search))
    table = Table(title=f"{checkpoint} on {data} [{split}]")
    for column in ("mode", "state", "WER", "CER", "ref words"):
        table.add_column(column)
    for r in reports:
        table.add_row(r.mode, "reset every segment" if r.stateless else "carried", f"{r.wer:.2%}", f"{r.cer:.2%}",
                      str(r.words.ref_words))
    Console().print(table)
    if report_path:
        write_report(reports, Path(report_path))
