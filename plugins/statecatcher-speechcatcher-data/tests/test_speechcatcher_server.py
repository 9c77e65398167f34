"""The compatible server, in process (Flask's test client): routes, security, Range, VTT, sessions, index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from statecatcher.data.local import LocalDataSource
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.server import create_app
from statecatcher_speechcatcher_data.testing import TEST_API_KEY as API_KEY
from statecatcher_speechcatcher_data.vtt import parse_vtt

EPISODE_FIELDS = {"podcast_episode_id", "podcast_title", "episode_title", "published_date", "retrieval_time",
                  "authors", "language", "description", "keywords", "episode_url", "episode_audio_url",
                  "cache_audio_url", "cache_audio_file", "transcript_file", "transcript_file_url", "duration"}


@pytest.fixture(scope="module")
def http(corpus):
    return create_app(corpus, API_KEY).test_client()


def every_route(key: str, episode: dict) -> list[tuple[str, str]]:
    audio = episode["cache_audio_file"]
    return [("GET", f"/apiv1/get_podcast_list/en/{key}"), ("POST", f"/apiv1/get_episode_list/{key}"),
            ("GET", f"/apiv1/get_every_episode_list/{key}"), ("POST", f"/apiv1/start_training_session/{key}"),
            ("GET", f"/apiv1/get_next_batch/s/{key}"), ("POST", f"/apiv1/mark_batch_done/s/0/{key}"),
            ("POST", f"/apiv1/log/s/{key}"), ("GET", f"/apiv1/session_status/s/{key}"),
            ("POST", f"/apiv1/end_training_session/s/{key}"), ("GET", f"/apiv1/audio/{key}/{audio}"),
            ("GET", f"/apiv1/transcript/{key}/{episode['podcast_episode_id']}.vtt")]


def episodes(http) -> list[dict]:
    return http.get(f"/apiv1/get_every_episode_list/{API_KEY}").get_json()


def test_listing_has_every_recording_with_the_api_fields(http, corpus):
    listed = episodes(http)
    local = {r.id: r for r in LocalDataSource(str(corpus)).recordings("train")}
    assert {e["episode_title"] for e in listed} == set(local)
    for episode in listed:
        assert EPISODE_FIELDS <= set(episode)
        assert episode["duration"] == local[episode["episode_title"]].duration
    podcasts = http.get(f"/apiv1/get_podcast_list/en/{API_KEY}").get_json()
    assert sum(p["count"] for p in podcasts) == len(local)
    one = http.post(f"/apiv1/get_episode_list/{API_KEY}", data={"podcast_title": listed[0]["podcast_title"]})
    assert [e["podcast_episode_id"] for e in one.get_json()] == [listed[0]["podcast_episode_id"]]


def test_wrong_key_answers_401_on_every_route(http):
    episode = episodes(http)[0]
    for method, url in every_route("wrong-key", episode):
        response = http.open(url, method=method)
        assert response.status_code == 401, (method, url, response.status_code)
        assert response.get_json() == {"success": False, "error": "invalid API key"}
        assert API_KEY not in response.get_data(as_text=True)
    for method, url in every_route(API_KEY, episode):  # and the right key gets past authentication
        with http.open(url, method=method) as response:
            assert response.status_code != 401, url


@pytest.mark.parametrize("path", ["../manifest.jsonl", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "/etc/passwd",
                                  "manifest.jsonl", "rec-000.json", "nothing.flac", "sub/../rec-000.flac"])
def test_traversal_absolute_and_unknown_paths_answer_404(http, path):
    assert http.get(f"/apiv1/audio/{API_KEY}/{path}").status_code == 404
    assert http.get(f"/apiv1/transcript/{API_KEY}/{path}").status_code == 404


def test_audio_supports_range_and_vtt_matches_the_json_segments(http, corpus):
    episode = episodes(http)[0]
    whole = (corpus / episode["cache_audio_file"]).read_bytes()
    url = f"/apiv1/audio/{API_KEY}/{episode['cache_audio_file']}"
    with http.get(url) as response:
        assert response.data == whole
    with http.get(url, headers={"Range": "bytes=100-"}) as part:
        assert part.status_code == 206 and part.data == whole[100:]
        assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    vtt = http.get(f"/apiv1/transcript/{API_KEY}/{episode['podcast_episode_id']}.vtt")
    assert vtt.mimetype == "text/vtt"
    local = next(r for r in LocalDataSource(str(corpus)).recordings("train") if r.id == episode["episode_title"])
    assert [(s.start, s.end, s.text.strip()) for s in parse_vtt(vtt.get_data(as_text=True))] == [
        (round(s.start, 3), round(s.end, 3), s.text.strip()) for s in local.load_segments()]


def test_training_session_hands_out_each_episode_once_per_epoch_by_duration(http):
    start = http.post(f"/apiv1/start_training_session/{API_KEY}", json={"language": "en", "batch_size": 4})
    body = start.get_json()
    assert set(body) == {"success", "session_id", "batch_size", "order"}  # as speechcatcher-data: no num_samples
    assert body["success"] and body["order"] == "asc"
    session = body["session_id"]
    for epoch in (0, 1):
        seen = []
        for batch_id in range(2):
            batch = http.get(f"/apiv1/get_next_batch/{session}/{API_KEY}").get_json()
            assert (batch["epoch"], batch["batch_id"]) == (epoch, batch_id)
            assert all("transcript_file" in e and isinstance(e["retrieval_time"], str) for e in batch["batch"])
            seen += batch["batch"]
            done = http.post(f"/apiv1/mark_batch_done/{session}/{batch_id}/{API_KEY}?epoch={epoch}")
            assert done.get_json() == {"success": True}
        durations = [e["duration"] for e in seen]
        assert durations == sorted(durations) and len(seen) == 6
        end = http.get(f"/apiv1/get_next_batch/{session}/{API_KEY}")
        assert end.status_code == 400 and end.get_json() == {"success": False, "error": "End of epoch reached"}
    assert http.post(f"/apiv1/log/{session}/{API_KEY}", json={"level": "info", "message": "hi"}).get_json()["success"]
    status = http.get(f"/apiv1/session_status/{session}/{API_KEY}").get_json()
    assert (status["epoch"], status["batches_done"], status["log_entries"]) == (2, 4, 1)
    assert http.post(f"/apiv1/end_training_session/{session}/{API_KEY}").get_json() == {"success": True}
    for method, url in every_route(API_KEY, episodes(http)[0])[4:9]:
        assert http.open(url.replace("/s/", f"/{session}/"), method=method).status_code == 404, url


def test_session_filter_matching_nothing_ends_its_epoch_at_once(http):
    body = http.post(f"/apiv1/start_training_session/{API_KEY}", json={"min_duration": 1000}).get_json()
    assert body["success"]
    for _ in range(2):  # every epoch is empty
        end = http.get(f"/apiv1/get_next_batch/{body['session_id']}/{API_KEY}")
        assert end.status_code == 400 and end.get_json() == {"success": False, "error": "End of epoch reached"}



def test_only_the_transcript_route_reads_transcript_segments(http, monkeypatch):
    """An hour-long transcript is hundreds of segments: listings, sessions and audio must not parse every
    episode's (they did: get_every_episode_list built every Segment of the corpus on each call)."""
    from statecatcher_speechcatcher_data import index

    built, segment = [], index.Segment
    monkeypatch.setattr(index, "Segment", lambda **fields: built.append(fields) or segment(**fields))
    listed = episodes(http)
    started = http.post(f"/apiv1/start_training_session/{API_KEY}", json={"batch_size": 2}).get_json()
    assert http.get(f"/apiv1/get_next_batch/{started['session_id']}/{API_KEY}").get_json()["success"]
    assert http.get(f"/apiv1/audio/{API_KEY}/{listed[0]['cache_audio_file']}").status_code == 200
    assert http.get(f"/apiv1/get_podcast_list/en/{API_KEY}").status_code == 200
    assert built == []
    vtt = http.get(f"/apiv1/transcript/{API_KEY}/{listed[0]['podcast_episode_id']}.vtt")
    assert vtt.status_code == 200 and len(built) == len(parse_vtt(vtt.get_data(as_text=True))) > 0

