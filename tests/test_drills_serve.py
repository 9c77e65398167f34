"""Drills (issue #19, items 3, 8, 9, 10): a broken transcript is skipped and reported, never fatal (local and
served corpora, fresh runs and resumes); `statecatcher serve` answers bad input with a 4xx JSON error naming the
field, never 500; Range headers as RFC 9110 §14 says; the key in no log line, no forged log lines, private
caching, sessions that expire, and only handed-out batches marked done."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statecatcher.data.lane_plan import load_recording
from statecatcher.data.local import LocalDataSource
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.server import create_app
from statecatcher_speechcatcher_data.testing import TEST_API_KEY as KEY
from statecatcher_speechcatcher_data.testing import running_server, server_process

BROKEN = "rec-001"  # the recording whose transcript the drills break


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_local_corpus(tmp_path_factory.mktemp("drill-corpus"),
                              make_recordings(4, min_duration=6.0, max_duration=9.0, seed=5))


@pytest.fixture(scope="module")
def http(corpus):
    return create_app(corpus, KEY).test_client()


def _episodes(http) -> list[dict]:
    return http.get(f"/apiv1/get_every_episode_list/{KEY}").get_json()


def _session(http, **options) -> str:
    return http.post(f"/apiv1/start_training_session/{KEY}", json={"batch_size": 2, **options}).get_json()["session_id"]


def _break_transcript(corpus: Path, recording_id: str = BROKEN, text: str = "{") -> Path:
    path = corpus / f"{recording_id}.json"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ item 3: a broken transcript is skipped


def _train_config(corpus: Path, run_dir: Path, **overrides):
    from statecatcher.data.segmenter import SegmenterConfig
    from statecatcher.train.config import RunConfig

    values = dict(encoder="lstm", loss="ctc", data=f"local:{corpus}", run_dir=str(run_dir),
                  encoder_options={"hidden_dim": 32, "num_layers": 1}, vocab_size=28, batch_size=2,
                  segmenter=SegmenterConfig(segment_seconds=4.0, min_seconds=2.0, max_seconds=8.0), epochs=100,
                  max_steps=8, log_every=1, checkpoint_every=4, num_workers=1, trackers=["jsonl"],
                  tokenizer_options={"model_type": "unigram"})
    return RunConfig.from_dict({**values, **overrides})


def _skip_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "skipping recording" in str(w.message)]


def test_local_source_lists_a_broken_transcript_and_fails_it_when_loaded(tmp_path):
    corpus = write_local_corpus(tmp_path, make_recordings(3, min_duration=3.0, max_duration=4.0, seed=2))
    bad = _break_transcript(corpus)
    recordings = {r.id: r for r in LocalDataSource(str(corpus), shuffle=False).recordings("train")}
    assert sorted(recordings) == ["rec-000", BROKEN, "rec-002"]  # listing reads no transcript
    with pytest.raises(OSError, match=rf"{bad}: invalid JSON"):  # an OSError: the lane planner skips it
        recordings[BROKEN].load_segments()
    assert recordings["rec-000"].load_segments() and len(recordings["rec-002"].load_audio()) > 0


def test_local_source_yields_unreadable_audio_headers_as_unusable_too(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF not really a wave file")  # no manifest: the duration needs the header
    (tmp_path / "a.json").write_text(json.dumps({"segments": [{"start": 0.0, "end": 1.0, "text": "hi"}]}))
    with pytest.warns(UserWarning, match="recording 'a' cannot be used: cannot decode audio"):
        [broken] = LocalDataSource(str(tmp_path), dev_fraction=0, test_fraction=0).recordings("train")
    assert broken.duration == 0.0 and "a.wav" in broken.meta["problem"]
    for load in (broken.load_segments, broken.load_audio):
        with pytest.raises(OSError, match="a.wav"):
            load()


def test_training_skips_a_broken_transcript_fresh_and_on_resume(tmp_path):
    from statecatcher.train.loop import train

    corpus = write_local_corpus(tmp_path / "corpus", make_recordings(4, min_duration=6.0, max_duration=9.0, seed=5))
    bad = _break_transcript(corpus)
    with pytest.warns(UserWarning) as record:  # tokenizer training, then the lane planner, meet it
        summary = train(_train_config(corpus, tmp_path / "fresh"))
    assert summary.steps == 8
    assert any(f"skipping recording '{BROKEN}'" in m and f"{bad}: invalid JSON" in m for m in _skip_warnings(record))

    run_dir = tmp_path / "resumed"  # a good corpus until the checkpoint at step 4, then a transcript breaks
    good = write_local_corpus(tmp_path / "good", make_recordings(4, min_duration=6.0, max_duration=9.0, seed=5))
    train(_train_config(good, run_dir, max_steps=4))
    _break_transcript(good, text='{"segments": [{"start": 0, "end": "x", "text": "a"}]}')
    with pytest.warns(UserWarning) as record:
        summary = train(_train_config(good, run_dir, max_steps=16))
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert summary.steps == 16 and [row["step"] for row in rows] == list(range(1, 17))  # resumed after step 4
    assert any(f"skipping recording '{BROKEN}'" in m and "field 'end'" in m for m in _skip_warnings(record))


class _Loaded:
    """A "future" of a recording's transcript and audio, loaded when asked, for the lane planner."""

    def __init__(self, recording):
        self.recording = recording

    def result(self):
        return load_recording(self.recording)


