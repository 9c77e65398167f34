"""What a number was measured on: CPU model, cores, memory, Python, torch and its thread count."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo (Linux), else ``platform.processor()`` or the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor() or platform.machine())


def machine_info() -> dict[str, Any]:
    """CPU model, cores (all, usable), memory GiB, platform, Python, torch version and threads, GPU (or None)."""
    import torch

    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "memory_gib": round(memory_gib, 1), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "gpu": gpu}


def describe(machine: dict[str, Any]) -> str:
    """One line: ``CPU, N cores (M usable), X GiB; torch V, T thread(s); Python P``."""
    gpu = f"; GPU {machine['gpu']}" if machine.get("gpu") else ""
    return (f"{machine['cpu']}, {machine['cores']} cores ({machine.get('cores_usable', machine['cores'])} usable), "
            f"{machine.get('memory_gib', '?')} GiB; torch {machine['torch']}, {machine['torch_threads']} torch "
            f"thread(s); Python {machine['python']}{gpu}")
