"""Sessions of the statecatcher monorepo: core and every plugin in pip-backed venvs, torch installed first.

    nox                                   # = nox -s tests: core + all plugins in one venv, the whole test suite
    nox -s tests -- -x -q statecatcher-core/tests   # arguments after -- go to pytest
    nox -s plugin                         # each plugin alone with core (catches undeclared dependencies)
    nox -s lint                           # ruff
    nox -s demo | bench | experiment      # not run by default
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"  # pip: uv would fetch a multi-GB CUDA torch instead of the CPU wheel
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
TORCH = "torch==2.13.0"  # first, alone, so no plugin's dependency resolution picks another build
CORE = "statecatcher-core"
PLUGINS = sorted(path.parent.relative_to(ROOT).as_posix() for path in ROOT.glob("plugins/*/pyproject.toml"))
# [dependency-groups] test in the root pyproject.toml (setuptools: the example-plugin install test builds
# without build isolation)
TEST_DEPS = nox.project.dependency_groups(nox.project.load_toml(ROOT / "pyproject.toml"), "test")


def install_editable(session: nox.Session, *plugins: str) -> None:
    """torch, then core and ``plugins`` editable in ONE pip call (else pip looks for statecatcher-core on PyPI)."""
    session.install(TORCH)
    session.install(*(arg for path in (CORE, *plugins) for arg in ("-e", path)), *TEST_DEPS)


@nox.session
def tests(session: nox.Session) -> None:
    """Core and every plugin in one venv; run pytest over the repo (root, core and plugin tests)."""
    install_editable(session, *PLUGINS)
    session.run("pytest", *session.posargs)


@nox.session
@nox.parametrize("plugin", PLUGINS, ids=[Path(path).name for path in PLUGINS])
def plugin(session: nox.Session, plugin: str) -> None:
    """One plugin with core only; run that plugin's tests."""
    install_editable(session, plugin)
    session.run("pytest", f"{plugin}/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check over the repo (or the paths given after --)."""
    session.install("ruff")
    session.run("ruff", "check", *(session.posargs or ["."]))


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Train and transcribe the embedded corpus on CPU: the README's main command."""
    session.skip("not ready yet")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run every benchmarks/*.py (they print ratios); arguments after -- go to each script."""
    scripts = sorted(ROOT.glob("benchmarks/*.py"))
    if not scripts:
        session.skip("not ready yet: no benchmarks/*.py")
    install_editable(session, *PLUGINS)
    for script in scripts:
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session(default=False)
def experiment(session: nox.Session) -> None:
    """The longer experiments behind RESULTS.md."""
    session.skip("not ready yet")
