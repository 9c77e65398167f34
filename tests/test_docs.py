"""Docs that cannot drift (datasette's tests/test_docs.py): every hook is documented with its exact signature
and has a test, and docs/cli.md is what docs/gen_cli_md.py makes from every ``--help``."""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from statecatcher import hookspecs

ROOT = Path(__file__).parents[1]
HOOKS_MD = (ROOT / "docs" / "hooks.md").read_text()
HOOKSPECS = {name: fn for name, fn in vars(hookspecs).items() if hasattr(fn, "statecatcher_spec")}
TEST_FILES = [*ROOT.glob("tests/test_*.py"), *ROOT.glob("statecatcher-core/tests/test_*.py"),
              *ROOT.glob("plugins/*/tests/test_*.py"), *ROOT.glob("docs/example-plugin/*/tests/test_*.py")]


def test_hookspecs_are_found():
    assert {"register_encoders", "register_losses", "register_commands"} <= set(HOOKSPECS)


@pytest.mark.parametrize("hook", sorted(HOOKSPECS))
def test_every_hook_is_documented_with_its_exact_signature(hook):
    heading = f"## {hook}{inspect.signature(HOOKSPECS[hook])}"
    assert re.search(rf"^{re.escape(heading)}$", HOOKS_MD, re.MULTILINE), f"docs/hooks.md needs `{heading}`"


def test_hooks_md_documents_no_hook_that_does_not_exist():
    documented = re.findall(r"^## (\w+)\(", HOOKS_MD, re.MULTILINE)
    assert sorted(documented) == sorted(HOOKSPECS)


@pytest.mark.parametrize("hook", sorted(HOOKSPECS))
def test_every_hook_has_a_test(hook):
    pattern = re.compile(rf"^def test_hook_{hook}\b", re.MULTILINE)
    assert any(pattern.search(path.read_text()) for path in TEST_FILES), f"write a `def test_hook_{hook}` test"


def test_cli_md_matches_every_help():
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_cli_md.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_tutorial_code_blocks_are_the_example_plugin_files_verbatim():
    tutorial = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"^<!-- file: (\S+) -->\n```\w*\n(.*?)^```$", tutorial, re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 4
    for relative, text in blocks:
        assert text == (ROOT / "docs" / "example-plugin" / relative).read_text(), f"docs/plugins.md: {relative}"
