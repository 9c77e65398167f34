"""``statecatcher list-plugins``: which plugin packages are installed and what each registers."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--all", "include_builtins", is_flag=True, help="Include the built-in default plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects) instead of a table.")
def list_plugins(include_builtins: bool, as_json: bool) -> None:
    """List installed plugins: package, version, hooks (register_*), and the names they register (kind:name)."""
    from ..plugins import describe_plugins
    from ..registry import PluginError
    from . import cli

    cli.add_plugin_commands()
    try:
        rows = describe_plugins(include_builtins, extra_registrations=cli.commands_by_plugin)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("package", "version", "hooks", "registers"):
        table.add_column(column, overflow="fold")
    for row in rows:
        hooks = (hook.removeprefix("register_") for hook in row.hooks)  # register_encoders -> encoders
        table.add_row(row.package, row.version, "\n".join(hooks), "\n".join(row.registers))
    console = Console()
    if not console.is_terminal:  # piped or captured: as wide as the table needs, never cut
        console.width = Measurement.get(console, console.options.update_width(1000), table).maximum
    if rows:
        console.print(table)
    else:
        console.print("No plugins installed." + ("" if include_builtins else " (--all shows the built-ins)"))
