"""Sessions of the statecatcher monorepo: core and every plugin in pip-backed venvs, torch installed first.

    nox                                   # = nox -s tests: core + all plugins in one venv, the whole test suite
    nox -s tests -- -x -q statecatcher-core/tests   # arguments after -- go to pytest
    nox -s plugin                         # each plugin alone with core (catches undeclared dependencies)
    nox -s lint                           # ruff
    nox -s demo | bench | experiment | long_form   # not run by default
    nox -s results [-- --quick]           # every table of RESULTS.md and docs/ from one run (experiments/results.py)
    nox -s gpu [-- --dry-run]             # the GPU acceptance run on a CUDA machine (docs/gpu.md)
"""

from __future__ import annotations

import shutil
import tempfile
import time
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


def install_editable(session: nox.Session, *plugins: str, core_extras: str = "") -> None:
    """torch, then core (with ``core_extras``, e.g. ``"[onnx]"``) and ``plugins`` editable in ONE pip call (else
    pip looks for statecatcher-core on PyPI)."""
    session.install(TORCH)
    session.install(*(arg for path in (CORE + core_extras, *plugins) for arg in ("-e", path)), *TEST_DEPS)


@nox.session
def tests(session: nox.Session) -> None:
    """Core (with its onnx extra) and every plugin in one venv; run pytest over the repo (root, core and plugin
    tests)."""
    install_editable(session, *PLUGINS, core_extras="[onnx]")
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
def build(session: nox.Session) -> None:
    """sdist + wheel of core and every plugin into dist/ (twine check), then a fresh venv with ONLY those
    wheels: list-plugins, 20 steps of xlstm + rnnt on a tiny synthetic corpus, transcribe (docs/releasing.md)."""
    started = time.perf_counter()
    session.install("build", "twine")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in (CORE, *PLUGINS):
        session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT / package))
    session.run("twine", "check", "--strict", *map(str, sorted(dist.iterdir())))
    with tempfile.TemporaryDirectory(prefix="statecatcher-wheels-") as scratch:
        venv, work = Path(scratch) / "venv", Path(scratch) / "work"
        work.mkdir()
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        session.run(python, "-m", "pip", "install", TORCH, external=True)
        session.run(python, "-m", "pip", "install", *map(str, sorted(dist.glob("*.whl"))), external=True)
        session.run(python, str(ROOT / "tools" / "wheel_smoke.py"), str(work), external=True)
    session.log(f"build: {len(list(dist.iterdir()))} files in dist/, checked from wheels in "
                f"{time.perf_counter() - started:.0f} s")


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The README's main job (experiments/demo.py): synthesize the embedded corpus, serve it over HTTP, train,
    transcribe, evaluate (-- OUT_DIR [--seed N])."""
    install_editable(session, *PLUGINS)
    args = list(session.posargs)
    out = Path(args.pop(0) if args and not args[0].startswith("-") else ROOT / "runs" / "demo").resolve()
    session.run("python", "-m", "experiments.demo", "--out", str(out), *args)


@nox.session(default=False)
def recipe(session: nox.Session) -> None:
    """The recipe benchmark (experiments/recipe_benchmark.py): 14.5 h of synthetic episodes, --preset cpu-recipe
    with one lane and with eight at equal audio, held-out CER/WER (-- --out DIR --seed N --quick)."""
    install_editable(session, *PLUGINS)
    session.run("python", "-m", "experiments.recipe_benchmark", *session.posargs)


@nox.session(default=False)
def results(session: nox.Session) -> None:
    """Every published table from one clean run: results/*.json (with the machine) and the marked tables of
    RESULTS.md and docs/ rendered from them (experiments/results.py; -- TABLE --seeds N --quick)."""
    install_editable(session, *PLUGINS, core_extras="[onnx]")  # the onnx row of the performance table
    session.run("python", "-m", "experiments.results", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """python -m benchmarks: every row's ratios as a table and benchmarks/results/latest.json (-- ROW, --small)."""
    install_editable(session, *PLUGINS, core_extras="[onnx]")  # the onnx row
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(default=False, venv_params=["--system-site-packages"])
def gpu(session: nox.Session) -> None:
    """benchmarks/gpu.py on a CUDA machine with a network: the machine's torch, the project --no-deps (docs/gpu.md)."""
    version = session.run("python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])", silent=True).strip()
    session.run("python", "benchmarks/gpu_wheels.py", "--python-version", version)  # what a lent machine gets
    dry_run_installs = ["--install"] if "--dry-run" in session.posargs else []  # this venv starts without the project
    session.run("python", "benchmarks/gpu.py", *dry_run_installs, *session.posargs)


@nox.session(default=False)
def filter_experiment(session: nox.Session) -> None:
    """Label filters: WER with vs without filtering on 20% corrupted labels (docs/filters.md)."""
    install_editable(session, *PLUGINS)
    session.run("python", "-m", "experiments.filters", "--out", "runs/filter-experiment",
                *session.posargs)


@nox.session(default=False)
def long_form(session: nox.Session) -> None:
    """An hour streamed through trained models: state RMS and CER in the stream vs fresh (-- RUN_DIR... --corpus C)."""
    install_editable(session, *PLUGINS)
    session.run("python", "-m", "experiments.long_form", *(session.posargs or ["--help"]))


@nox.session(default=False)
def experiment(session: nox.Session) -> None:
    """Stateful vs stateless training, evaluated per segment and per recording (docs/experiments/)."""
    install_editable(session, *PLUGINS)
    session.run("python", "-m", "experiments.stateful", "--out", "runs/experiment", *session.posargs,
                env={"STATECATCHER_LAUNCHER": "nox -s experiment"})
