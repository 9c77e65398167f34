"""Fixtures: a tiny corpus (FLAC + Whisper JSON) and a server for it on loopback, shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.testing import running_server

CORPUS_SIZE = 6


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    recordings = make_recordings(CORPUS_SIZE, min_duration=4.0, max_duration=9.0, seed=3)
    return write_local_corpus(tmp_path_factory.mktemp("corpus"), recordings)


@pytest.fixture(scope="session")
def server_url(corpus):
    with running_server(corpus) as (url, _):
        yield url
