"""Server-side training sessions, as speechcatcher-data keeps them (in memory: a restart forgets them).

A session holds the ids of the episodes matching its filters, ordered by duration (``asc`` or ``desc``),
and hands them out ``batch_size`` at a time.  After the last batch of an epoch, the next call answers
"End of epoch reached" once and the one after starts the next epoch in the same order.  Delivery is at
most once: a batch handed out is never handed out again in that epoch, done or not.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

END_OF_EPOCH = "End of epoch reached"


@dataclass
class TrainingSession:
    id: str
    episode_ids: list[int]
    batch_size: int
    order: str
    epoch: int = 0
    position: int = 0
    batch_id: int = 0
    done: set[tuple[int, int]] = field(default_factory=set)  # (epoch, batch_id) marked done
    log: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)


class SessionStore:
    """Thread-safe sessions by id; ``next_batch`` returns ``(epoch, batch_id, ids)`` or None at an epoch's end."""

    def __init__(self, max_log: int = 1000):
        self._sessions: dict[str, TrainingSession] = {}
        self._lock = threading.Lock()
        self.max_log = max_log

    def start(self, episode_ids: list[int], batch_size: int, order: str) -> TrainingSession:
        session = TrainingSession(uuid.uuid4().hex, list(episode_ids), batch_size, order)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> TrainingSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def next_batch(self, session: TrainingSession) -> tuple[int, int, list[int]] | None:
        with self._lock:
            if session.position >= len(session.episode_ids):
                session.epoch, session.position, session.batch_id = session.epoch + 1, 0, 0
                return None
            ids = session.episode_ids[session.position:session.position + session.batch_size]
            batch = (session.epoch, session.batch_id, ids)
            session.position += len(ids)
            session.batch_id += 1
            return batch

    def mark_done(self, session: TrainingSession, epoch: int, batch_id: int) -> bool:
        with self._lock:
            handed_out = 0 <= epoch < session.epoch or (epoch == session.epoch and 0 <= batch_id < session.batch_id)
            if not handed_out or batch_id < 0:
                return False
            session.done.add((epoch, batch_id))
            return True

    def add_log(self, session: TrainingSession, level: str, message: str) -> None:
        with self._lock:
            session.log = (session.log + [{"time": time.time(), "level": level, "message": message}])[-self.max_log:]

    def status(self, session: TrainingSession) -> dict[str, Any]:
        with self._lock:
            return {"session_id": session.id, "num_samples": len(session.episode_ids), "epoch": session.epoch,
                    "position": session.position, "batch_size": session.batch_size, "order": session.order,
                    "batches_done": len(session.done), "log_entries": len(session.log)}

    def end(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
