"""Every package's pyproject.toml and README carry what PyPI and a user need (docs/releasing.md); the cheap
half of ``nox -s build``, which builds and installs the wheels."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from statecatcher.train.config import tomllib  # tomli on Python 3.10

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "statecatcher-core", *sorted(path.parent for path in ROOT.glob("plugins/*/pyproject.toml"))]
CORE = tomllib.loads((ROOT / "statecatcher-core" / "pyproject.toml").read_text())["project"]


def project(package: Path) -> dict:
    return tomllib.loads((package / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_pyproject_has_version_licence_readme_and_urls(package):
    meta = project(package)
    assert meta["name"] == package.name
    assert meta["version"] == CORE["version"]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert (package / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert meta["readme"] == "README.md" and (package / "README.md").is_file()
    assert meta["description"] and meta["requires-python"] == ">=3.10"
    assert set(meta["urls"]) == {"Homepage", "Documentation", "Source", "Issues"}
    assert meta["urls"]["Source"].endswith("/tree/main/" + package.relative_to(ROOT).as_posix())


@pytest.mark.parametrize("package", PACKAGES[1:], ids=lambda path: path.name)
def test_plugin_pins_its_core_minor_version_and_names_its_entry_point(package):
    meta = project(package)
    major, minor, _ = CORE["version"].split(".")
    assert f"statecatcher-core~={major}.{minor}.0" in meta["dependencies"]
    name = package.name.removeprefix("statecatcher-").replace("-", "_")
    assert meta["entry-points"]["statecatcher"] == {name: "statecatcher_" + name}


def package_section(package: Path) -> str:
    text = (package / "README.md").read_text()
    match = re.search(r"^## Package\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"{package.name}/README.md has no '## Package' section"
    return match.group(1)


@pytest.fixture(scope="module")
def registrations() -> dict[str, list[str]]:
    """package -> what ``statecatcher list-plugins --json`` says it registers, sorted."""
    listing = subprocess.run([str(Path(sys.executable).parent / "statecatcher"), "list-plugins", "--json"],
                             capture_output=True, text=True, check=True).stdout
    return {row["package"]: sorted(row["registers"]) for row in json.loads(listing)}


@pytest.mark.parametrize("package", PACKAGES[1:], ids=lambda path: path.name)
def test_plugin_readme_says_what_it_registers_and_depends_on(package, registrations):
    section = package_section(package)
    assert f"pip install {package.name}\n" in section
    listed = re.search(r"^Registers: (.*)$", section, flags=re.M).group(1)
    assert listed == ", ".join(f"`{name}`" for name in registrations[package.name])
    depends = re.search(r"^Dependencies: (.*)$", section, flags=re.M).group(1)
    assert depends == ", ".join(f"`{dep}`" for dep in project(package)["dependencies"])
