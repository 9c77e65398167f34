"""``python -m benchmarks.gpu [--dry-run] [--out PATH] [--only NAME ...]``: the GPU acceptance run.

One command settles every CUDA path (docs/gpu.md): it installs the carried wheels and the project without
touching the machine's torch (``benchmarks/gpu_install.py``), then runs the check groups, each in its own
process, in this order::

    equivalence   CUDA kernels vs the PyTorch path (fla rwkv7/rwkv6, mlstm Triton, sLSTM CUDA), bf16 vs fp32,
                  chunked == whole
    training      200 bf16 stateful steps of every encoder x loss on a synthetic corpus: finite and falling
    losses        warp-rnnt and torchaudio vs the PyTorch lattice; time and memory of every loss backend
    ddp           DistributedDataParallel over NCCL on the GPUs present
    throughput    frames/s per encoder at ~30 M parameters; peak GPU memory vs context length

The whole run stops after ``--timeout`` seconds (default 480): a group gets what is left, a check still
running then is an ``error``, the checks after it are ``skipped``.  The JSON report (default
``benchmarks/results/gpu-<date>.json``) is rewritten after every group, so a killed run still leaves one.
Every check ends ``pass``, ``fail``, ``skipped`` (with its reason) or ``error``; the exit status is 1 when
any check failed or erred.  ``--dry-run`` runs the same plumbing on the CPU at tiny sizes in well under a
minute, each CUDA kernel replaced by the PyTorch path or skipped with its reason (the CPU test suite runs it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # python benchmarks/gpu.py
    sys.path.insert(0, str(ROOT))

from benchmarks import gpu_install  # noqa: E402
from benchmarks.gpu_common import STATUSES, Context, child_env, run_group  # noqa: E402

GROUPS = {"equivalence": "benchmarks.gpu_equivalence", "training": "benchmarks.gpu_training",
          "losses": "benchmarks.gpu_losses", "ddp": "benchmarks.gpu_ddp", "throughput": "benchmarks.gpu_throughput"}
GROUP_CAP_S = {"equivalence": 170, "training": 150, "losses": 60, "ddp": 60, "throughput": 150}
DEFAULT_TIMEOUT_S = 480
MARGIN_S = 5  # kept back from the deadline to write the report


class OverallTimeout(Exception):
    pass


def check_names(group: str) -> list[str]:
    return list(importlib.import_module(GROUPS[group]).CHECKS)


def selected_checks(only: list[str] | None) -> dict[str, list[str]]:
    """``{group: its check names}`` of the checks to run: all, or those named (or whose group is) in ``only``."""
    return {group: [name for name in check_names(group) if not only or name in only or group in only]
            for group in GROUPS}


def run_group_process(group: str, names: list[str], ctx: Context, timeout_s: float) -> dict[str, dict]:
    """Run checks ``names`` of ``group`` in a fresh process for at most ``timeout_s``: every one's outcome."""
    if not names:
        return {}
    with tempfile.TemporaryDirectory(prefix="statecatcher-gpu-") as scratch:
        out = Path(scratch) / "outcomes.jsonl"
        command = [sys.executable, "-m", "benchmarks.gpu", "--child", group, "--child-out", str(out),
                   "--device", ctx.device, *["--dry-run"] * ctx.dry_run, *[arg for n in names for arg in ("--only", n)]]
        process = subprocess.Popen(command, cwd=ROOT, env=child_env(), start_new_session=True)
        try:
            code, ended = process.wait(timeout=max(timeout_s, 1)), None
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group's compilers and torchrun ranks too
            code, ended = process.wait(), f"timed out after {timeout_s:.0f} s"
        except BaseException:  # the overall timeout (or ^C): nothing of the group may outlive the run
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finished = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return complete(names, finished, ended or f"the group's process exited with status {code}")


def complete(names: list[str], finished: list[dict], why: str) -> dict[str, dict]:
    """Every check of ``names`` in order: the ``finished`` outcomes; the first missing check is the ``error``
    that ended the process (``why``), the ones after it are ``skipped`` (never run)."""
    outcomes = {outcome["name"]: {k: v for k, v in outcome.items() if k != "name"} for outcome in finished}
    missing = [name for name in names if name not in outcomes]
    for index, name in enumerate(missing):
        outcomes[name] = ({"status": "error", "reason": f"{why} while this check ran"} if index == 0 else
                          {"status": "skipped", "reason": f"not run: {why} during {missing[0]}"})
    return {name: outcomes[name] for name in names}


def skip_the_rest(report: dict, selected: dict[str, list[str]], why: str) -> None:
    """Every selected check without an outcome yet becomes ``skipped`` with ``why``."""
    for group, names in selected.items():
        for name in names:
            report["checks"].setdefault(name, {"group": group, "status": "skipped", "reason": f"not run: {why}"})


def machine_info(device: str) -> dict:
    """Python, torch, CUDA and the versions of every optional kernel package; GPU names when on CUDA."""
    import platform
    import shutil
    from importlib import metadata

    import torch

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    packages = ("torch", "triton", "torchaudio", "fla-core", "mlstm_kernels", "xlstm", "warp-rnnt", "numpy")
    info = {"python": platform.python_version(), "platform": platform.platform(), "device": device,
            "torch_cuda": torch.version.cuda, "nvcc": shutil.which("nvcc"), "cpu_count": os.cpu_count(),
            "packages": {name: version(name) for name in packages}}
    if device == "cuda":
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def summarize(report: dict) -> dict:
    counts = dict.fromkeys(STATUSES, 0)
    for outcome in report["checks"].values():
        counts[outcome["status"]] += 1
    return counts