def test_a_lane_whose_transcript_broke_since_the_checkpoint_is_skipped_on_resume(tmp_path):
    from statecatcher.data.lane_plan import LanePlanner
    from statecatcher.data.segmenter import SegmenterConfig

    corpus = write_local_corpus(tmp_path, make_recordings(3, min_duration=9.0, max_duration=9.5, seed=2))

    def planner():
        return LanePlanner(LocalDataSource(str(corpus), shuffle=False), split="train", batch_size=2, rank=0,
                           world_size=1, epoch=0, open_recording=_Loaded,
                           segmenter=SegmenterConfig(segment_seconds=3.0, min_seconds=2.0, max_seconds=6.0))

    before = planner()
    assert [item.recording.id for item in before.next_plan()] == ["rec-000", BROKEN]
    state = before.state_dict()
    _break_transcript(corpus)
    resumed = planner()
    with pytest.warns(UserWarning, match=rf"skipping recording '{BROKEN}': .*{BROKEN}.json: invalid JSON"):
        resumed.load_state_dict(state)
    assert [item.recording.id for item in resumed.next_plan()] == ["rec-000", "rec-002"]
    assert resumed.skipped == [BROKEN]


def test_serve_starts_without_the_broken_recording_and_says_so(tmp_path, caplog):
    corpus = write_local_corpus(tmp_path, make_recordings(3, min_duration=3.0, max_duration=4.0, seed=2))
    bad = _break_transcript(corpus)
    with caplog.at_level(logging.WARNING, logger="statecatcher_speechcatcher_data.index"):
        http = create_app(corpus, KEY).test_client()
    assert [e["episode_title"] for e in _episodes(http)] == ["rec-000", "rec-002"]
    assert any(f"not serving recording '{BROKEN}'" in r.getMessage() and f"{bad}: invalid JSON" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="statecatcher_speechcatcher_data.index"):
        create_app(corpus, KEY)  # the index is reused: still reported on every start
    assert sum(f"'{BROKEN}'" in r.getMessage() for r in caplog.records) == 1


def test_a_served_corpus_with_a_broken_transcript_still_trains(tmp_path):
    from statecatcher.train.loop import train

    corpus = write_local_corpus(tmp_path / "corpus", make_recordings(4, min_duration=6.0, max_duration=9.0, seed=5))
    _break_transcript(corpus)
    with running_server(corpus) as (url, _):
        summary = train(_train_config(corpus, tmp_path / "run", data=f"speechcatcher:{url}", max_steps=6,
                                      data_options={"api_key": KEY, "cache_dir": str(tmp_path / "cache"),
                                                    "dev_fraction": 0.0, "test_fraction": 0.0}))
    assert summary.steps == 6


# ------------------------------------------------------------------ item 8: bad input -> 4xx naming the field

