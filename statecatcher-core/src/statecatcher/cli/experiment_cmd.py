"""``statecatcher experiment stateful``: the stateful-vs-stateless experiment (docs/experiments/)."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def experiment() -> None:
    """Reproducible experiments that regenerate their documents under docs/experiments/."""


@experiment.command(context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]},
                    add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def stateful(args: tuple[str, ...]) -> None:
    """Train stateful and stateless twins, evaluate them and write the document.

    Takes the arguments of `python -m statecatcher.experiments.stateful` (`--help` lists them).
    """
    from ..experiments.stateful import main

    main(list(args))
