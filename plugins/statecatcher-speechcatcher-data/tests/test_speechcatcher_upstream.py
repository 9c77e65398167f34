"""The client against an unmodified speechcatcher-data server (issue #18), through its double.

The double (``upstream_double``) must answer exactly as the recorded wire log (``data/speechcatcher-data-wire.json``);
then the client lists through its training session (no ``num_samples``, 400 at the end of an epoch), with
the default language, with a base URL with or without ``/apiv1``, and from the deployment's ``config.yaml``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from flask import Flask, jsonify

from statecatcher_speechcatcher_data.listing import ListingError
from statecatcher_speechcatcher_data.serve_cmd import Server
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, client_options, serving
from statecatcher_speechcatcher_data.upstream_double import create_upstream_app

WIRE = json.loads((Path(__file__).parent / "data" / "speechcatcher-data-wire.json").read_text())
TITLES = [f"rec-{i:03d}" for i in range(6)]


def wire_episodes() -> list[dict]:
    """The 6 episodes of the recorded server, each in its listing form (with ``transcript_file_url``)."""
    found: dict[int, dict] = {}

    def walk(value):
        if isinstance(value, dict):
            if "podcast_episode_id" in value:
                known = found.get(value["podcast_episode_id"], {})
                found[value["podcast_episode_id"]] = {**value, **known}
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for exchange in WIRE["exchanges"]:
        walk(exchange.get("body"))
    for episode in found.values():  # batches only: the list routes' URL of the same file
        episode.setdefault("transcript_file_url", "https://" + episode["transcript_file"].removeprefix("/var/www/"))
    return list(found.values())


def comparable(body, sessions: dict[str, str]):
    """``body`` as the wire log shows it: lists cut to 2 items, session ids and log times by name."""
    if isinstance(body, list):
        return [comparable(item, sessions) for item in body[:2]]
    if isinstance(body, dict):
        return {key: ("TS" if key == "ts" else sessions.get(value, value) if key == "session_id"
                      else comparable(value, sessions)) for key, value in body.items()}
    return body


def test_the_double_answers_exactly_as_the_wire_log():
    assert len(wire_episodes()) == 6
    http = create_upstream_app(wire_episodes(), "KEY").test_client()
    recorded_to_ours: dict[str, str] = {}
    for exchange in WIRE["exchanges"]:
        path = exchange["path"]
        for recorded, ours in recorded_to_ours.items():
            path = path.replace(recorded, ours)
        if "json_body" in exchange:
            data = json.dumps(exchange["json_body"])
            headers = {"Content-Type": "application/json"} if exchange["json_content_type"] else {}
            response = http.open(path, method=exchange["method"], data=data, headers=headers)
        else:
            response = http.open(path, method=exchange["method"], data=exchange.get("form"))
        where = exchange["title"]
        assert (response.status_code, response.content_type) == (exchange["status"], exchange["content_type"]), where
        if "text" in exchange:
            assert response.get_data(as_text=True) == exchange["text"], where
            continue
        body = response.get_json()
        if "session_id" in body and exchange["body"].get("session_id") not in recorded_to_ours:
            recorded_to_ours[exchange["body"]["session_id"]] = body["session_id"]
        ours_to_recorded = {ours: recorded for recorded, ours in recorded_to_ours.items()}
        assert comparable(body, ours_to_recorded) == comparable(exchange["body"], {}), where


def test_session_listing_reads_to_the_end_of_the_epoch_without_num_samples(upstream, tmp_path, caplog):
    """Issue #18 item 1: the real server's session answer has no num_samples; the client reads batches until
    its HTTP 400 "End of epoch reached", says why it stopped, and tries to end the session."""
    caplog.set_level(logging.INFO, logger="statecatcher_speechcatcher_data")
    open_before = set(upstream.state.sessions)
    source = SpeechcatcherDataSource(upstream.url, **client_options(tmp_path, session_batch_size=4))
    assert source.listing_facts["listed_by"] == "training session"
    assert sorted(r.meta["title"] for r in source.recordings("train")) == TITLES
    (session,) = set(upstream.state.sessions) - open_before  # one session, its epoch read once
    assert (upstream.state.sessions[session].epoch, upstream.state.sessions[session].batches_done) == (1, 2)
    assert "listed 6 episodes through a training session; stopped at the end of the epoch (HTTP 400 'End of " \
           "epoch reached')" in caplog.text
    assert "end_training_session failed (ignored" in caplog.text  # tried; upstream answers 404


def test_default_language_is_en_and_matches_the_real_session_filter(upstream, tmp_path):
    """Issue #18 item 2: language "" matches nothing in a real session; the default is "en"."""
    options = client_options(tmp_path)
    assert "language" not in options
    source = SpeechcatcherDataSource(upstream.url, **options)
    assert source.filters.language == "en" and source.listing_facts["listed_by"] == "training session"
    assert len(list(source.recordings("train"))) == 6


@pytest.mark.parametrize("use_session", ["auto", "never"])
def test_a_language_without_episodes_is_an_error_listing_the_servers_languages(upstream, tmp_path, use_session):
    with pytest.raises(ListingError) as error:
        SpeechcatcherDataSource(upstream.url, **client_options(tmp_path, language="de", use_session=use_session))
    message = str(error.value)
    assert "language='de'" in message and "the server's episode list has the languages 'en': 6 episodes" in message
    assert TEST_API_KEY not in message


