"""The GPU acceptance run (benchmarks/gpu.py, docs/gpu.md): its dry run on the CPU, and every check on CUDA.

The dry run is the CPU plumbing test: every group in its own process, the report rewritten per group,
each CUDA kernel replaced by the PyTorch path or skipped with its reason.  The tests marked ``gpu`` run
every check in-process on a CUDA device (the root conftest skips them without one).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benchmarks package lives at the repository root

from benchmarks import gpu, gpu_install  # noqa: E402
from benchmarks.gpu_common import STATUSES, Context, one_check  # noqa: E402
from benchmarks.gpu_models import ENCODERS  # noqa: E402

ALL_CHECKS = {name: group for group in gpu.GROUPS for name in gpu.check_names(group)}
CUDA_KERNEL_CHECKS = ["rwkv7_fla_vs_torch", "rwkv6_fla_vs_torch", "mlstm_triton_vs_native", "slstm_cuda_vs_vanilla"]


def run_gpu_script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "benchmarks/gpu.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("gpu") / "dry-run.json"
    done = run_gpu_script("--dry-run", "--out", str(out))
    return done, json.loads(out.read_text())


def test_dry_run_passes_and_reports_every_check_with_a_status(dry_run):
    done, report = dry_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["dry_run"] is True and report["timeout_s"] == gpu.DEFAULT_TIMEOUT_S
    assert report["machine"]["device"] == "cpu" and report["machine"]["packages"]["torch"]
    assert set(report["checks"]) == set(ALL_CHECKS)
    for name, outcome in report["checks"].items():
        assert outcome["group"] == ALL_CHECKS[name]
        assert outcome["status"] in ("pass", "skipped"), (name, outcome)
        assert outcome["status"] == "pass" or outcome["reason"], (name, outcome)
        assert outcome["seconds"] >= 0
    counts = {status: sum(o["status"] == status for o in report["checks"].values()) for status in STATUSES}
    assert report["summary"] == counts and report["seconds"] > 0


def test_dry_run_installs_nothing_and_says_what_it_would_run(dry_run):
    _, report = dry_run
    project = report["install"]["project"]
    assert project["status"] == "skipped"
    assert "--dry-run: would run" in project["reason"] and "--no-deps" in project["reason"]
    assert "-e " + str(ROOT / "statecatcher-core") in project["reason"]


def test_cuda_kernels_run_against_the_pytorch_path_as_stand_in(dry_run):
    _, report = dry_run
    for name in CUDA_KERNEL_CHECKS:
        outcome = report["checks"][name]
        assert outcome["status"] == "pass" and "--dry-run on the CPU" in outcome["stand_in"], outcome
        assert all(outcome[key] == 0.0 for key in ("outputs", "state", "input_grad", "param_grads")), outcome
    warp = report["checks"]["rnnt_warp_vs_torch"]
    assert warp["status"] == "skipped" and "no CPU kernel" in warp["reason"]


def test_every_encoder_and_loss_trains_with_finite_falling_losses(dry_run):
    _, report = dry_run
    trained = {name: o for name, o in report["checks"].items() if o["group"] == "training"}
    assert set(trained) == {f"train_{encoder}_{loss}" for encoder in ENCODERS for loss in ("ctc", "rnnt")}
    for name, outcome in trained.items():
        assert outcome["last_tenth"] < 0.8 * outcome["first_tenth"], (name, outcome)


def test_ddp_check_ran_a_gloo_rank_on_the_cpu(dry_run):
    _, report = dry_run
    ddp = report["checks"]["ddp_nccl"]
    assert ddp["backend"] == "gloo" and ddp["world_size"] == 1 and len(ddp["ranks"][0]["losses"]) == 5


def test_overall_timeout_skips_what_did_not_run_and_fails(tmp_path):
    out = tmp_path / "timeout.json"
    done = run_gpu_script("--dry-run", "--timeout", "12", "--only", "training", "--out", str(out))
    report = json.loads(out.read_text())
    assert done.returncode == 1
    assert "overall --timeout 12 s" in report["error"]
    assert set(report["checks"]) == {name for name, group in ALL_CHECKS.items() if group == "training"}
    for outcome in report["checks"].values():  # 12 s less the 5 s margin leave no group its 10 s minimum
        assert outcome == {"group": "training", "status": "skipped",
                           "reason": "not run: the overall --timeout 12 s was reached"}


def test_group_cap_replaces_every_groups_own_limit(tmp_path):
    """fla's first-use autotuning outlasts the groups' own caps (docs/gpu.md): --group-cap gives a run of a few
    checks the time they need, still within --timeout."""
    out = tmp_path / "cap.json"
    done = run_gpu_script("--dry-run", "--only", "ddp_nccl", "--group-cap", "45", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "=== gpu: group ddp (at most 45 s)" in done.stdout
    assert json.loads(out.read_text())["checks"]["ddp_nccl"]["status"] == "pass"
    too_short = run_gpu_script("--dry-run", "--group-cap", "5", timeout=60)
    assert too_short.returncode == 2 and "--group-cap 5: a group needs at least 10 s" in too_short.stderr


def test_unknown_only_name_is_one_line_naming_the_choices():
    done = run_gpu_script("--dry-run", "--only", "nosuchcheck", timeout=60)
    assert done.returncode == 2
    assert "--only nosuchcheck: not a group or check" in done.stderr and "train_lstm_ctc" in done.stderr


def test_a_crashed_group_errs_on_its_running_check_and_skips_the_rest():
    finished = [{"name": "a", "status": "pass", "seconds": 1.0}]
    outcomes = gpu.complete(["a", "b", "c"], finished, "timed out after 9 s")
    assert outcomes["a"] == {"status": "pass", "seconds": 1.0}
    assert outcomes["b"] == {"status": "error", "reason": "timed out after 9 s while this check ran"}
    assert outcomes["c"] == {"status": "skipped", "reason": "not run: timed out after 9 s during b"}


@pytest.mark.parametrize("installed_major, carries_setuptools", [(80, False), (65, True), (0, True)])
def test_install_never_resolves_and_carries_setuptools_only_where_too_old(tmp_path, monkeypatch, installed_major,
                                                                          carries_setuptools):
    for name in ("fla_core-0.6.0-py3-none-any.whl", "setuptools-84.2.1-py3-none-any.whl", "warp_rnnt-0.7.0.tar.gz"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(gpu_install, "setuptools_major", lambda: installed_major)
    steps, warp, notes = gpu_install.install_steps(tmp_path)
    assert [step.name for step in steps] == ["wheels", "project"] and warp.name == "warp-rnnt"
    for step in (*steps, warp):
        assert step.command[1:6] == ["-m", "pip", "install", "--no-index", "--no-deps"], step
    wheels = [Path(arg).name for arg in steps[0].command if arg.endswith(".whl")]
    assert wheels == ["fla_core-0.6.0-py3-none-any.whl"] + ["setuptools-84.2.1-py3-none-any.whl"] * carries_setuptools
    command = steps[1].command
    editable = [Path(command[i + 1]).name for i, arg in enumerate(command) if arg == "-e"]
    assert editable == ["statecatcher-core", *sorted(p.parent.name for p in ROOT.glob("plugins/*/pyproject.toml"))]
    assert warp.command[-1] == str(tmp_path / "warp_rnnt-0.7.0.tar.gz") and "--no-build-isolation" in warp.command
    assert bool(notes) != carries_setuptools


def test_install_without_a_wheel_folder_says_how_to_make_one(tmp_path):
    steps, warp, notes = gpu_install.install_steps(tmp_path / "missing")
    assert [step.name for step in steps] == ["project"] and warp is None
    assert any("python benchmarks/gpu_wheels.py" in note for note in notes)
    assert any("warp-rnnt checks will be skipped" in note for note in notes)


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ALL_CHECKS))
def test_check_on_cuda(name):
    checks = importlib.import_module(gpu.GROUPS[ALL_CHECKS[name]]).CHECKS
    outcome = one_check(name, checks[name], Context("cuda", dry_run=False))
    assert outcome["status"] in ("pass", "skipped"), outcome
