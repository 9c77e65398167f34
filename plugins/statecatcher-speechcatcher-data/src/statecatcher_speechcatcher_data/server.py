"""A speechcatcher-data compatible server for a local corpus: ``create_app(corpus_dir, api_key)``.

Routes (all under ``/apiv1``, the API key a path segment, answers JSON) follow speechcatcher-data:
episode lists, training sessions (:mod:`~statecatcher_speechcatcher_data.sessions`), plus the files the
episode objects point to: ``audio/<key>/<path>`` (the corpus file, with Range support) and
``transcript/<key>/<episode id>.vtt`` (WebVTT generated from the Whisper-style JSON segments).  A wrong key
answers 401 on every route; only files listed in the index are served (``..``, absolute and unknown paths
answer 404).  Bad input answers 400 with a JSON error naming the field, never 500
(:mod:`~statecatcher_speechcatcher_data.validation`); Range headers follow
:mod:`~statecatcher_speechcatcher_data.ranges`; no log shows the key or a raw control character
(:mod:`~statecatcher_speechcatcher_data.logs`); every answer says ``Cache-Control: private`` (the key is in
the URL).  ``statecatcher serve CORPUS --api-key KEY`` runs it with waitress; with gunicorn (one process,
since training sessions live in its memory; the key from env ``STATECATCHER_API_KEY``)::

    gunicorn -w 1 -k gthread --threads 16 --keep-alive 30 -b 0.0.0.0:6000 \
        'statecatcher_speechcatcher_data.server:create_app("/data/corpus")'
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from statecatcher_speechcatcher_data.faults import FaultPlan
from statecatcher_speechcatcher_data.index import IndexedEpisode, open_index, read_episodes
from statecatcher_speechcatcher_data.logs import protect_logs
from statecatcher_speechcatcher_data.ranges import usable_range
from statecatcher_speechcatcher_data.sessions import END_OF_EPOCH, SessionStore, TooManySessions
from statecatcher_speechcatcher_data.validation import (
    MAX_BODY_BYTES,
    BadRequest,
    ascii_id,
    json_object,
    log_entry,
    path_text,
    session_options,
)
from statecatcher_speechcatcher_data.vtt import format_vtt

API_KEY_ENV = "STATECATCHER_API_KEY"
access_log = logging.getLogger("statecatcher_speechcatcher_data.access")
BAD_VTT = "WEBVTT\n\n1\n00:00:01.000 --> soon\nthis cue has no end time\n"


@dataclass
class ServerState:
    corpus: Path
    index: Path
    api_key: str
    sessions: SessionStore
    faults: FaultPlan
    with_sessions: bool


def create_app(corpus_dir: str | Path, api_key: str | None = None, *, index_path: str | Path | None = None,
               faults: FaultPlan | None = None, with_sessions: bool = True, session_idle_seconds: float = 3600.0,
               max_sessions: int = 1000) -> Flask:
    """The Flask app serving ``corpus_dir``; ``with_sessions=False`` behaves like an older server (404).

    A training session unused for ``session_idle_seconds`` is forgotten; at most ``max_sessions`` are open.
    """
    api_key = api_key or os.environ.get(API_KEY_ENV, "")
    if not api_key:
        raise ValueError(f"statecatcher serve: an API key is required (--api-key or env {API_KEY_ENV})")
    protect_logs([api_key])
    corpus = Path(corpus_dir).resolve()
    if not corpus.is_dir():
        raise ValueError(f"statecatcher serve: {corpus_dir!r} is not a folder")
    sessions = SessionStore(idle_seconds=session_idle_seconds, max_sessions=max_sessions)
    state = ServerState(corpus, open_index(corpus, index_path), api_key, sessions, faults or FaultPlan(),
                        with_sessions)
    app = Flask("statecatcher_speechcatcher_data")
    app.json.sort_keys = False
    app.url_map.merge_slashes = False  # "//etc/passwd" is an unknown file (404), not a redirect
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    _add_error_answers(app)
    _add_access_log(app, state)
    _add_list_routes(app, state)
    _add_file_routes(app, state)
    if with_sessions:
        _add_session_routes(app, state)
    return app


def _add_error_answers(app: Flask) -> None:
    """:class:`BadRequest` and werkzeug's 400/405/413 answer JSON ``{"success": false, "error": ...}``."""

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest):
        return jsonify(success=False, error=str(error)), 400

    def http_error(error: HTTPException):
        return jsonify(success=False, error=f"{error.name}: {error.description}"), error.code

    for code in (400, 405, 413):  # malformed form data, a wrong method, a body over MAX_BODY_BYTES
        app.register_error_handler(code, http_error)