NESTED_LIST = "[" * 10_000 + "]" * 10_000
NESTED_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
START = "/apiv1/start_training_session/{key}"
MALFORMED = [  # (name, method, url, request kwargs, status, field named in the error)
    ("nul in audio path", "GET", "/apiv1/audio/{key}/rec-000%00.flac", {}, 400, "path"),
    ("nul in language", "GET", "/apiv1/get_podcast_list/e%00n/{key}", {}, 400, "language"),
    ("nul in podcast title", "POST", "/apiv1/get_episode_list/{key}", {"data": {"podcast_title": "a\0b"}}, 400,
     "podcast_title"),
    ("superscript two id", "GET", "/apiv1/transcript/{key}/%C2%B2.vtt", {}, 400, "episode_id"),
    ("arabic-indic one id", "GET", "/apiv1/transcript/{key}/%D9%A1.vtt", {}, 400, "episode_id"),
    ("fullwidth one id", "GET", "/apiv1/transcript/{key}/%EF%BC%91.vtt", {}, 400, "episode_id"),
    ("23-digit id", "GET", "/apiv1/transcript/{key}/" + "1" * 23 + ".vtt", {}, 400, "episode_id"),
    ("5000-digit id", "GET", "/apiv1/transcript/{key}/" + "9" * 5000 + ".vtt", {}, 400, "episode_id"),
    ("body: list", "POST", START, {"data": "[1, 2]"}, 400, "body"),
    ("body: string", "POST", START, {"data": '"asc"'}, 400, "body"),
    ("body: number", "POST", START, {"data": "16"}, 400, "body"),
    ("body: bool", "POST", START, {"data": "true"}, 400, "body"),
    ("body: null", "POST", START, {"data": "null"}, 400, "body"),
    ("body: invalid JSON", "POST", START, {"data": "{", "content_type": "application/json"}, 400, "body"),
    ("body: not UTF-8", "POST", START, {"data": b'{"order": "\xff"}'}, 400, "body"),
    ("body: list nested 10,000 deep", "POST", START, {"data": NESTED_LIST}, 400, "body"),
    ("body: object nested 10,000 deep", "POST", START, {"data": NESTED_OBJECT}, 400, "body"),
    ("body: too large", "POST", START, {"data": '{"language": "' + "x" * 100_000 + '"}'}, 413, "Too Large"),
    ("min_duration: string", "POST", START, {"json": {"min_duration": "abc"}}, 400, "min_duration"),
    ("max_duration: negative", "POST", START, {"json": {"max_duration": -1}}, 400, "max_duration"),
    ("min_duration: NaN", "POST", START, {"data": '{"min_duration": NaN}'}, 400, "min_duration"),
    ("batch_size: string", "POST", START, {"json": {"batch_size": "two"}}, 400, "batch_size"),
    ("batch_size: bool", "POST", START, {"json": {"batch_size": True}}, 400, "batch_size"),
    ("batch_size: float", "POST", START, {"json": {"batch_size": 2.5}}, 400, "batch_size"),
    ("batch_size: zero", "POST", START, {"json": {"batch_size": 0}}, 400, "batch_size"),
    ("batch_size: huge", "POST", START, {"json": {"batch_size": 10**30}}, 400, "batch_size"),
    ("order: number", "POST", START, {"json": {"order": 1}}, 400, "order"),
    ("order: unknown", "POST", START, {"json": {"order": "random"}}, 400, "order"),
    ("language: list", "POST", START, {"json": {"language": ["en"]}}, 400, "language"),
    ("log: list body", "POST", "/apiv1/log/{session}/{key}", {"data": "[]"}, 400, "body"),
    ("log: message number", "POST", "/apiv1/log/{session}/{key}", {"json": {"message": 5}}, 400, "message"),
    ("log: level object", "POST", "/apiv1/log/{session}/{key}", {"json": {"level": {}}}, 400, "level"),
    ("log: invalid JSON", "POST", "/apiv1/log/{session}/{key}", {"data": "{"}, 400, "body"),
    ("batch id: arabic-indic zero", "POST", "/apiv1/mark_batch_done/{session}/%D9%A0/{key}", {}, 400, "batch_id"),
    ("batch id: negative", "POST", "/apiv1/mark_batch_done/{session}/-1/{key}", {}, 400, "batch_id"),
    ("batch id: 5000 digits", "POST", "/apiv1/mark_batch_done/{session}/" + "9" * 5000 + "/{key}", {}, 400,
     "batch_id"),
    ("epoch: not a number", "POST", "/apiv1/mark_batch_done/{session}/0/{key}?epoch=abc", {}, 400, "epoch"),
    ("epoch: fullwidth", "POST", "/apiv1/mark_batch_done/{session}/0/{key}?epoch=%EF%BC%90", {}, 400, "epoch"),
]


@pytest.mark.parametrize("name, method, url, kwargs, status, field", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_answers_4xx_json_naming_the_field(http, name, method, url, kwargs, status, field):
    session = _session(http)
    http.get(f"/apiv1/get_next_batch/{session}/{KEY}")  # batch 0 handed out
    response = http.open(url.format(key=KEY, session=session), method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["success"] is False and field in body["error"], body
    assert KEY not in response.get_data(as_text=True)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                      max_size=4), max_leaves=12)
