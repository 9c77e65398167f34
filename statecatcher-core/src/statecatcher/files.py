"""Atomic file replacement: readers see the old file or the new one, never a half-written one.

The temporary file sits beside the target (same file system, so ``os.replace`` is atomic) under a name
unique to this process and thread, so ranks or threads that write the same file at once do not clobber
each other's temporary (the last ``replace`` wins, whole).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A temporary path beside ``path``, unique to this process and thread."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_atomically(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``data`` (text in ``encoding``, or bytes) in one step."""
    temporary = temporary_sibling(path)
    if isinstance(data, bytes):
        temporary.write_bytes(data)
    else:
        temporary.write_text(data, encoding=encoding)
    os.replace(temporary, path)