def test_older_server_mode_has_no_session_routes(corpus):
    http = create_app(corpus, API_KEY, with_sessions=False).test_client()
    assert http.post(f"/apiv1/start_training_session/{API_KEY}", json={}).status_code == 404


def test_index_is_built_once_and_rebuilt_when_files_change(tmp_path):
    write_local_corpus(tmp_path, make_recordings(2, min_duration=2, max_duration=3))
    create_app(tmp_path, API_KEY)
    index = tmp_path / ".statecatcher-serve-index.sqlite"
    built = index.stat().st_mtime_ns
    create_app(tmp_path, API_KEY)
    assert index.stat().st_mtime_ns == built  # unchanged corpus: reused
    write_local_corpus(tmp_path, make_recordings(3, min_duration=2, max_duration=3, seed=1))
    manifest = tmp_path / "manifest.jsonl"
    os.utime(manifest, ns=(built + 10**9, built + 10**9))
    http = create_app(tmp_path, API_KEY).test_client()
    assert len(http.get(f"/apiv1/get_every_episode_list/{API_KEY}").get_json()) == 3


def test_shutdown_still_stops_the_server_when_its_wake_up_pipe_is_gone(tmp_path):
    """Seen once in CI: the trigger's descriptor was closed under the server (EBADF on shutdown)."""
    from statecatcher_speechcatcher_data.serve_cmd import make_server
    from statecatcher_speechcatcher_data.testing import serving

    corpus = write_local_corpus(tmp_path, make_recordings(2, min_duration=1.0, max_duration=2.0, seed=1))
    server = make_server(str(corpus), API_KEY, port=0)
    with serving(server):
        os.close(server._server.trigger.trigger)
    assert server._stopped.is_set()


