"""The argument checks every :class:`~statecatcher.protocols.DataSource` shares in ``recordings()``."""

from __future__ import annotations

from collections.abc import Iterable

SPLITS = ("train", "dev", "test")


def check_recordings_args(source: str, split: str, known_splits: Iterable[str], *, rank: int, world_size: int,
                          start: int) -> None:
    """Raise ``ValueError`` naming ``source`` for an unknown split or an impossible (rank, world_size, start)."""
    known = set(known_splits)
    if split not in known and split not in SPLITS:
        raise ValueError(f"{source}: unknown split {split!r}; available: {sorted(known | set(SPLITS))}")
    if not (world_size >= 1 and 0 <= rank < world_size and start >= 0):
        raise ValueError(f"{source}: need 0 <= rank < world_size and start >= 0, got rank={rank} "
                         f"world_size={world_size} start={start}")
