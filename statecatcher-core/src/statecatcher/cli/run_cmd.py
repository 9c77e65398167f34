"""``statecatcher run``: train a model; every flag mirrors a key of :class:`RunConfig`.

Options are generated from the config dataclass, so a TOML file (``--config``) and the flags can never
drift apart.  Flags given on the command line win over the file.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import click

from ..options import parse_value
from ..train.config import RunConfig, merge
from .plugin_flags import PluginOptionsCommand, plugin_overrides

_LIST_FLAGS = {"trackers": "tracker"}  # repeatable flags with a singular name


def _flag(name: str) -> str:
    return "--" + _LIST_FLAGS.get(name, name.replace("_options", "_opt")).replace("_", "-")


def _parse_key_values(param_name: str, items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=_flag(param_name))
        value = parse_value(raw)
        target = out
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return out


class FiniteFloat(click.ParamType):
    """A float flag that refuses ``nan`` and ``inf``."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _options(func):
    from ..train import config as config_module

    hints = config_module._HINTS
    for f in reversed(dataclasses.fields(RunConfig)):
        if f.name == "segmenter":  # a table: one flag per key, named as the flat keys before the table existed
            func = _segmenter_options(func)
            continue
        hint, help_text = hints[f.name], f.metadata.get("help", "")
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        shown = f"  [default: {default}]" if default not in ({}, None) else ""
        if hint is bool:
            dashed = f.name.replace("_", "-")
            func = click.option(f"--{dashed}/--no-{dashed}", f.name, default=None, help=help_text + shown)(func)
        elif hint in (dict, list):
            func = click.option(_flag(f.name), f.name, multiple=True, help=help_text + shown,
                                metavar="KEY=VALUE" if hint is dict else "NAME")(func)
        else:
            func = click.option(_flag(f.name), f.name, type=FiniteFloat() if hint is float else hint, default=None,
                                help=help_text + shown)(func)
    return func


def _segmenter_options(func):
    """``--segment-seconds``, ``--min-segment-seconds``, ``--max-segment-seconds``, ``--overlong-segments``:
    aliases of the ``[segmenter]`` table's keys."""
    from ..data.segmenter import SegmenterConfig
    from ..train.config import SEGMENTER_ALIASES, SEGMENTER_HELP

    default = SegmenterConfig()
    for flag, key in reversed(SEGMENTER_ALIASES.items()):
        func = click.option(f"--{flag.replace('_', '-')}", flag, type=str if key == "overlong" else FiniteFloat(),
                            default=None, help=f"{SEGMENTER_HELP[key]} ([segmenter] {key})  "
                                               f"[default: {getattr(default, key)}]")(func)
    return func


def config_from_cli(config_path: str | None, values: dict[str, Any],
                    plugin_values: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """``--config`` file <- flags; ``plugin_values`` (from ``--xlstm-pattern``-style flags) merge into the
    option tables given by ``--encoder-opt`` and the like."""
    from ..train.config import _HINTS

    overrides: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == ():
            continue
        if name not in _HINTS:  # a [segmenter] alias: RunConfig.load folds it into the table
            overrides[name] = value
        elif _HINTS[name] is dict:
            overrides[name] = _parse_key_values(name, value)
        elif _HINTS[name] is list:
            overrides[name] = list(value)
        else:
            overrides[name] = value
    from .launch import secret_overrides

    # secrets a `--nproc` parent handed over in the environment (launch.py) fill the option tables too
    return RunConfig.load(config_path, merge(merge(overrides, plugin_values or {}), secret_overrides()))


@click.command(cls=PluginOptionsCommand,
               context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="TOML file with the same keys as these flags (flags win)")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="training processes on this machine: N > 1 restarts this command under torchrun (DDP, "
                   "docs/distributed.md)")
@click.option("--api-key", hidden=True, help="alias of the data source's secret api_key option "
                                            "(--speechcatcher-api-key); redacted in every saved config and log")
@_options
def run(config_path: str | None, nproc: int, api_key: str | None, **values: Any) -> None:
    """Train a stateful ASR model (resumes from RUN_DIR/checkpoints/last.pt when present).

    The options of the chosen plugins show up as flags: `statecatcher run --encoder xlstm --help`.
    """
    from ..configfile import ConfigError
    from ..options import check_plugin_options
    from ..registry import PluginError
    from ..train.loop import check_model_builds
    from .default_data import fall_back_to_embedded
    from .resolve import resolve

    try:
        config = config_from_cli(config_path, values, plugin_overrides(click.get_current_context()))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    config.data = fall_back_to_embedded(config.data, data_given=values.get("data") is not None)
    if api_key:  # the short spelling of --speechcatcher-api-key the drills, docs and scripts use
        config.data_options["api_key"] = api_key
    for kind, name, flag in (("encoder", config.encoder, "--encoder"), ("loss", config.loss, "--loss"),
                             ("tokenizer", config.tokenizer, "--tokenizer"),
                             ("data_source", config.data.partition(":")[0], "--data")):
        resolve(kind, name, flag)
    for name in config.trackers:
        resolve("tracker", name, "--tracker")
    for name in config.label_filters:
        resolve("label_filter", name, _flag("label_filters"))
    try:
        check_plugin_options(config)  # before any data is fetched
        check_model_builds(config)    # option values the plugins refuse, on the meta device
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    except PluginError as exc:  # a factory that cannot be imported
        raise click.ClickException(str(exc)) from exc
    _check_run_dir_and_device(config)
    if nproc > 1:
        from .launch import launch_torchrun

        launch_torchrun(nproc, config)

    from ..train.loop import train

    summary = train(config)
    click.echo(
        f"trained {summary.steps} steps ({summary.optimizer_steps} optimizer steps) on "
        f"{summary.audio_seconds / 3600:.2f} h of audio in {summary.wall_seconds:.0f} s; "
        f"final loss {summary.losses[-1] if summary.losses else float('nan'):.3f}; "
        f"data wait {summary.data_wait_seconds:.1f} s; NaN skips {summary.nan_skips}; data {config.data}; "
        f"run dir {summary.run_dir}",
        file=sys.stderr,
    )
    if summary.best_dev:
        best = summary.best_dev
        stopped = "; stopped early (no better dev WER for --early-stop-patience validations)" \
            if summary.stopped_early else ""
        click.echo(f"best dev ({config.eval_split}): WER {best['wer']:.1%}, CER {best['cer']:.1%} at step "
                   f"{best['step']} -> {summary.run_dir}/checkpoints/best.pt{stopped}", file=sys.stderr)


def _check_run_dir_and_device(config: RunConfig) -> None:
    """``--run-dir`` must be a folder (or not exist yet); ``--device cuda`` needs CUDA."""
    run_dir = Path(config.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise click.BadParameter(f"{run_dir} exists and is not a folder", param_hint="--run-dir")
    if config.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter(f"{config.device}: CUDA is not available on this machine",
                                     param_hint="--device")
        index = int(config.device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise click.BadParameter(f"{config.device}: this machine has {torch.cuda.device_count()} CUDA "
                                     "device(s)", param_hint="--device")
