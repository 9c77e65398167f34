"""The ``statecatcher`` command: a click group whose sub-commands load lazily.

Built-in commands are listed in :data:`BUILTIN_COMMANDS` as ``"module:function"`` inside this package; the
command name is the function name with dashes (``list_plugins`` -> ``list-plugins``); a listed module that
does not exist is an error naming it.  Plugins add commands through the ``register_commands(cli)`` hook, called
after :func:`statecatcher.plugins.load_plugins`.  Nothing here imports torch: command modules keep
heavy imports inside their functions, so ``statecatcher --help`` stays fast.  An error a command does not
turn into a click error itself is printed as one line (:mod:`.errors`); ``--debug`` shows its traceback.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from .._version import __version__
from ..registry import PluginError
from .errors import DEBUG_META, as_click_error, debugging

BUILTIN_COMMANDS: tuple[str, ...] = (
    "plugins_cmd:list_plugins",
    "check_cmd:check",
    "run_cmd:run",
    "transcribe_cmd:transcribe",
    "eval_cmd:evaluate as eval",
    "plot_cmd:plot",
    "pack_cmd:pack",
    "export_cmd:export",
    "filter_report_cmd:filter_report",
    "lm_cmd:lm",
)


def command_name(spec: str) -> str:
    """``"plugins_cmd:list_plugins"`` -> ``"list-plugins"``; ``"eval_cmd:evaluate as eval"`` -> ``"eval"``."""
    target, _, alias = spec.partition(" as ")
    return alias or target.partition(":")[2].replace("_", "-")


def _available_builtins() -> dict[str, str]:
    """Command name -> spec for every built-in command; a module listed but missing raises ``PluginError``."""
    missing = [spec for spec in BUILTIN_COMMANDS
               if importlib.util.find_spec(f"{__name__}.{spec.partition(':')[0]}") is None]
    if missing:
        raise PluginError(f"BUILTIN_COMMANDS lists modules that do not exist in {__name__}: {', '.join(missing)}")
    return {command_name(spec): spec for spec in BUILTIN_COMMANDS}


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """``()`` for ``group`` itself, then every (sub)command and sub-group as an argv prefix, in help order."""
    ctx = click.Context(group)
    paths = [prefix]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


class LazyGroup(click.Group):
    """A group that imports a built-in command's module only when that command is needed (click's docs,
    "Lazily Loading Subcommands") and adds plugin commands on first use."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._builtins: dict[str, str] | None = None
        self._plugins_added = False
        # plugin name -> ["command:NAME", ...], shown by list-plugins
        self.commands_by_plugin: dict[str, list[str]] = {}

    def builtins(self) -> dict[str, str]:
        if self._builtins is None:
            try:
                self._builtins = _available_builtins()
            except PluginError as exc:  # a packaging mistake: one line, never a command silently gone
                raise click.ClickException(str(exc)) from exc
        return self._builtins

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.add_plugin_commands()
        return sorted({*self.builtins(), *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self.builtins().get(cmd_name)
        if spec is not None:
            return self._load_builtin(spec)
        self.add_plugin_commands()
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        """Runs the command; an exception that is not a click error becomes one line (see :mod:`.errors`)."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if debugging(ctx):
                raise
            raise as_click_error(error) from error

    def _load_builtin(self, spec: str) -> click.Command:
        module_name, _, attr = spec.partition(" as ")[0].partition(":")
        command = getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{__name__}.{module_name}:{attr} is not a click command")
        return command

    def add_plugin_commands(self) -> None:
        """Call every plugin's ``register_commands(cli)`` once, one plugin at a time, refusing clashes."""
        if self._plugins_added:
            return
        self._plugins_added = True
        from ..plugins import call_hookimpl, load_plugins, pm, trace

        try:
            load_plugins()
            for impl in pm.hook.register_commands.get_hookimpls():
                before = dict(self.commands)
                call_hookimpl("register_commands", impl, cli=self)
                added = sorted(set(self.commands) - set(before))
                clashes = [name for name in self.commands if name in self.builtins()
                           or (name in before and before[name] is not self.commands[name])]
                if clashes:
                    raise PluginError(f"plugin {impl.plugin_name!r} adds command(s) {', '.join(clashes)}, "
                                      "which another plugin or statecatcher itself already provides")
                self.commands_by_plugin[impl.plugin_name] = [f"command:{name}" for name in added]
                trace("register_commands", impl.plugin_name, added)
        except PluginError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", package_name="statecatcher-core")
@click.option("--debug", is_flag=True, help="show the Python traceback of an error (also env STATECATCHER_DEBUG=1)")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """statecatcher: stateful speech recognition training on long recordings.

    Encoders, losses, tokenizers, data sources and trackers come from plugins; see `statecatcher
    list-plugins --all`.
    """
    ctx.meta[DEBUG_META] = debug
