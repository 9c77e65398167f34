"""Data source ``synth:[CACHE_DIR]``: the embedded corpus, synthesised once into the user cache, then read
as a ``local`` folder.

``statecatcher run`` falls back to it when neither ``--data`` nor a ``./corpus`` folder is given.  The cache
folder is ``CACHE_DIR`` when given, else ``$STATECATCHER_CACHE_DIR/corpus-<version>`` (default
``~/.cache/statecatcher/corpus-<version>``, ``<version>`` = this package's version); inside it one
sub-folder per corpus key (see :func:`statecatcher_synth.corpus.cached_corpus`).  The corpus size is set by
the options ``episodes`` and ``minutes`` (``MIN-MAX``), defaulting to ``$STATECATCHER_CORPUS_EPISODES`` and
``$STATECATCHER_CORPUS_MINUTES`` when set, else 8 episodes of 1.5-2.5 min (~16 min, as ``nox -s demo``).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

from statecatcher.data.local import LocalDataSource

DEFAULT_EPISODES = 8
DEFAULT_MINUTES = "1.5-2.5"
CORPUS_SEED = 0


def default_cache_dir() -> Path:
    """``$STATECATCHER_CACHE_DIR`` (else ``~/.cache/statecatcher``) ``/corpus-<statecatcher-synth version>``."""
    root = Path(os.environ.get("STATECATCHER_CACHE_DIR") or Path.home() / ".cache" / "statecatcher").expanduser()
    return root / f"corpus-{metadata.version('statecatcher-synth')}"


def parse_minutes(text: str | float) -> tuple[float, float]:
    """``"1.5-2.5"`` -> ``(1.5, 2.5)``; one number means that length for every episode."""
    low, _, high = str(text).partition("-")
    try:
        minutes = (float(low), float(high or low))
    except ValueError:
        raise ValueError(f"synth data source: minutes must look like MIN-MAX (e.g. 1.5-2.5), got {text!r}") from None
    if not 0.0 < minutes[0] <= minutes[1]:
        raise ValueError(f"synth data source: minutes needs 0 < MIN <= MAX, got {text!r}")
    return minutes


class SynthDataSource(LocalDataSource):
    """The embedded synthetic corpus as a ``local`` source; built (with a notice and a progress bar on
    stderr) on first use, reused afterwards.  ``seed`` is the training seed (order only); the corpus itself
    always uses seed 0, so every run of one version sees the same bytes."""

    def __init__(self, spec: str = "", *, seed: int = 0, episodes: int | None = None,
                 minutes: str | float | None = None, shuffle: bool = True, progress: bool = True):
        from statecatcher_synth.corpus import MANIFEST, cached_corpus, corpus_key

        episodes = int(episodes if episodes is not None
                       else os.environ.get("STATECATCHER_CORPUS_EPISODES") or DEFAULT_EPISODES)
        if episodes < 1:
            raise ValueError(f"synth data source: episodes must be >= 1, got {episodes}")
        span = parse_minutes(minutes if minutes is not None
                             else os.environ.get("STATECATCHER_CORPUS_MINUTES") or DEFAULT_MINUTES)
        cache = Path(spec).expanduser() if spec else default_cache_dir()
        params = {"episodes": episodes, "minutes": span, "seed": CORPUS_SEED}
        target = cache / corpus_key(**params)
        if not (target / MANIFEST).exists():
            print(f"synthesising the embedded corpus ({episodes} episodes of {span[0]:g}-{span[1]:g} min, "
                  f"once) into {target}", file=sys.stderr, flush=True)
        self.corpus = cached_corpus(cache, **params, progress=progress)
        super().__init__(str(self.corpus), seed=seed, shuffle=shuffle, dev_fraction=0.0, test_fraction=0.0)

    def __repr__(self) -> str:
        return f"SynthDataSource({self.corpus})"
