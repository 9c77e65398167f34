"""The ``synth`` data source: the embedded corpus, synthesised once into a cache, then a ``local`` folder."""

import pytest

from statecatcher.data.local import LocalDataSource
from statecatcher.plugins import get
from statecatcher_synth.source import SynthDataSource, parse_minutes


def test_builds_once_with_a_notice_then_reuses_the_cache(tmp_path, capsys):
    first = SynthDataSource(str(tmp_path), episodes=2, minutes="0.3", progress=False)
    assert capsys.readouterr().err.startswith(
        f"synthesising the embedded corpus (2 episodes of 0.3-0.3 min, once) into {tmp_path}/")
    again = get("data_source", "synth").create(str(tmp_path), seed=3, episodes=2, minutes=0.3, progress=False)
    assert capsys.readouterr().err == ""
    assert again.corpus == first.corpus and first.corpus.parent == tmp_path
    local = LocalDataSource(str(first.corpus), seed=3)
    for split in ("train", "test"):
        assert [(r.id, r.duration, [s.text for s in r.load_segments()]) for r in again.recordings(split)] == \
               [(r.id, r.duration, [s.text for s in r.load_segments()]) for r in local.recordings(split)]


def test_minutes_parse_and_refuse_nonsense():
    assert parse_minutes("1.5-2.5") == (1.5, 2.5) and parse_minutes(2) == (2.0, 2.0)
    with pytest.raises(ValueError, match="minutes must look like MIN-MAX"):
        parse_minutes("a-b")
    with pytest.raises(ValueError, match="minutes needs 0 < MIN <= MAX"):
        parse_minutes("3-1")
