"""``statecatcher filter-report RUN_DIR``: what the label filters rejected, per detector, with examples."""

from __future__ import annotations

import json

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--examples", type=int, default=3, show_default=True, help="examples shown per detector")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON on stdout")
def filter_report(run_dir: str, examples: int, as_json: bool) -> None:
    """Summarise RUN_DIR/filter.jsonl: rejections per detector and their worst examples."""
    from rich.console import Console
    from rich.table import Table

    from ..filters.report import read_report, summarise

    try:
        summary = summarise(read_report(run_dir), examples=examples)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    console = Console()
    table = Table(title=f"label filters in {run_dir}: {summary.segments} segments of {summary.recordings} "
                        "recordings rejected")
    for column in ("detector", "rejections", "masked", "score range"):
        table.add_column(column)
    for d in summary.detectors:
        table.add_row(d.detector, str(d.count), str(d.masked), f"{d.min_score:.3g} .. {d.max_score:.3g}")
    console.print(table)
    if examples > 0:
        shown = Table(title="examples")
        for column in ("detector", "score", "recording", "span (s)", "text"):
            shown.add_column(column, overflow="fold")
        for d in summary.detectors:
            for row in d.examples:
                shown.add_row(d.detector, f"{row['score']:.3g}", str(row["recording_id"]),
                              f"{row['start']:.2f}-{row['end']:.2f}", row["text"][:120])
        console.print(shown)