def _add_access_log(app: Flask, state: ServerState) -> None:
    """One line per request on logger ``statecatcher_speechcatcher_data.access``; any key segment -> ``***``
    (control characters escaped, see :mod:`~statecatcher_speechcatcher_data.logs`).  Also marks every answer
    ``Cache-Control: private``: its URL holds the key."""

    @app.after_request
    def log_request(response: Response) -> Response:
        response.cache_control.public = False
        response.cache_control.private = True
        path = request.full_path.rstrip("?")
        given = (request.view_args or {}).get("api_key")
        for key in (given, state.api_key):
            if key:
                path = path.replace(f"/{key}", "/***")
        access_log.info("%s %s %s %s", request.remote_addr, request.method, path, response.status_code)
        return response


def _authorized(state: ServerState, key: str) -> None:
    if not hmac.compare_digest(key.encode(), state.api_key.encode()):
        abort(Response('{"success": false, "error": "invalid API key"}', 401, mimetype="application/json"))


def _episode_json(state: ServerState, episode: IndexedEpisode) -> dict[str, Any]:
    base = request.host_url.rstrip("/") + "/apiv1"
    published = datetime.fromtimestamp(episode.modified, timezone.utc)
    vtt = f"{base}/transcript/{state.api_key}/{episode.id}.vtt"
    return {
        "podcast_episode_id": episode.id, "podcast_title": episode.podcast_title,
        "episode_title": episode.recording_id, "published_date": published.isoformat(),
        "retrieval_time": published.isoformat(), "authors": "", "language": episode.language or "",
        "description": "", "keywords": "", "episode_url": "", "episode_audio_url": "",
        "cache_audio_url": f"{base}/audio/{state.api_key}/{episode.audio}", "cache_audio_file": episode.audio,
        "transcript_file": f"transcripts/{episode.id}.vtt", "transcript_file_url": vtt,
        "duration": episode.duration, "split": episode.split,
    }


def _fault(state: ServerState, route: str):
    return state.faults.take(route, request.path) if state.faults.rules else None


def _add_list_routes(app: Flask, state: ServerState) -> None:
    def listing(where: str = "", parameters: tuple = ()) -> Response:
        fault = _fault(state, "list")
        if fault is not None and fault.action == "error500":
            return jsonify(success=False, error="injected fault"), 500
        return jsonify([_episode_json(state, e) for e in read_episodes(state.index, where, parameters)])

    @app.get("/apiv1/get_podcast_list/<language>/<api_key>")
    def get_podcast_list(language: str, api_key: str):
        _authorized(state, api_key)
        path_text(language, "language")
        counts: dict[str, int] = {}
        for episode in read_episodes(state.index, "WHERE language LIKE ?", (f"{language}%",)):
            counts[episode.podcast_title] = counts.get(episode.podcast_title, 0) + 1
        return jsonify([{"title": title, "count": count} for title, count in sorted(counts.items())])

    @app.post("/apiv1/get_episode_list/<api_key>")
    def get_episode_list(api_key: str):
        _authorized(state, api_key)
        title = request.form.get("podcast_title")
        if not title:
            return jsonify(success=False, error="form field 'podcast_title' is required"), 400
        path_text(title, "podcast_title")
        return listing("WHERE podcast_title = ?", (title,))

    @app.get("/apiv1/get_every_episode_list/<api_key>")
    def get_every_episode_list(api_key: str):
        _authorized(state, api_key)
        return listing()


def _add_file_routes(app: Flask, state: ServerState) -> None:
    @app.get("/apiv1/audio/<api_key>/<path:relative>")
    def audio(api_key: str, relative: str):
        _authorized(state, api_key)
        found = read_episodes(state.index, "WHERE audio = ?", (path_text(relative, "path"),))
        path = (state.corpus / relative).resolve() if found else None
        if path is None or not path.is_relative_to(state.corpus) or not path.is_file():
            abort(404)
        fault = _fault(state, "audio")
        if fault is None:
            _honour_only_usable_range(path.stat().st_size)
            return send_file(path, conditional=True, etag=True, max_age=3600)
        return _faulty_file(fault, path.read_bytes())

    @app.get("/apiv1/transcript/<api_key>/<name>")
    def transcript(api_key: str, name: str):
        _authorized(state, api_key)
        stem, _, suffix = name.rpartition(".")
        found = (read_episodes(state.index, "WHERE id = ?", (ascii_id(stem, "episode_id"),), segments=True)
                 if suffix == "vtt" else [])
        if not found:
            abort(404)
        document = format_vtt(found[0].segments)
        fault = _fault(state, "transcript")
        if fault is not None and fault.action == "bad_vtt":
            document = BAD_VTT
        elif fault is not None:
            return _faulty_file(fault, document.encode("utf-8"), "text/vtt")
        return Response(document, mimetype="text/vtt")


def _honour_only_usable_range(size: int) -> None:
    """Drops the request's Range header unless :func:`~statecatcher_speechcatcher_data.ranges.usable_range`
    keeps it (then the whole file is served, 200)."""
    header = request.environ.pop("HTTP_RANGE", None)
    usable = usable_range(header, size)
    if usable is not None:
        request.environ["HTTP_RANGE"] = usable


