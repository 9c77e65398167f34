"""``statecatcher pack``: write a self-contained model pack (weights, config, tokenizer, normaliser)."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--best", is_flag=True, help="for a run directory: load checkpoints/best.pt (best dev WER) instead "
                                         "of last.pt")
def pack(checkpoint: str, out: str, best: bool) -> None:
    """Export CHECKPOINT (a checkpoint file or a run directory) as the model pack OUT, a single file that
    `statecatcher transcribe`, `eval` and `Transcriber.from_checkpoint` load without the run directory."""
    from ..decode.pack import export_pack

    click.echo(f"wrote {export_pack(checkpoint, out, which='best' if best else 'last')}")
