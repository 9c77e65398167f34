"""How experiments run the command-line tool: ``statecatcher ARGS`` as a subprocess, echoed first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STATECATCHER = str(Path(sys.executable).parent / "statecatcher")  # the CLI installed beside this Python


def statecatcher(*args: str, env: dict[str, str] | None = None) -> None:
    """Run ``statecatcher ARGS`` (:data:`STATECATCHER`); raises on a non-zero exit."""
    command = [STATECATCHER, *args]
    print("+ statecatcher " + " ".join(args), flush=True)
    subprocess.run(command, check=True, env={**os.environ, **(env or {})})
