"""Sessions of the statecatcher monorepo: core and every plugin in pip-backed venvs, torch installed first.

    nox                                   # = nox -s tests: core + all plugins in one venv, the whole test suite
    nox -s tests -- -x -q statecatcher-core/tests   # arguments after -- go to pytest
    nox -s plugin                         # each plugin alone with core (catches undeclared dependencies)
    nox -s lint                           # ruff
    nox -s demo | bench | experiment      # not run by default
    nox -s gpu [-- --dry-run]             # the GPU acceptance run on a CUDA machine (docs/gpu.md)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
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


DEMO_CORPUS = ["--episodes", "16", "--minutes", "3.5-4.5", "--seed", "0"]  # ~64 min: 10 train, 3 dev, 3 test
DEMO_STEPS = "4500"  # one lane, the cpu-demo preset: ~5 min of training on 2 idle cores


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
    """The README's main job: synthesize the embedded corpus, serve it over HTTP, train, transcribe, evaluate."""
    install_editable(session, *PLUGINS)
    out = Path(session.posargs[0] if session.posargs else ROOT / "runs" / "demo").resolve()
    corpus, run_dir = out / "corpus", out / "run"
    if not (corpus / "manifest.jsonl").exists():
        session.run("statecatcher", "synth-corpus", "--out", str(corpus), *DEMO_CORPUS)
    key = secrets.token_hex(16)
    env = {"STATECATCHER_API_KEY": key}
    server = subprocess.Popen([str(Path(session.bin) / "statecatcher"), "serve", str(corpus), "--api-key", key,
                               "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
    try:
        url = server.stdout.readline().split()[-1]  # "serving CORPUS at http://127.0.0.1:PORT"
        session.run("statecatcher", "run", "--preset", "cpu-demo", "--data", f"speechcatcher:{url}",
                    "--data-opt", "split_by=server", "--data-opt", f"cache_dir={out / 'data-cache'}",
                    "--run-dir", str(run_dir), "--max-steps", DEMO_STEPS, "--epochs", "1000", env=env)
        test_audio = next(json.loads(line)["audio"] for line in (corpus / "manifest.jsonl").read_text().splitlines()
                          if json.loads(line)["split"] == "test")
        session.run("statecatcher", "transcribe", str(run_dir), str(corpus / test_audio), "--best",
                    "--json", str(out / "transcript.json"))
        for extra in ([], ["--stateless"]):  # held-out WER with the carried state, then resetting it every segment
            session.run("statecatcher", "eval", str(run_dir), "--best", "--data", f"local:{corpus}", "--split", "test",
                        "--mode", "segment", "--report", str(out / f"eval{'-stateless' if extra else ''}.json"),
                        *extra)
        session.run("statecatcher", "plot", str(run_dir))
    finally:
        server.terminate()
        server.wait(timeout=30)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """python -m benchmarks: every row's ratios as a table and benchmarks/results/latest.json (-- ROW, --small)."""
    install_editable(session, *PLUGINS)
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
def experiment(session: nox.Session) -> None:
    """Stateful vs stateless training, evaluated per segment and per recording (docs/experiments/)."""
    install_editable(session, *PLUGINS)
    session.run("python", "-m", "experiments.stateful", "--out", "runs/experiment", *session.posargs,
                env={"STATECATCHER_LAUNCHER": "nox -s experiment"})
