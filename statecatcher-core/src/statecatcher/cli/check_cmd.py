"""``statecatcher check encoder NAME``: run the conformance checks on a registered encoder."""

from __future__ import annotations

import json

import click

from .resolve import resolve


def parse_options(pairs: tuple[str, ...]) -> dict[str, object]:
    """``("hidden=64", "act=gelu")`` -> ``{"hidden": 64, "act": "gelu"}`` (values read as JSON when they parse)."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@click.group()
def check() -> None:
    """Run the conformance kit (statecatcher.testing.checks) on a registered plugin."""


@check.command()
@click.argument("name")
@click.option("--input-dim", default=16, show_default=True, help="Feature dim F the encoder is built with.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Extra factory option (repeatable); VALUE is read as JSON when it parses.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True,
              help="dtype of the exactness checks.")
@click.option("--atol", type=float, default=1e-5, show_default=True, help="Absolute tolerance of comparisons.")
@click.option("--long-context", is_flag=True, help="Also stream one hour of frames and check the state stays finite.")
@click.option("--seed", default=0, show_default=True, help="Seed of weights, features and chunkings.")
def encoder(name: str, input_dim: int, options: tuple[str, ...], dtype: str, atol: float, long_context: bool,
            seed: int) -> None:
    """Check that encoder NAME is chunk-exact, ignores padding, keeps lanes apart, resets, detaches and
    round-trips its state; exit status 1 if any check fails."""
    entry = resolve("encoder", name, "NAME")
    factory_options = parse_options(options)
    import torch

    from ..testing.checks import run_all_checks

    results = run_all_checks(lambda: entry.create(input_dim, **factory_options), dtype=getattr(torch, dtype),
                             atol=atol, long_context=long_context, seed=seed)
    for check_name, failure in results.items():
        click.echo(f"FAIL  {check_name}: {failure}" if failure else f"ok    {check_name}")
    failures = sum(failure is not None for failure in results.values())
    click.echo(f"encoder {name!r} from {entry.origin}: {len(results) - failures}/{len(results)} checks passed")
    if failures:
        raise SystemExit(1)
