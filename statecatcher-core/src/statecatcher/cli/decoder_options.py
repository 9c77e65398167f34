"""The decoder options shared by ``transcribe`` and ``eval``: ``--decoder greedy|beam``, beam width, LM."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

OPTIONS = (
    click.option("--decoder", type=click.Choice(["greedy", "beam"]), default="greedy", show_default=True,
                 help="greedy, or streaming beam search (CTC prefix / RNN-T modified beam search)"),
    click.option("--beam-size", type=click.IntRange(min=1), default=8, show_default=True,
                 help="hypotheses kept per frame (--decoder beam)"),
    click.option("--token-prune", type=click.IntRange(min=1), default=None,
                 help="tokens tried per hypothesis and frame, the most likely ones  [default: --beam-size]"),
    click.option("--token-min-logp", type=float, default=-10.0, show_default=True,
                 help="CTC: tokens less likely than this (natural log) in a frame are not tried"),
    click.option("--blank-skip", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
                 help="CTC: frames with P(blank) >= this start no token (1: never skip)"),
    click.option("--lm", "lm_path", default=None,
                 help="ARPA word LM for --decoder beam, or 'none'  [default: the model's own lm.arpa, if any]"),
    click.option("--lm-weight", type=float, default=0.5, show_default=True, help="LM shallow-fusion weight"),
    click.option("--word-bonus", type=float, default=0.0, show_default=True,
                 help="added to a hypothesis's score per word (offsets the LM's preference for few words)"),
)


def decoder_options(command: Callable) -> Callable:
    """Add the decoder options to a click command; it receives one ``decoder: DecoderConfig`` instead."""

    @functools.wraps(command)
    def wrapper(*args, decoder: str, beam_size: int, token_prune: int | None, token_min_logp: float,
                blank_skip: float, lm_path: str | None, lm_weight: float, word_bonus: float, **kwargs):
        from ..decode.beam import BeamOptions
        from ..decode.decoder import DecoderConfig

        if lm_path not in (None, "none") and decoder == "greedy":
            raise click.BadParameter("an LM needs --decoder beam", param_hint="--lm")
        beam = BeamOptions(beam_size=beam_size, token_prune=token_prune, token_min_logp=token_min_logp,
                           blank_skip=blank_skip, lm_weight=lm_weight, word_bonus=word_bonus)
        return command(*args, decoder=DecoderConfig(decoder, beam, lm_path), **kwargs)

    for option in reversed(OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def build_search_for_cli(loaded, config):
    """``build_search`` with its errors as one-line click errors naming the flag."""
    from ..decode.decoder import build_search

    try:
        search = build_search(loaded, config)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="--lm") from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--decoder / --lm") from exc
    if search is not None:
        fusion = getattr(search, "fusion", None)
        lm = f"LM {fusion.source} (weight {fusion.weight:g}, word bonus {fusion.word_bonus:g})" if fusion else "no LM"
        click.echo(f"decoder: beam search, beam {config.beam.beam_size}, {lm}", err=True)
    return search
