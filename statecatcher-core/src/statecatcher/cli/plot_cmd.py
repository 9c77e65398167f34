"""``statecatcher plot``: PNG plots of a run directory's metrics; a thin wrapper over ``train.plots``."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="folder for the PNGs  [default: RUN_DIR/plots]")
def plot(run_dir: str, out_dir: str | None) -> None:
    """Draw RUN_DIR/metrics.jsonl as PNGs: loss (and learning rate), WER, the carried state's norm per
    layer, and the WER/CER of RUN_DIR/eval*.json reports.  Prints the paths written."""
    from ..train.plots import plot_run

    try:
        paths = plot_run(run_dir, out_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(str(path))
