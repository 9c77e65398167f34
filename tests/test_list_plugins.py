"""``statecatcher list-plugins`` over the real entry points, in a fresh interpreter (as a user runs it)."""

import json
import os
import subprocess
import sys
import time
from importlib import metadata

import pytest

# Runs `statecatcher ARGS...` and reports on stderr whether torch got imported on the way.
PROBE = """
import atexit, runpy, sys
atexit.register(lambda: sys.stderr.write(f"\\ntorch imported: {'torch' in sys.modules}\\n"))
sys.argv = ["statecatcher", *sys.argv[1:]]
runpy.run_module("statecatcher", run_name="__main__")
"""


def statecatcher(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})


def installed_plugin_packages() -> set[str]:
    return {ep.dist.name for ep in metadata.entry_points(group="statecatcher")}


def test_json_lists_every_installed_plugin_package_with_what_it_registers():
    rows = json.loads(statecatcher("list-plugins", "--json").stdout)
    assert {row["package"] for row in rows} == installed_plugin_packages()
    for row in rows:
        assert row["hooks"] and row["registers"], row
        assert row["version"] == metadata.version(row["package"])


def test_all_adds_the_built_ins_registered_through_the_same_hooks():
    rows = json.loads(statecatcher("list-plugins", "--all", "--json").stdout)
    builtins = [row for row in rows if row["builtin"]]
    assert {row["package"] for row in builtins} == {"statecatcher-core"}
    registered = {name for row in builtins for name in row["registers"]}
    assert {"tracker:console", "tracker:jsonl", "data_source:local"} <= registered
    assert {row["package"] for row in rows if not row["builtin"]} == installed_plugin_packages()


def test_load_plugins_env_picks_distributions_and_keeps_the_built_ins():
    some = sorted(installed_plugin_packages())[:1]
    rows = json.loads(statecatcher("list-plugins", "--all", "--json", STATECATCHER_LOAD_PLUGINS=",".join(some)).stdout)
    assert {row["package"] for row in rows} == {*some, "statecatcher-core"}
    rows = json.loads(statecatcher("list-plugins", "--json", STATECATCHER_LOAD_PLUGINS="").stdout)
    assert rows == []


def test_table_has_a_row_per_plugin_package():
    table = statecatcher("list-plugins").stdout
    for package in installed_plugin_packages():
        assert package in table


@pytest.mark.parametrize("args", [["--help"], ["list-plugins"], ["list-plugins", "--all", "--json"]])
def test_help_and_list_plugins_leave_torch_unimported_and_take_under_a_second(args):
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared and noisy
        started = time.perf_counter()
        result = statecatcher(*args)
        best = min(best, time.perf_counter() - started)
    assert result.stderr.strip().endswith("torch imported: False"), result.stderr
    assert best < 1.0, f"statecatcher {' '.join(args)} took {best:.2f} s"


def test_an_unknown_name_is_refused_listing_every_installed_name_of_its_kind():
    rows = json.loads(statecatcher("list-plugins", "--all", "--json").stdout)
    encoders = {name.removeprefix("encoder:"): row["package"] for row in rows for name in row["registers"]
                if name.startswith("encoder:")}
    result = subprocess.run([sys.executable, "-m", "statecatcher", "check", "encoder", "no-such-encoder"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Invalid value for NAME: unknown encoder 'no-such-encoder'. Available: " in result.stderr
    for name, package in encoders.items():
        assert f"{name} ({package} " in result.stderr
