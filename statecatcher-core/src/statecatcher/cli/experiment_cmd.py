"""``statecatcher experiment stateful``: the stateful-vs-stateless experiment (docs/experiments/)."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def experiment() -> None:
    """Reproducible experiments that regenerate their documents under docs/experiments/."""


@experiment.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", required=True, help="output directory (run dirs, results.json)")
@click.option("--scale", type=float, default=1.0, show_default=True, help="multiplies episodes and steps")
@click.option("--encoders", default="lstm,rwkv7", show_default=True, help="comma-separated encoders")
@click.option("--losses", default="ctc", show_default=True, help="comma-separated losses: ctc, rnnt")
@click.option("--splits", default="test,train", show_default=True, help="splits to evaluate, held-out first")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--doc", help="markdown document to write [default: docs/experiments/stateful-vs-stateless.md]")
def stateful(**options: object) -> None:
    """Train stateful and stateless twins, evaluate them and write the document
    (`python -m statecatcher.experiments.stateful` with the same options)."""
    from ..experiments.stateful import main

    main([arg for key, value in options.items() if value is not None for arg in (f"--{key}", str(value))])
