"""``statecatcher export``: a run's model as an ONNX graph with explicit state, its tokens and tokenizer."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--chunk-frames", type=int, default=64, show_default=True,
              help="feature frames (10 ms) per graph call; a multiple of the encoder's subsampling")
@click.option("--best", is_flag=True, help="for a run directory: load checkpoints/best.pt (best dev WER) instead "
                                         "of last.pt")
def export(checkpoint: str, out_dir: str, chunk_frames: int, best: bool) -> None:
    """Export CHECKPOINT (a run directory, checkpoint or model pack; CTC or RNN-T models) to OUT_DIR as
    encoder.onnx (one streaming step: features + state in, log-probabilities or joiner input + state out;
    feature normalisation inside), for RNN-T also predictor.onnx and joiner.onnx, plus model.json, tokens.txt
    and tokenizer/.  The graphs are checked against torch before this returns.
    Transcribe with `statecatcher transcribe --runtime onnx OUT_DIR AUDIO`.  Needs the onnx extra:
    pip install 'statecatcher-core[onnx]'."""
    from ..decode.pack import load_model
    from ..export.onnx import ExportError, export_onnx

    loaded = load_model(checkpoint, "cpu", which="best" if best else "last")
    try:
        worst = export_onnx(loaded, out_dir, chunk_frames)
    except (ExportError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {out_dir} (the graphs match torch: max |difference| {worst:.1e})")