@pytest.mark.parametrize("suffix", ["/apiv1", "/apiv1/", "/"])
def test_base_url_with_or_without_apiv1(any_server_url, tmp_path, suffix):
    """Issue #18 item 3: speechcatcher-data's config writes server_api_url with /apiv1/."""
    source = SpeechcatcherDataSource(any_server_url + suffix, **client_options(tmp_path))
    assert source.client.base_url == any_server_url and source.listing_facts["listed_by"] == "training session"
    assert sorted(r.meta["title"] for r in source.recordings("train")) == TITLES
    plain = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path))
    assert plain.client.counters["requests"] == 0  # the same cached listing


def test_deployment_config_yaml_gives_url_key_and_language(upstream, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f'host: "127.0.0.1"\nport: "5432"\ndatabase: "speechcatcher"\npassword: "pw"\n'
                      f'secret_api_key: "{TEST_API_KEY}"\nserver_api_url: "{upstream.url}/apiv1/"\n'
                      f'podcast_language: "en"\nvtt_dir: "{{source_dir}}/vtts"\n')
    options = {k: v for k, v in client_options(tmp_path).items() if k != "api_key"}
    source = SpeechcatcherDataSource("", config=str(config), **options)
    assert source.client.base_url == upstream.url and source.filters.language == "en"
    assert len(list(source.recordings("train"))) == 6
    config.write_text(config.read_text().replace('podcast_language: "en"', 'podcast_language: "de"'))
    with pytest.raises(ListingError, match="language='de'"):
        SpeechcatcherDataSource("", config=str(config), **options, refresh_listing=True)
    assert SpeechcatcherDataSource("", config=str(config), **options, language="en").filters.language == "en"


@pytest.mark.parametrize("text, problem", [
    (None, "cannot read it"), ("a: [1\n", "not YAML"), ("- a\n- b\n", "expected a mapping"),
    ("secret_api_key: 42\n", "secret_api_key must be a string")])
def test_a_broken_deployment_config_is_named(tmp_path, text, problem):
    path = tmp_path / "config.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=f"config file {re.escape(str(path))}: {problem}"):
        SpeechcatcherDataSource("", config=str(path), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no server URL"):
        SpeechcatcherDataSource("", api_key="k", cache_dir=str(tmp_path))


# -- sessions that never say "End of epoch reached" ---------------------------------------------------------


def scripted_session_server(batches, ended: list):
    """A session API whose get_next_batch answers ``batches(call)`` (a JSON object and a status) forever."""
    app = Flask("scripted")
    calls = iter(range(10**6))

    @app.post("/apiv1/start_training_session/<key>")
    def start(key):
        return jsonify(success=True, session_id="s1", batch_size=2, order="asc")

    @app.get("/apiv1/get_next_batch/<session>/<key>")
    def next_batch(session, key):
        return batches(next(calls))

    @app.post("/apiv1/mark_batch_done/<session>/<int:batch_id>/<key>")
    def done(session, batch_id, key):
        return jsonify(success=True)

    @app.post("/apiv1/end_training_session/<session>/<key>")
    def end(session, key):
        ended.append(session)
        return jsonify(success=True)

    return serving(Server(app, port=0))


def episode(number: int) -> dict:
    return {"podcast_episode_id": number, "podcast_title": "p", "language": "en", "duration": 3.0,
            "cache_audio_url": f"http://127.0.0.1:9/{number}.flac",
            "transcript_file_url": f"http://127.0.0.1:9/{number}.vtt"}


def wraps_around(call: int):  # 6 episodes, 2 a batch, then the same again, same epoch number
    return jsonify(success=True, epoch=0, batch_id=call, batch=[episode(call % 3 * 2), episode(call % 3 * 2 + 1)])


def epoch_moves_on(call: int):  # a new epoch number after 2 batches
    return jsonify(success=True, epoch=call // 2, batch_id=call, batch=[episode(2 * call), episode(2 * call + 1)])


def empties(call: int):  # 3 batches, then empty ones
    batch = [episode(2 * call), episode(2 * call + 1)] if call < 3 else []
    return jsonify(success=True, epoch=0, batch_id=call, batch=batch)


@pytest.mark.parametrize("batches, why", [
    (wraps_around, "stopped at episode 0, handed out again (a new epoch)"),
    (epoch_moves_on, "stopped at epoch 1 (the epoch moved on from 0 without an end-of-epoch answer)"),
    (empties, "stopped at an empty batch"),
])
def test_session_reading_is_bounded_without_an_end_of_epoch_answer(tmp_path, caplog, batches, why):
    caplog.set_level(logging.INFO, logger="statecatcher_speechcatcher_data")
    ended: list[str] = []
    with scripted_session_server(batches, ended) as url:
        source = SpeechcatcherDataSource(url, **client_options(tmp_path))
    assert source.listing_facts["listed"] in (4, 6) and why in caplog.text and ended == ["s1"]


def test_session_reading_stops_at_the_call_cap_and_ends_the_session(tmp_path, monkeypatch):
    from statecatcher_speechcatcher_data import listing

    monkeypatch.setattr(listing, "MAX_SESSION_CALLS", 5)
    ended: list[str] = []
    endless = lambda call: jsonify(success=True, epoch=0, batch_id=call, batch=[episode(call)])  # noqa: E731
    with scripted_session_server(endless, ended) as url, pytest.raises(ListingError, match="no end of epoch after 5 "
                                                                                          "calls .5 episodes"):
        SpeechcatcherDataSource(url, **client_options(tmp_path))
    assert ended == ["s1"]


def test_a_failing_session_is_ended(tmp_path):
    ended: list[str] = []
    broken = lambda call: (jsonify(success=False, error="database is gone"), 400)  # noqa: E731
    with scripted_session_server(broken, ended) as url, pytest.raises(ListingError, match="database is gone"):
        SpeechcatcherDataSource(url, **client_options(tmp_path))
    assert ended == ["s1"]