def _faulty_file(fault, data: bytes, mimetype: str = "application/octet-stream") -> Response:
    """The file ``data`` served the way ``fault`` says (see :mod:`~statecatcher_speechcatcher_data.faults`)."""
    if fault.action == "error500":
        return Response("injected fault", 500)
    if fault.action == "not_found":
        abort(404)
    if fault.action == "truncate":
        return Response(data[:len(data) // 2], mimetype=mimetype)
    if fault.action == "corrupt":
        return Response(os.urandom(len(data)), mimetype=mimetype)
    if fault.action not in ("drop", "stall"):
        return Response(data, mimetype=mimetype)

    def body():
        yield data[:len(data) // 2]
        if fault.action == "stall":
            time.sleep(fault.seconds)
            yield data[len(data) // 2:]
        else:  # an error after the headers went out: the WSGI server closes the connection mid-body
            raise ConnectionAbortedError("injected fault: connection dropped mid-body")

    return Response(body(), mimetype=mimetype, headers={"Content-Length": str(len(data))})


def _add_session_routes(app: Flask, state: ServerState) -> None:
    sessions = state.sessions

    def session_or_404(session_id: str):
        session = sessions.get(session_id)
        if session is None:
            abort(Response('{"success": false, "error": "unknown session"}', 404, mimetype="application/json"))
        return session

    @app.post("/apiv1/start_training_session/<api_key>")
    def start_training_session(api_key: str):
        _authorized(state, api_key)
        fault = _fault(state, "start_session")
        if fault is not None:
            return jsonify(success=False, error="injected fault"), 500
        options = session_options(json_object(request.get_data()))
        order, batch_size = options.order, options.batch_size
        episodes = [e for e in read_episodes(state.index, "WHERE language LIKE ?", (f"{options.language}%",))
                    if options.min_duration <= e.duration <= options.max_duration]
        episodes.sort(key=lambda e: (e.duration, e.id), reverse=order == "desc")
        try:
            session = sessions.start([e.id for e in episodes], batch_size, order)
        except TooManySessions as error:
            return jsonify(success=False, error=str(error)), 429
        # like speechcatcher-data: no num_samples (clients read batches until "End of epoch reached")
        return jsonify(success=True, session_id=session.id, batch_size=batch_size, order=order)

    @app.get("/apiv1/get_next_batch/<session_id>/<api_key>")
    def get_next_batch(session_id: str, api_key: str):
        _authorized(state, api_key)
        fault = _fault(state, "next_batch")
        if fault is not None and fault.action == "vanish":
            sessions.clear()
        elif fault is not None:
            return jsonify(success=False, error="injected fault"), 500
        session = session_or_404(session_id)
        batch = sessions.next_batch(session)
        if batch is None:
            return jsonify(success=False, error=END_OF_EPOCH), 400
        epoch, batch_id, ids = batch
        placeholders = ",".join("?" * len(ids))
        by_id = {e.id: e for e in read_episodes(state.index, f"WHERE id IN ({placeholders})", tuple(ids))}
        items = []
        for episode_id in ids:
            item = _episode_json(state, by_id[episode_id])
            item["retrieval_time"] = str(item["retrieval_time"])
            items.append(item)
        return jsonify(success=True, epoch=epoch, batch_id=batch_id, batch=items)

    @app.post("/apiv1/mark_batch_done/<session_id>/<batch_number>/<api_key>")
    def mark_batch_done(session_id: str, batch_number: str, api_key: str):
        _authorized(state, api_key)
        session = session_or_404(session_id)
        batch_id = ascii_id(batch_number, "batch_id")
        epoch = ascii_id(request.args["epoch"], "epoch") if "epoch" in request.args else session.epoch
        if not sessions.mark_done(session, epoch, batch_id):
            return jsonify(success=False, error=f"batch {batch_id} of epoch {epoch} was never handed out"), 400
        return jsonify(success=True)

    @app.post("/apiv1/log/<session_id>/<api_key>")
    def log(session_id: str, api_key: str):
        _authorized(state, api_key)
        session = session_or_404(session_id)
        sessions.add_log(session, *log_entry(json_object(request.get_data())))
        return jsonify(success=True)

    @app.get("/apiv1/session_status/<session_id>/<api_key>")
    def session_status(session_id: str, api_key: str):
        _authorized(state, api_key)
        return jsonify(success=True, **sessions.status(session_or_404(session_id)))

    @app.post("/apiv1/end_training_session/<session_id>/<api_key>")
    def end_training_session(session_id: str, api_key: str):
        _authorized(state, api_key)
        if _fault(state, "end_session") is not None:
            return jsonify(success=False, error="injected fault"), 500
        session_or_404(session_id)
        sessions.end(session_id)
        return jsonify(success=True)
