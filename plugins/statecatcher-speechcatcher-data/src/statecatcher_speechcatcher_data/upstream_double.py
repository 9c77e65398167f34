"""A test double of an unmodified speechcatcher-data server: it answers as that server's wire log does.

The log (status codes, content types, JSON bodies; ``tests/data/speechcatcher-data-wire.json``) was recorded
against speechcatcher-data 5266b5e (Flask under gunicorn, PostgreSQL).  What the double reproduces, quirks
included: the listing routes answer a wrong key with 200 ``{"success": false}`` (the session routes with
401); ``start_training_session`` reads its JSON body with or without a JSON content type, answers no
``num_samples``, and a non-integer ``batch_size`` with an HTML 500; a session filters on one exact
``language``, orders by duration, hands out ``batch_size`` rows at a time with the row offset as
``batch_id``, answers 400 "End of epoch reached" after the last batch and starts the next epoch on the
following call; an unknown session is 400 on ``get_next_batch`` and 404 on ``session_status``;
``end_training_session`` fails with 404 and leaves the session in place; session batches carry no
``transcript_file_url`` (only the server path ``transcript_file``); an unknown route is Flask's HTML 404.
Media (audio, WebVTT) live on a separate web server (:func:`create_media_app`, nginx in the original).
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, make_response, request, send_file

from statecatcher_speechcatcher_data.serve_cmd import Server
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, serving
from statecatcher_speechcatcher_data.vtt import format_vtt

WRONG_KEY = "api_access_key invalid"
END_OF_EPOCH = "End of epoch reached"
INVALID_SESSION = "Invalid session ID"
END_SESSION_BUG = "TrainingSession.delete() missing 1 required positional argument: 'p_connection'"
MEDIA_ROOT = "/var/www/media.example.org"  # where the media web server's files live on the upstream host
PODCASTS = ("Jane's Morning Show", "The Weekly Desk", "Short Stories")
FIRST_EPISODE, WEEK = 1709537400, 7 * 86400  # Mon, 04 Mar 2024 07:30:00 +0000, as in the wire log


@dataclass
class UpstreamSession:
    """A training session as speechcatcher-data keeps it (in its database: it outlives a failed end)."""

    id: str
    language: str
    batch_size: int
    order: str
    rows: list[dict[str, Any]]
    epoch: int = 0
    offset: int = 0
    batches_done: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UpstreamState:
    episodes: list[dict[str, Any]]  # as get_every_episode_list answers them, ordered by podcast_episode_id
    api_key: str
    sessions: dict[str, UpstreamSession] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_upstream_app(episodes: list[dict[str, Any]], api_key: str = TEST_API_KEY) -> Flask:
    """The API of speechcatcher-data over ``episodes`` (dicts with every field of the wire log's episodes).

    ``app.extensions["upstream"]`` is the :class:`UpstreamState` (open sessions, for tests).
    """
    state = UpstreamState(sorted(episodes, key=lambda e: e["podcast_episode_id"]), api_key)
    app = Flask("speechcatcher_data_double")
    app.extensions["upstream"] = state
    _add_list_routes(app, state)
    _add_session_routes(app, state)
    return app


def _key_ok(state: UpstreamState, key: str) -> bool:
    return hmac.compare_digest(key.encode(), state.api_key.encode())


def _failure(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message, success=False), status


def _add_list_routes(app: Flask, state: UpstreamState) -> None:
    @app.get("/apiv1/get_podcast_list/<language>/<api_key>")
    def get_podcast_list(language: str, api_key: str):
        if not _key_ok(state, api_key):
            return _failure(WRONG_KEY, 200)
        counts: dict[str, int] = {}
        for episode in state.episodes:
            if episode["language"] == language:
                counts[episode["podcast_title"]] = counts.get(episode["podcast_title"], 0) + 1
        return jsonify([{"count": count, "title": title} for title, count in sorted(counts.items())])

    @app.get("/apiv1/get_every_episode_list/<api_key>")
    def get_every_episode_list(api_key: str):
        if not _key_ok(state, api_key):
            return _failure(WRONG_KEY, 200)
        return jsonify(state.episodes)

    @app.post("/apiv1/get_episode_list/<api_key>")
    def get_episode_list(api_key: str):
        if not _key_ok(state, api_key):
            return _failure(WRONG_KEY, 200)
        title = request.form.get("podcast_title", "")
        return jsonify([e for e in state.episodes if e["podcast_title"] == title])


def _authorized_session(state: UpstreamState, session_id: str, api_key: str, unknown_status: int) -> UpstreamSession:
    """The session, or an abort: 401 for a wrong key, ``unknown_status`` "Invalid session ID" for none."""
    if not _key_ok(state, api_key):
        abort(make_response(*_failure(WRONG_KEY, 401)))
    with state.lock:
        session = state.sessions.get(session_id)
    if session is None:
        abort(make_response(*_failure(INVALID_SESSION, unknown_status)))
    return session


def _add_session_routes(app: Flask, state: UpstreamState) -> None:
    """start_training_session, get_next_batch and mark_batch_done."""
    @app.post("/apiv1/start_training_session/<api_key>")
    def start_training_session(api_key: str):
        if not _key_ok(state, api_key):
            return _failure(WRONG_KEY, 401)
        options = request.get_json(force=True, silent=True) or {}
        batch_size, order = options.get("batch_size", 32), options.get("order", "asc")
        if not isinstance(batch_size, int):
            abort(500)  # upstream: a TypeError in its SQL parameters, Flask's HTML 500
        session = UpstreamSession(uuid.uuid4().hex, str(options.get("language", "")), batch_size, order,
                                  _session_rows(state.episodes, options))
        with state.lock:
            state.sessions[session.id] = session
        return jsonify(batch_size=batch_size, order=order, session_id=session.id, success=True)

    @app.get("/apiv1/get_next_batch/<session_id>/<api_key>")
    def get_next_batch(session_id: str, api_key: str):
        session = _authorized_session(state, session_id, api_key, 400)
        with state.lock:
            if session.offset >= len(session.rows):
                session.epoch, session.offset = session.epoch + 1, 0
                return _failure(END_OF_EPOCH, 400)
            offset, epoch = session.offset, session.epoch
            rows = session.rows[offset:offset + session.batch_size]
            session.offset += session.batch_size
        batch = [{k: v for k, v in row.items() if k != "transcript_file_url"} for row in rows]
        return jsonify(batch=batch, batch_id=offset, epoch=epoch, success=True)

    @app.post("/apiv1/mark_batch_done/<session_id>/<int:batch_id>/<api_key>")
    def mark_batch_done(session_id: str, batch_id: int, api_key: str):
        session = _authorized_session(state, session_id, api_key, 400)
        with state.lock:
            session.batches_done += 1
        return jsonify(success=True)

    _add_session_bookkeeping_routes(app, state)


def _add_session_bookkeeping_routes(app: Flask, state: UpstreamState) -> None:
    """log, session_status and end_training_session (which fails, as upstream's does)."""

    @app.post("/apiv1/log/<session_id>/<api_key>")
    def log(session_id: str, api_key: str):
        session = _authorized_session(state, session_id, api_key, 400)
        entry = request.get_json(force=True, silent=True) or {}
        with state.lock:
            session.logs.append({"level": entry.get("level", "INFO"), "msg": entry.get("message", ""),
                                 "ts": time.time()})
        return jsonify(success=True)

    @app.get("/apiv1/session_status/<session_id>/<api_key>")
    def session_status(session_id: str, api_key: str):
        session = _authorized_session(state, session_id, api_key, 404)
        with state.lock:
            status = {"batch_size": session.batch_size, "current_epoch": session.epoch,
                      "language": session.language, "logs": list(session.logs),
                      "num_batches_done": session.batches_done, "sample_order": session.order,
                      "session_id": session.id}
        return jsonify(status=status, success=True)

    @app.post("/apiv1/end_training_session/<session_id>/<api_key>")
    def end_training_session(session_id: str, api_key: str):
        _authorized_session(state, session_id, api_key, 404)
        return _failure(END_SESSION_BUG, 404)  # upstream bug: the session stays


def _session_rows(episodes: list[dict[str, Any]], options: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a session hands out: ``language = ?`` exactly, within the duration bounds, by duration."""
    low = options.get("min_duration") or 0.0
    high = options.get("max_duration")
    rows = [e for e in episodes if e["language"] == options.get("language", "")
            and low <= e["duration"] and (high is None or e["duration"] <= high)]
    return sorted(rows, key=lambda e: (e["duration"], e["podcast_episode_id"]),
                  reverse=options.get("order", "asc") == "desc")


# -- the media web server and a corpus as upstream episodes ----------------------------------------------------


def create_media_app(files: dict[str, Path | str]) -> Flask:
    """A static file server (nginx in the original): URL path -> a file (``Path``, with Range) or text (VTT)."""
    app = Flask("speechcatcher_media_double")

    @app.get("/<path:path>")
    def media(path: str):
        found = files.get("/" + path)
        if found is None:
            abort(404)
        if isinstance(found, Path):
            return send_file(found, conditional=True, etag=True)
        return Response(found, mimetype="text/vtt")

    return app


def episodes_from_corpus(corpus_dir: str | Path, media_url: str,
                         count: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(episodes, media files)`` for a local corpus: upstream-shaped episode objects (ids from 1, podcasts
    from :data:`PODCASTS` in turn, ``episode_title`` = the recording id, language ``en``) whose files are
    served by :func:`create_media_app` at ``media_url``.  ``count`` episodes (default: one per recording)
    go round the recordings; a repeat has its own id and file paths (``N-`` before the file name), the same
    audio and transcript."""
    from statecatcher.data.local import LocalDataSource

    source = LocalDataSource(str(corpus_dir), shuffle=False)
    recordings = sorted((r.loaded() for split in source.describe()["recordings"] for r in source.recordings(split)),
                        key=lambda r: r.id)
    vtts = {recording.id: format_vtt(recording.segments) for recording in recordings}
    episodes, files = [], {}
    for number in range(1, (count or len(recordings)) + 1):
        recording = recordings[(number - 1) % len(recordings)]
        podcast = PODCASTS[(number - 1) % len(PODCASTS)]
        audio = Path(recording.meta["audio"]).resolve()
        folder, name = f"/cache/podcasts/{_slug(podcast)}", audio.name if number <= len(recordings) \
            else f"{number}-{audio.name}"
        audio_path, vtt_path = f"{folder}/{name}", f"{folder}/vtts/{name}.vtt"
        files[audio_path], files[vtt_path] = audio, vtts[recording.id]
        episodes.append(_episode(number, recording.id, podcast, recording.duration, media_url, audio_path, vtt_path))
    return episodes, files


def _episode(number: int, title: str, podcast: str, duration: float, media_url: str, audio_path: str,
             vtt_path: str) -> dict[str, Any]:
    published = format_datetime(datetime.fromtimestamp(FIRST_EPISODE + WEEK * (number - 1), timezone.utc))
    return {"authors": "Jane Host", "cache_audio_file": MEDIA_ROOT + audio_path,
            "cache_audio_url": media_url + audio_path, "description": f"{title} read by Jane Host.",
            "duration": duration, "episode_audio_url": media_url + audio_path,
            "episode_json": {"links": [{"href": media_url + audio_path, "rel": "enclosure", "type": "audio/mpeg"}],
                             "published": published, "title": title},
            "episode_title": title, "episode_url": f"{media_url}/episodes/{title}.html", "keywords": "talk, news",
            "language": "en", "model": "whisper-large-v3", "podcast_episode_id": number, "podcast_title": podcast,
            "published_date": published, "retrieval_time": "1796282393.606", "transcript_file": MEDIA_ROOT + vtt_path,
            "transcript_file_url": media_url + vtt_path, "type": "audio/mpeg"}


def _slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


@dataclass
class RunningUpstream:
    """A double on loopback: ``url`` (the API, without ``/apiv1``), ``media_url``, ``state`` (its sessions)."""

    url: str
    media_url: str
    state: UpstreamState


@contextmanager
def running_upstream(corpus_dir: str | Path, *, api_key: str = TEST_API_KEY,
                     port: int = 0) -> Iterator[RunningUpstream]:
    """The double of ``corpus_dir`` and its media server, each in a thread on 127.0.0.1 (``port`` 0: any)."""
    with running_media(corpus_dir) as (media_url, episodes):
        app = create_upstream_app(episodes, api_key)
        with serving(Server(app, port=port, secrets=[api_key])) as url:
            yield RunningUpstream(url, media_url, app.extensions["upstream"])


@contextmanager
def running_media(corpus_dir: str | Path, count: int | None = None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(media URL, episodes)``: the media server of ``corpus_dir`` in a thread, and its episode objects
    (``count`` of them, see :func:`episodes_from_corpus`)."""
    files: dict[str, Any] = {}
    with serving(Server(create_media_app(files), port=0)) as media_url:
        episodes, found = episodes_from_corpus(corpus_dir, media_url, count)
        files.update(found)
        yield media_url, episodes
