"""``statecatcher lm``: word n-gram language models for ``--decoder beam``."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def lm() -> None:
    """Word n-gram language models for beam search (`transcribe --decoder beam`, `eval --decoder beam`)."""


@lm.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", type=click.Path(exists=True))
@click.option("--order", type=click.IntRange(1, 9), default=3, show_default=True, help="n-gram order")
@click.option("--text", "text_file", type=click.Path(exists=True, dir_okay=False),
              help="train on this UTF-8 text file (one sentence a line) instead of the run's transcripts")
@click.option("--split", default="train", show_default=True, help="split of the run's data source to read")
@click.option("--out", type=click.Path(dir_okay=False),
              help="ARPA file to write  [default: beside MODEL, where beam search finds it: RUN_DIR/lm.arpa, "
                   "else MODEL.lm.arpa]")
def train(model: str, order: int, text_file: str | None, split: str, out: str | None) -> None:
    """Train an interpolated Kneser-Ney word LM for MODEL (a run directory, pack or checkpoint) from the
    normalised transcripts of its data source's SPLIT, or from --text; beam search in a run directory
    uses MODEL/lm.arpa by itself, and `statecatcher pack` carries it along."""
    from ..decode.lm_train import file_sentences, model_facts, split_sentences, train_lm
    from ..decode.pack import model_lm_file
    from .resolve import resolve

    try:
        config, normalizer = model_facts(model)
    except (FileNotFoundError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="MODEL") from exc
    if text_file is not None:
        sentences = file_sentences(text_file, normalizer)
    else:
        name, _, spec = config["data"].partition(":")
        source = resolve("data_source", name, "the run's data").create(spec, **config.get("data_options", {}))
        sentences = split_sentences(source, split, normalizer)
    path = out or model_lm_file(model)
    try:
        lm_model, count = train_lm(sentences, order, path)
    except ValueError as exc:
        raise click.ClickException(f"{text_file or config['data']}: {exc}") from exc
    unigrams = sum(1 for g in lm_model.probs if len(g) == 1)
    click.echo(f"wrote {path}: {order}-gram from {count} sentences, {unigrams} unigrams")
