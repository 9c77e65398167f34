"""``statecatcher plot``: PNG plots of a run directory's metrics; a thin wrapper over ``train.plots``."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="folder for the PNGs  [default: RUN_DIR/plots; with several runs ./plots-compare]")
def plot(run_dirs: tuple[str, ...], out_dir: str | None) -> None:
    """Draw RUN_DIR/metrics.jsonl as PNGs: loss (and learning rate), WER, the carried state's norm per
    layer, and the WER/CER of RUN_DIR/eval*.json reports.  With several RUN_DIRs (a sweep), overlay them
    instead: compare-loss.png and compare-dev.png against hours of audio.  Prints the paths written."""
    from ..train.plots import plot_compare, plot_run

    try:
        paths = (plot_run(run_dirs[0], out_dir) if len(run_dirs) == 1
                 else plot_compare(run_dirs, out_dir or "plots-compare"))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(str(path))
