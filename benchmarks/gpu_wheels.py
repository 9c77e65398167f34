"""``python benchmarks/gpu_wheels.py [--dest gpu-wheels]``: fill the wheel folder carried to a lent GPU machine.

The machine has Python 3.12, its own CUDA torch, triton, torchaudio and onnxruntime (hence numpy and
packaging), and no network.  This downloads, for that Python and platform, the wheels of what the project
and the checks of ``benchmarks/gpu.py`` import beyond that (``--no-deps``: the list below *is* the
closure, checked by importing everything in a venv that has only torch, numpy and packaging), plus the
warp-rnnt sdist, which ``benchmarks/gpu_install.py`` builds there with nvcc.  The folder is git-ignored;
the tree and the folder together must stay under 64 MiB (``run``'s carry limit), so this fails above
``LIMIT_MIB``.  Sizes are printed; docs/gpu.md has the numbers of the last preparation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIB = 40.0
WHEELS = [
    # kernels: fla's ops only (flash-linear-attention itself would pull transformers), mLSTM, sLSTM
    "fla-core", "einops", "mlstm_kernels>=2.0", "xlstm>=2.0", "PyYAML", "safetensors", "ninja",
    # statecatcher-core's imports on the checks' path, and the feature extractor named by the design
    "pluggy>=1.3", "click>=8.1", "rich>=13", "markdown-it-py", "mdurl", "pygments", "kaldi-native-fbank>=1.19",
    # warp-rnnt's setup_requires (the sdist is built there), and setuptools, installed only where the machine
    # has none (the editable installs and that build use it)
    "pybind11", "setuptools>=77",
]
SDISTS = ["warp-rnnt"]  # built on the machine (CUDA extension, nvcc)
PYPI_JSON = "https://pypi.org/pypi/{name}/json"


def download(dest: Path, python_version: str, platform: str) -> None:
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", str(dest)]
    subprocess.run([*pip, "--only-binary=:all:", "--python-version", python_version, "--platform", platform,
                    *WHEELS], check=True)
    for name in SDISTS:
        download_sdist(name, dest)


def download_sdist(name: str, dest: Path) -> Path:
    """The newest sdist of ``name`` from PyPI's JSON API, its sha256 checked.  Not ``pip download``: pip
    prepares the metadata, and warp-rnnt's setup.py refuses to run without CUDA."""
    release = json.load(urllib.request.urlopen(PYPI_JSON.format(name=name), timeout=60))
    sdist = next(entry for entry in release["urls"] if entry["packagetype"] == "sdist")
    target = dest / sdist["filename"]
    if not target.exists():
        data = urllib.request.urlopen(sdist["url"], timeout=120).read()
        if hashlib.sha256(data).hexdigest() != sdist["digests"]["sha256"]:
            raise SystemExit(f"gpu_wheels: {sdist['filename']} does not match the sha256 PyPI lists for it")
        target.write_bytes(data)
    print(f"Saved {target}")
    return target


def sizes(dest: Path) -> dict[str, float]:
    """MiB per file in ``dest``."""
    return {path.name: path.stat().st_size / 2**20 for path in sorted(dest.iterdir()) if path.is_file()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "gpu-wheels", help="the folder (default gpu-wheels/)")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    parser.add_argument("--platform", default="manylinux2014_x86_64", help="its pip platform tag")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    for old in [*args.dest.glob("*.whl"), *args.dest.glob("*.tar.gz")]:  # another Python's wheels would not install
        old.unlink()
    download(args.dest, args.python_version, args.platform)
    files = sizes(args.dest)
    for name, mib in files.items():
        print(f"{mib:8.2f} MiB  {name}")
    total = sum(files.values())
    print(f"{total:8.2f} MiB  total in {args.dest} ({len(files)} files; limit {LIMIT_MIB:g} MiB)")
    if total > LIMIT_MIB:
        print(f"gpu_wheels: {args.dest} holds {total:.1f} MiB > {LIMIT_MIB:g} MiB: the carry would not fit",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
