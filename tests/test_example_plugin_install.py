"""The tutorial's plugin, installed from a temporary copy: it is listed, usable, and gone once uninstalled."""

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[1] / "docs" / "example-plugin" / "statecatcher-hello"


def run(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def listed_packages() -> dict[str, dict]:
    return {row["package"]: row for row in json.loads(run("-m", "statecatcher", "list-plugins", "--json"))}


@pytest.mark.slow
def test_install_list_use_uninstall(tmp_path):
    with pytest.raises(metadata.PackageNotFoundError):  # the test uninstalls it at the end: never clobber a dev's copy
        metadata.version("statecatcher-hello")
    package = shutil.copytree(EXAMPLE, tmp_path / "statecatcher-hello",
                              ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    assert "statecatcher-hello" not in listed_packages()

    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(package))
    try:
        row = listed_packages()["statecatcher-hello"]
        assert (row["version"], row["hooks"], row["registers"]) == (
            "0.1.0", ["register_commands", "register_trackers"], ["tracker:hello", "command:hello"])

        assert run("-m", "statecatcher", "hello", "tester").startswith("Hello, tester! Encoders: ")
        run("-c", "from statecatcher import get_tracker\n"
                  f"tracker = get_tracker('hello', {str(tmp_path / 'run')!r})\n"
                  "tracker.log_metrics(7, {'loss': 0.5}); tracker.close()")
        assert (tmp_path / "run" / "hello.log").read_text() == 'step 7 {"loss": 0.5}\n'
        assert "2 passed" in run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    finally:
        run("-m", "pip", "uninstall", "--quiet", "--yes", "statecatcher-hello")

    assert "statecatcher-hello" not in listed_packages()
    assert "hello" not in run("-m", "statecatcher", "--help")