def _thread_cpu_seconds(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread CPU time from /proc (Linux)")
def test_an_idle_test_server_sleeps_instead_of_spinning(tmp_path):
    """waitress truncates its loop timeout to whole seconds: the test servers' poll_seconds=0.05 became 0, and
    every idle one kept a core busy (the xLSTM hour-long check ran 10x slower after this plugin's tests)."""
    import threading
    import time

    from statecatcher_speechcatcher_data.serve_cmd import make_server
    from statecatcher_speechcatcher_data.testing import running_server

    corpus = write_local_corpus(tmp_path, make_recordings(1, min_duration=1.0, max_duration=2.0, seed=1))
    existing = set(threading.enumerate())
    with running_server(corpus):
        time.sleep(0.2)
        started = [thread for thread in threading.enumerate() if thread not in existing]
        before = sum(_thread_cpu_seconds(thread.native_id) for thread in started)
        time.sleep(1.5)
        busy = sum(_thread_cpu_seconds(thread.native_id) for thread in started) - before
    assert busy < 0.15, f"the idle server's threads used {busy:.2f} CPU s in 1.5 s"  # spinning: ~1.5 s
    with pytest.raises(ValueError, match="poll_seconds"):
        make_server(str(corpus), API_KEY, port=0, poll_seconds=0.05)


def test_behind_a_tls_proxy_the_listing_hands_out_https_urls(tmp_path):
    """Behind nginx (TLS) the listing's audio and transcript URLs said http://, which the proxy's port does not
    speak: every download failed.  --url-scheme https says so outright; --trusted-proxy honours the proxy's
    X-Forwarded-* headers, from that address only."""
    import requests

    from statecatcher_speechcatcher_data.serve_cmd import make_server
    from statecatcher_speechcatcher_data.testing import running_server

    corpus = write_local_corpus(tmp_path, make_recordings(1, min_duration=1.0, max_duration=2.0, seed=1))
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "asr.example", "X-Forwarded-Port": "443"}

    def urls(url: str, headers: dict | None = None) -> set[str]:
        (episode,) = requests.get(f"{url}/apiv1/get_every_episode_list/{API_KEY}", headers=headers, timeout=10).json()
        return {episode["cache_audio_url"].split("/apiv1/")[0], episode["transcript_file_url"].split("/apiv1/")[0]}

    with running_server(corpus) as (url, _):
        assert urls(url) == urls(url, forwarded) == {url}  # no trusted proxy: the headers are ignored
    with running_server(corpus, url_scheme="https") as (url, _):
        assert urls(url) == {url.replace("http://", "https://")}
    with running_server(corpus, trusted_proxy="127.0.0.1") as (url, _):
        assert urls(url, forwarded) == {"https://asr.example"} and urls(url) == {url}
    with running_server(corpus, trusted_proxy="192.0.2.1") as (url, _):
        assert urls(url, forwarded) == {url}  # a proxy at another address is not trusted
    with pytest.raises(ValueError, match="url_scheme must be http or https"):
        make_server(str(corpus), API_KEY, port=0, url_scheme="ftp")
    with pytest.raises(ValueError, match="--trusted-proxy must be the proxy's IP address"):
        make_server(str(corpus), API_KEY, port=0, trusted_proxy="localhost")  # never equal to a peer address