def write(report: dict, out: Path) -> None:
    report["summary"] = summarize(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")


def install(report: dict, args, deadline: float) -> gpu_install.Background | None:
    """Install steps into ``report["install"]``; the warp-rnnt build is returned running in the background."""
    steps, warp, notes = gpu_install.install_steps(args.wheels)
    report["install"] = {"notes": notes, "torch_before": gpu_install.torch_version()}
    if args.no_install or (args.dry_run and not args.install):
        why = "--no-install" if args.no_install else "--dry-run"
        for step in steps + [warp] * (warp is not None):
            report["install"][step.name] = {"status": "skipped", "reason": f"{why}: would run {' '.join(step.command)}"}
        return None
    for step in steps:
        report["install"][step.name] = gpu_install.run_step(step, min(step.timeout_s, deadline - time.time()))
    report["install"]["torch_after"] = gpu_install.torch_version()
    if warp and args.dry_run:
        report["install"][warp.name] = {"status": "skipped", "reason": "--dry-run: warp-rnnt builds only with CUDA"}
        return None
    return gpu_install.Background(warp, Path(tempfile.mkdtemp()) / "warp.log") if warp else None


def run_all(args, report: dict, deadline: float) -> None:
    background = install(report, args, deadline)
    write(report, args.out)
    try:
        import torch
    except ImportError as exc:
        raise SystemExit(f"benchmarks/gpu.py: torch does not import ({exc}); the run uses the machine's own torch "
                         "and never installs one") from None
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: torch.cuda.is_available() is False; on a machine without a GPU "
                         "use --dry-run")
    ctx = Context("cpu" if args.dry_run else "cuda", args.dry_run)
    report["machine"] = machine_info(ctx.device)
    try:
        for group, names in selected_checks(args.only).items():
            if group == "losses" and background is not None:  # its warp-rnnt checks need the finished build
                report["install"]["warp-rnnt"] = background.finish(deadline - MARGIN_S - time.time())
                background = None
            left = deadline - MARGIN_S - time.time()
            if left < 10:
                raise OverallTimeout
            cap = args.group_cap or (60 if args.dry_run else GROUP_CAP_S[group])
            print(f"=== gpu: group {group} (at most {min(cap, left):.0f} s)", flush=True)
            for name, outcome in run_group_process(group, names, ctx, min(cap, left)).items():
                report["checks"][name] = {"group": group, **outcome}
            write(report, args.out)
    finally:
        if background is not None:  # never leave the build running past the run
            report["install"]["warp-rnnt"] = background.finish(0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="the plumbing on the CPU at tiny sizes (no install)")
    parser.add_argument("--out", type=Path, help="JSON report (default benchmarks/results/gpu-<date>.json, "
                                                  "gpu-dry-run.json with --dry-run)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="hard limit for the whole run, s")
    parser.add_argument("--wheels", type=Path, default=ROOT / "gpu-wheels", help="the carried wheel folder")
    parser.add_argument("--no-install", action="store_true", help="use what is installed (a second run)")
    parser.add_argument("--install", action="store_true", help="install even with --dry-run (a bare CPU venv)")
    parser.add_argument("--only", action="append", metavar="NAME", help="a group or check to run (repeatable)")
    parser.add_argument("--group-cap", type=float, metavar="SECONDS",
                        help="every group's limit instead of its own (still within --timeout); fla's first-use "
                             "autotuning needs minutes: --only rwkv7_fla_vs_torch --group-cap 420")
    parser.add_argument("--child", choices=list(GROUPS), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    known = set(GROUPS) | {name for group in GROUPS for name in check_names(group)}
    unknown = sorted(set(args.only or []) - known)
    if unknown:
        parser.error(f"--only {', '.join(unknown)}: not a group or check; choose from {', '.join(sorted(known))}")
    if args.group_cap is not None and args.group_cap < 10:
        parser.error(f"--group-cap {args.group_cap:g}: a group needs at least 10 s")
    if args.out is None:
        name = "gpu-dry-run.json" if args.dry_run else f"gpu-{time.strftime('%Y-%m-%d', time.gmtime())}.json"
        args.out = ROOT / "benchmarks" / "results" / name
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        checks = importlib.import_module(GROUPS[args.child]).CHECKS
        run_group(checks, Context(args.device, args.dry_run), args.child_out, set(args.only or []))
        return 0
    started = time.time()
    deadline = started + args.timeout
    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "dry_run": args.dry_run,
              "timeout_s": args.timeout, "machine": None, "install": {}, "checks": {}}

    def out_of_time(signum, frame):
        raise OverallTimeout

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.timeout) + 1)  # the backstop: groups already stop at the deadline
    try:
        run_all(args, report, deadline)
    except OverallTimeout:
        report["error"] = f"the overall --timeout {args.timeout:g} s was reached"
        skip_the_rest(report, selected_checks(args.only), report["error"])
    finally:
        signal.alarm(0)
        report["seconds"] = round(time.time() - started, 1)
        write(report, args.out)
    print(f"gpu: {report['summary']} in {report['seconds']:.0f} s; wrote {args.out}")
    return 1 if report.get("error") or report["summary"]["fail"] or report["summary"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
