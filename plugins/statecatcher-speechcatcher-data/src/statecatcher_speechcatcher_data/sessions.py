"""Server-side training sessions, as speechcatcher-data keeps them (in memory: a restart forgets them).

A session holds the ids of the episodes matching its filters, ordered by duration (``asc`` or ``desc``),
and hands them out ``batch_size`` at a time.  After the last batch of an epoch, the next call answers
"End of epoch reached" once and the one after starts the next epoch in the same order.  Delivery is at
most once: a batch handed out is never handed out again in that epoch, done or not; only a batch handed
out can be marked done.  Sessions expire: one unused for ``idle_seconds`` is forgotten (its id answers 404
like an unknown one), and at most ``max_sessions`` live at once (:class:`TooManySessions` beyond).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
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
    handed_out: set[tuple[int, int]] = field(default_factory=set)  # (epoch, batch_id) handed out
    log: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    last_used: float = 0.0  # the store's clock (monotonic seconds)


class TooManySessions(RuntimeError):
    """``max_sessions`` sessions are live; one must end or expire before another starts."""


class SessionStore:
    """Thread-safe sessions by id; ``next_batch`` returns ``(epoch, batch_id, ids)`` or None at an epoch's end."""

    def __init__(self, max_log: int = 1000, *, idle_seconds: float = 3600.0, max_sessions: int = 1000,
                 clock: Callable[[], float] = time.monotonic):
        self._sessions: dict[str, TrainingSession] = {}
        self._lock = threading.Lock()
        self.max_log, self.idle_seconds, self.max_sessions, self.clock = max_log, idle_seconds, max_sessions, clock

    def start(self, episode_ids: list[int], batch_size: int, order: str) -> TrainingSession:
        """A new session; raises :class:`TooManySessions` when ``max_sessions`` unexpired ones are live."""
        session = TrainingSession(uuid.uuid4().hex, list(episode_ids), batch_size, order, last_used=self.clock())
        with self._lock:
            self._expire(session.last_used)
            if len(self._sessions) >= self.max_sessions:
                raise TooManySessions(f"{len(self._sessions)} training sessions are open (the most this server "
                                      f"keeps); end one, or wait until one is unused for {self.idle_seconds:g} s")
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> TrainingSession | None:
        """The live session ``session_id`` (its idle clock restarts), or None when unknown or expired."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            session = self._sessions.get(session_id)
            if session is not None:
                session.last_used = now
            return session

    def _expire(self, now: float) -> None:
        for session_id in [k for k, v in self._sessions.items() if now - v.last_used > self.idle_seconds]:
            del self._sessions[session_id]

    def next_batch(self, session: TrainingSession) -> tuple[int, int, list[int]] | None:
        with self._lock:
            if session.position >= len(session.episode_ids):
                session.epoch, session.position, session.batch_id = session.epoch + 1, 0, 0
                return None
            ids = session.episode_ids[session.position:session.position + session.batch_size]
            batch = (session.epoch, session.batch_id, ids)
            session.handed_out.add(batch[:2])
            session.position += len(ids)
            session.batch_id += 1
            return batch

    def mark_done(self, session: TrainingSession, epoch: int, batch_id: int) -> bool:
        with self._lock:
            if (epoch, batch_id) not in session.handed_out:
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
