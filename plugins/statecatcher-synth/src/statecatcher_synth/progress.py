"""A rich progress bar on stderr: audio seconds synthesized against the plan, realtime factor, episodes."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from statecatcher_synth.plan import EpisodePlan, Utterance


class BuildProgress:
    """Context manager; ``clip_done`` and ``episode_done`` advance it.  ``enabled=False`` shows nothing."""

    def __init__(self, plans: list[EpisodePlan], *, enabled: bool = True):
        self.episodes = len(plans)
        self.written = 0
        self.audio_seconds = 0.0
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("[bold]synth[/] {task.fields[episodes]}"),
            BarColumn(bar_width=24),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("[cyan]{task.fields[audio]}[/] audio"),
            TextColumn("[magenta]{task.fields[speed]}[/]"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        total = sum(plan.estimated_seconds(u) for plan in plans for u in plan.utterances)
        self.task = self.progress.add_task("synth", total=total, **self._fields())

    def __enter__(self) -> BuildProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    @property
    def realtime_factor(self) -> float:
        """Audio seconds produced per wall-clock second so far."""
        return self.audio_seconds / max(time.perf_counter() - self.started, 1e-9)

    def clip_done(self, plan: EpisodePlan, utterance: Utterance, seconds: float) -> None:
        self.audio_seconds += seconds
        self.progress.update(self.task, advance=plan.estimated_seconds(utterance), **self._fields())

    def episode_done(self, plan: EpisodePlan) -> None:
        self.written += 1
        self.progress.update(self.task, **self._fields())

    def _fields(self) -> dict[str, str]:
        minutes, seconds = divmod(int(self.audio_seconds), 60)
        return {
            "episodes": f"{self.written}/{self.episodes} ep",
            "audio": f"{minutes}:{seconds:02d}",
            "speed": f"{self.realtime_factor:.1f}x RT",
        }
