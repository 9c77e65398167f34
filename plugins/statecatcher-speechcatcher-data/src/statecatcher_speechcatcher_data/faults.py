"""Fault injection for ``statecatcher serve`` (tests and drills).

A plan is a list of rules, e.g. from ``statecatcher serve --faults faults.json``::

    [{"route": "audio", "match": "rec-001", "action": "drop", "times": 2},
     {"route": "transcript", "match": "rec-002", "action": "bad_vtt", "times": 0}]

``route`` is ``audio``, ``transcript``, ``list``, ``start_session``, ``next_batch`` or ``end_session``;
``match`` is a substring of the request path ("" matches all); ``times`` is how many matching requests the
rule hits (0 = every one).  Actions: ``error500``; ``not_found``; ``drop`` (send half the body, then close
the connection); ``stall`` (send half the body, then wait ``seconds``, default 5); ``truncate`` (serve the
first half of the file as if it were all of it); ``corrupt`` (random bytes of the file's length);
``bad_vtt`` (a malformed WebVTT document); ``vanish`` (forget every training session, answer 404).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

ROUTES = ("audio", "transcript", "list", "start_session", "next_batch", "end_session")
ACTIONS = ("error500", "not_found", "drop", "stall", "truncate", "corrupt", "bad_vtt", "vanish")


@dataclass
class Fault:
    route: str
    action: str
    match: str = ""
    times: int = 1
    seconds: float = 5.0


class FaultPlan:
    """Thread-safe: :meth:`take` returns the first rule matching a request and uses one of its ``times``."""

    def __init__(self, rules: list[Fault] | None = None):
        self.rules = list(rules or [])
        for rule in self.rules:
            if rule.route not in ROUTES or rule.action not in ACTIONS:
                raise ValueError(f"fault {rule}: route must be one of {ROUTES}, action one of {ACTIONS}")
        self.hits: list[tuple[str, str, str]] = []  # (route, action, path) of every fault served
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> FaultPlan:
        try:
            return cls([Fault(**rule) for rule in json.loads(Path(path).read_text())])
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a fault plan (a JSON list of rules, see the faults module): {error}") \
                from error

    def take(self, route: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.route == route and rule.match in path and rule.times >= 0:
                    if rule.times == 1:
                        rule.times = -1  # used up
                    elif rule.times > 1:
                        rule.times -= 1
                    self.hits.append((route, rule.action, path))
                    return rule
        return None