FIELDS = st.sampled_from(["order", "batch_size", "language", "min_duration", "max_duration", "level", "message"])
BODIES = (st.dictionaries(FIELDS, JSON_VALUES, max_size=4).map(json.dumps) | JSON_VALUES.map(json.dumps)
          | st.binary(max_size=64))


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=st.text(max_size=30), body=BODIES, route=st.integers(0, 7))
def test_fuzzed_requests_never_answer_500(http, segment, body, route):
    session = _session(http)
    part = quote(segment, safe="")
    method, url = [("GET", f"/apiv1/audio/{KEY}/{part}"), ("GET", f"/apiv1/transcript/{KEY}/{part}.vtt"),
                   ("GET", f"/apiv1/get_podcast_list/{part}/{KEY}"), ("POST", f"/apiv1/start_training_session/{KEY}"),
                   ("POST", f"/apiv1/log/{session}/{KEY}"), ("POST", f"/apiv1/mark_batch_done/{session}/{part}/{KEY}"),
                   ("POST", f"/apiv1/mark_batch_done/{session}/0/{KEY}?epoch={part}"),
                   ("GET", f"/apiv1/get_next_batch/{part}/{KEY}")][route]
    with http.open(url, method=method, data=body) as response:
        assert response.status_code < 500, (method, url, body, response.get_data(as_text=True)[:200])


def test_well_formed_session_requests_still_work(http):
    body = http.post(f"/apiv1/start_training_session/{KEY}", data='{"batch_size": 3, "max_duration": null}').get_json()
    assert body["success"] and body["batch_size"] == 3  # JSON without a JSON Content-Type, like speechcatcher-data
    assert http.post(f"/apiv1/start_training_session/{KEY}").get_json()["batch_size"] == 16  # no body: defaults
    session = body["session_id"]
    assert http.post(f"/apiv1/log/{session}/{KEY}", json={"message": "x" * 20_000}).get_json() == {"success": True}
    assert http.get(f"/apiv1/transcript/{KEY}/{_episodes(http)[0]['podcast_episode_id']}.vtt").status_code == 200


# ------------------------------------------------------------------ item 9: Range (RFC 9110 §14)


RANGES = [  # (Range header, status, slice of the file, as (start, stop) with None = open)
    ("bytes=abc", 200, (None, None)),
    ("items=0-10", 200, (None, None)),
    ("bytes=-99999999", 200, (None, None)),
    ("bytes=0-1,5-9", 200, (None, None)),
    ("bytes=9-5", 200, (None, None)),
    ("bytes=0-99999999", 206, (None, None)),
    ("bytes=100-199", 206, (100, 200)),
    ("bytes=-100", 206, (-100, None)),
    ("bytes=100-", 206, (100, None)),
]


@pytest.mark.parametrize("header, status, part", RANGES, ids=[r[0] for r in RANGES])
def test_range_headers_follow_rfc_9110(http, corpus, header, status, part):
    name = _episodes(http)[0]["cache_audio_file"]
    whole = (corpus / name).read_bytes()
    with http.get(f"/apiv1/audio/{KEY}/{name}", headers={"Range": header}) as response:
        assert (response.status_code, response.data) == (status, whole[slice(*part)])
        if status == 206:
            start = len(whole) + part[0] if part[0] and part[0] < 0 else part[0] or 0
            assert response.headers["Content-Range"] == \
                f"bytes {start}-{start + len(response.data) - 1}/{len(whole)}"


def test_a_range_past_the_end_is_unsatisfiable(http, corpus):
    name = _episodes(http)[0]["cache_audio_file"]
    size = (corpus / name).stat().st_size
    assert http.get(f"/apiv1/audio/{KEY}/{name}", headers={"Range": f"bytes={size}-"}).status_code == 416


# ------------------------------------------------------------------ item 10: logs, caching, sessions


