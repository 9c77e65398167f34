"""Atomic file replacement: readers see the old file or the new one, never a half-written one.

The temporary file sits beside the target (same file system, so ``os.replace`` is atomic) under a name
unique to this process and thread, so ranks or threads that write the same file at once do not clobber
each other's temporary (the last ``replace`` wins, whole).  When writing fails the temporary is removed
and the target is untouched; a full disk raises :class:`DiskFullError` naming the target.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """No space left on the device while writing ``filename``; nothing partial was left behind."""

    def __init__(self, path: Path):
        super().__init__(errno.ENOSPC, f"No space left on device while writing {path}", str(path))

    def __str__(self) -> str:
        return self.strerror


def temporary_sibling(path: Path) -> Path:
    """A temporary path beside ``path``, unique to this process and thread."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` or an exception it was raised from or during is ENOSPC / EDQUOT (torch wraps the
    ``OSError`` of a file object's ``write`` in a ``RuntimeError``)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _FULL:
            return True
        error = error.__cause__ or error.__context__
    return False


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content to; it replaces ``path`` when the block ends, and on any
    error is deleted, leaving ``path`` as it was (a full disk: :class:`DiskFullError`)."""
    temporary = temporary_sibling(path)
    try:
        with open(temporary, "wb") as file:
            yield file
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise DiskFullError(path) from error
        raise


def write_atomically(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``data`` (text in ``encoding``, or bytes) in one step."""
    with replacing(path) as file:
        file.write(data if isinstance(data, bytes) else data.encode(encoding))
