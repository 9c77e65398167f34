"""Fixtures: a tiny corpus (FLAC + Whisper JSON) and servers for it on loopback, shared by the tests:
``statecatcher serve`` (``server_url``), the double of an unmodified speechcatcher-data server (``upstream``),
and ``any_server_url``, which runs a test once against each."""

from __future__ import annotations

from pathlib import Path

import pytest

from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.testing import running_server
from statecatcher_speechcatcher_data.upstream_double import running_upstream

CORPUS_SIZE = 6


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    recordings = make_recordings(CORPUS_SIZE, min_duration=4.0, max_duration=9.0, seed=3)
    return write_local_corpus(tmp_path_factory.mktemp("corpus"), recordings)


@pytest.fixture(scope="session")
def server_url(corpus):
    with running_server(corpus) as (url, _):
        yield url


@pytest.fixture(scope="session")
def upstream(corpus):
    """The speechcatcher-data double of ``corpus`` (API and media server), see ``upstream_double``."""
    with running_upstream(corpus) as double:
        yield double


@pytest.fixture(params=["serve", "upstream"])
def any_server_url(request, server_url):
    """The base URL of ``statecatcher serve`` and of the speechcatcher-data double, in turn."""
    return server_url if request.param == "serve" else request.getfixturevalue("upstream").url