class _Everything(logging.Handler):
    """Keeps every record of every logger, formatted (message and traceback)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.messages: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))
        self.messages.append(record.getMessage())


@pytest.fixture
def every_log_record():
    root, handler = logging.getLogger(), _Everything()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _get(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_no_log_record_shows_the_key_or_a_forged_line(corpus, monkeypatch, every_log_record):
    from flask import request

    import statecatcher_speechcatcher_data.server as server

    def failing_index(*args):  # an internal failure whose message carries the request URL (with the key)
        raise RuntimeError(f"index unreadable while answering {request.url}")

    name = sorted(p.name for p in corpus.glob("*.flac"))[0]
    with running_server(corpus) as (url, _):
        forged = f"{url}/apiv1/audio/{KEY}/{name}%0a127.0.0.1%20GET%20/apiv1/forged%20200"
        assert _get(forged) == 404  # the audio route's path never holds a newline: an unknown file
        monkeypatch.setattr(server, "read_episodes", failing_index)
        assert _get(f"{url}/apiv1/start_training_session/{KEY}", "POST") == 500
    text = "\n".join(every_log_record.lines)
    assert "Exception on /apiv1/start_training_session/*** [POST]" in text
    assert "RuntimeError: index unreadable while answering http://127.0.0.1" in text and "/***" in text
    assert KEY not in text
    assert not [m for m in every_log_record.messages if "\n" in m or "\r" in m]
    assert any(f"/apiv1/audio/***/{name}\\x0a127.0.0.1 GET /apiv1/forged 200 404" in m
               for m in every_log_record.messages)


def test_the_serve_command_never_logs_the_key(tmp_path):
    corpus = write_local_corpus(tmp_path / "corpus", make_recordings(2, min_duration=3.0, max_duration=4.0, seed=2))
    index, log = tmp_path / "index.sqlite", tmp_path / "serve.log"
    with server_process(corpus, log, extra_args=("--index", str(index))) as url:
        assert _get(f"{url}/apiv1/get_every_episode_list/{KEY}") == 200
        index.unlink()  # the index vanishes under the running server: an exception on a keyed route
        assert _get(f"{url}/apiv1/get_every_episode_list/{KEY}") == 500
    text = log.read_text()
    assert "Exception on /apiv1/get_every_episode_list/*** [GET]" in text and "OperationalError" in text
    assert KEY not in text


def test_keyed_answers_are_private(http):
    episode = _episodes(http)[0]
    for url in (f"/apiv1/audio/{KEY}/{episode['cache_audio_file']}",
                f"/apiv1/transcript/{KEY}/{episode['podcast_episode_id']}.vtt",
                f"/apiv1/get_every_episode_list/{KEY}"):
        with http.get(url) as response:
            assert "private" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]


def test_sessions_expire_when_idle_and_are_capped():
    from statecatcher_speechcatcher_data.sessions import SessionStore, TooManySessions

    now = [0.0]
    store = SessionStore(idle_seconds=60, max_sessions=2, clock=lambda: now[0])
    first, second = store.start([1, 2], 1, "asc"), store.start([1], 1, "asc")
    with pytest.raises(TooManySessions, match="2 training sessions are open"):
        store.start([1], 1, "asc")
    now[0] = 50.0
    assert store.get(first.id) is first  # used: its idle clock restarts
    now[0] = 100.0
    assert store.get(second.id) is None and store.get(first.id) is first  # second idle 100 s: gone
    assert store.start([1], 1, "asc").id not in (first.id, second.id)


def test_the_server_caps_sessions_and_forgets_idle_ones(corpus):
    http = create_app(corpus, KEY, max_sessions=1, session_idle_seconds=0.2).test_client()
    session = _session(http)
    refused = http.post(f"/apiv1/start_training_session/{KEY}", json={})
    assert refused.status_code == 429 and "1 training sessions are open" in refused.get_json()["error"]
    time.sleep(0.3)
    assert http.get(f"/apiv1/get_next_batch/{session}/{KEY}").status_code == 404
    assert http.post(f"/apiv1/start_training_session/{KEY}", json={}).status_code == 200


def test_only_batches_handed_out_can_be_marked_done(http):
    session = _session(http)  # 4 episodes, 2 per batch: batches 0 and 1 in each epoch
    done = f"/apiv1/mark_batch_done/{session}"
    http.get(f"/apiv1/get_next_batch/{session}/{KEY}")
    assert http.post(f"{done}/1/{KEY}").status_code == 400  # not handed out yet
    assert http.post(f"{done}/0/{KEY}?epoch=0").get_json() == {"success": True}
    for _ in range(2):
        http.get(f"/apiv1/get_next_batch/{session}/{KEY}")  # batch 1, then the end of epoch 0
    for batch, epoch in ((2, 0), (99, 0), (0, 1), (0, 7)):
        rejected = http.post(f"{done}/{batch}/{KEY}?epoch={epoch}")
        assert rejected.status_code == 400 and "never handed out" in rejected.get_json()["error"], (batch, epoch)
    assert http.post(f"{done}/1/{KEY}?epoch=0").get_json() == {"success": True}
    assert json.loads(http.get(f"/apiv1/session_status/{session}/{KEY}").data)["batches_done"] == 2
