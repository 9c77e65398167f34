"""Install the project and the carried wheels on a lent GPU machine without touching its torch.

The machine has Python 3.12 with its own CUDA torch, triton, torchaudio and onnxruntime, and no network.
Everything else travels in the git-ignored wheel folder that ``benchmarks/gpu_wheels.py`` fills:

1. ``wheels``: ``pip install --no-index --no-deps WHEELS/*.whl`` (fla-core, mlstm_kernels, xlstm and the few
   pure-Python packages they and the project import; setuptools only when the machine's is older than 77);
2. ``project``: ``pip install --no-index --no-deps --no-build-isolation -e statecatcher-core -e plugins/*``
   (the carried tree, editable: the plugins' entry points need installed metadata);
3. ``warp-rnnt`` (in the background, while the first checks run): the sdist built with the machine's nvcc.

``--no-deps`` and ``--no-index`` everywhere: pip never resolves, so it can neither download nor replace torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check"]
WARP_SDIST = "warp_rnnt-*.tar.gz"
EDITABLE_SETUPTOOLS = 77  # PEP 660 editable installs (64) and the SPDX `license = "..."` strings (77)
# a system Python may be "externally managed" (PEP 668); the lent machine is thrown away after the run
ENV = {**os.environ, "PIP_BREAK_SYSTEM_PACKAGES": "1"}


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    timeout_s: float


def project_paths() -> list[str]:
    """``statecatcher-core`` and every ``plugins/*`` folder, relative to the repository root."""
    plugins = sorted(p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("plugins/*/pyproject.toml"))
    return ["statecatcher-core", *plugins]


def install_steps(wheels: Path) -> tuple[list[Step], Step | None, list[str]]:
    """``(steps to run now, the warp-rnnt build or None, notes)`` for the wheel folder ``wheels``."""
    notes = []
    found = sorted(wheels.glob("*.whl"))
    setuptools = [w for w in found if w.name.startswith("setuptools-")]
    keep = [w for w in found if w not in setuptools]
    if setuptools_major() < EDITABLE_SETUPTOOLS:
        keep += setuptools
    elif setuptools:
        notes.append(f"the machine has setuptools >= {EDITABLE_SETUPTOOLS}: the carried one is not installed")
    steps = []
    if keep:
        steps.append(Step("wheels", [*PIP, *map(str, keep)], 120))
    else:
        notes.append(f"no wheels in {wheels}: run `python benchmarks/gpu_wheels.py` before carrying the tree")
    editable = [arg for path in project_paths() for arg in ("-e", str(ROOT / path))]
    steps.append(Step("project", [*PIP, "--no-build-isolation", *editable], 180))
    sdists = sorted(wheels.glob(WARP_SDIST))
    warp = Step("warp-rnnt", [*PIP, "--no-build-isolation", str(sdists[-1])], 300) if sdists else None
    if warp is None:
        notes.append(f"no {WARP_SDIST} in {wheels}: the warp-rnnt checks will be skipped")
    return steps, warp, notes


def setuptools_major() -> int:
    """The installed setuptools' major version, 0 if none."""
    try:
        return int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


def run_step(step: Step, timeout_s: float) -> dict:
    """Run ``step`` to the end (at most ``timeout_s``): ``{status, seconds, command, output_tail}``."""
    started = time.perf_counter()
    try:
        done = subprocess.run(step.command, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, env=ENV)
        status = "pass" if done.returncode == 0 else "error"
        output = done.stdout + done.stderr
        reason = None if status == "pass" else f"exit status {done.returncode}"
    except subprocess.TimeoutExpired as exc:
        status, reason = "error", f"timed out after {timeout_s:.0f} s"
        output = (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
    return {"status": status, "seconds": round(time.perf_counter() - started, 1), "command": " ".join(step.command),
            **({"reason": reason} if reason else {}), "output_tail": output[-2000:]}


class Background:
    """A step running in the background (its own process group, so a timeout kills its compilers too)."""

    def __init__(self, step: Step, log: Path):
        self.step, self.log, self.started = step, log, time.perf_counter()
        with log.open("w") as stream:
            self.process = subprocess.Popen(step.command, stdout=stream, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV,
                                            start_new_session=True)

    def finish(self, timeout_s: float) -> dict:
        """Wait at most ``timeout_s`` more (and never past the step's own limit); the outcome as :func:`run_step`."""
        left = self.step.timeout_s - (time.perf_counter() - self.started)
        try:
            code = self.process.wait(timeout=max(0.0, min(timeout_s, left)))
            status, reason = ("pass", None) if code == 0 else ("error", f"exit status {code}")
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
            status, reason = "error", f"not finished after {time.perf_counter() - self.started:.0f} s: killed"
        return {"status": status, "seconds": round(time.perf_counter() - self.started, 1),
                "command": " ".join(self.step.command), **({"reason": reason} if reason else {}),
                "output_tail": self.log.read_text(errors="replace")[-2000:]}


def torch_version() -> str | None:
    """The installed torch's version from its metadata (no import), or None."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
