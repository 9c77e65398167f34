"""The server's embedded SQLite index of a local corpus (the layout of the ``local`` data source).

Built on first start and rebuilt whenever the corpus changes: the index stores a signature of every
file's relative path, size and modification time, and :func:`open_index` compares it on each start.
One row per recording: its audio path relative to the corpus, duration, split, podcast and the
transcript segments (JSON) the server turns into WebVTT.  A recording whose transcript (or audio header)
cannot be read is left out of the index and reported: a warning on logger
``statecatcher_speechcatcher_data.index`` naming the file and the reason, on every start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import warnings
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statecatcher.files import temporary_sibling
from statecatcher.records import Segment

INDEX_NAME = ".statecatcher-serve-index.sqlite"
log = logging.getLogger(__name__)
SCHEMA_VERSION = "2"  # 2: meta row "skipped"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE episodes (
    id INTEGER PRIMARY KEY, recording_id TEXT UNIQUE NOT NULL, podcast_title TEXT NOT NULL,
    language TEXT NOT NULL, duration REAL NOT NULL, split TEXT NOT NULL, audio TEXT UNIQUE NOT NULL,
    segments TEXT NOT NULL, modified REAL NOT NULL);
"""


@dataclass(frozen=True)
class IndexedEpisode:
    """A row of the index; ``audio`` is relative to the corpus folder (POSIX), ``duration`` in seconds."""

    id: int
    recording_id: str
    podcast_title: str
    language: str
    duration: float
    split: str
    audio: str
    segments: tuple[Segment, ...]
    modified: float


def corpus_signature(corpus: Path, skip: Path) -> str:
    """A digest of every file's ``(relative path, size, mtime)`` under ``corpus`` except ``skip``."""
    digest = hashlib.sha256(SCHEMA_VERSION.encode())
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith(skip.name)):
        stat = path.stat()
        digest.update(f"{path.relative_to(corpus).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def open_index(corpus: str | Path, index_path: str | Path | None = None) -> Path:
    """The path of an up-to-date index of ``corpus`` (``CORPUS/.statecatcher-serve-index.sqlite`` by default)."""
    corpus = Path(corpus).resolve()
    path = Path(index_path) if index_path else corpus / INDEX_NAME
    signature = corpus_signature(corpus, path)
    if path.is_file():
        with closing(sqlite3.connect(path)) as db:
            try:
                stored = db.execute("SELECT value FROM meta WHERE key = 'signature'").fetchone()
            except sqlite3.DatabaseError:
                stored = None
        if stored and stored[0] == signature:
            _report_skipped(path)
            return path
    _build(corpus, path, signature)
    _report_skipped(path)
    return path


def _build(corpus: Path, path: Path, signature: str) -> None:
    from statecatcher.data.local import LocalDataSource

    source = LocalDataSource(str(corpus), shuffle=False)
    rows, skipped = [], []
    with warnings.catch_warnings():  # the source's warning about an unusable recording: _report_skipped says it
        warnings.filterwarnings("ignore", message=r".*cannot be used: ")
        recordings = [r for split in source.describe()["recordings"] for r in source.recordings(split)]
    for recording in recordings:
        try:
            segments = recording.load_segments()
        except OSError as error:  # a malformed transcript or unreadable audio header: not served
            skipped.append({"recording_id": recording.id, "reason": str(error)})
            continue
        audio = Path(recording.meta["audio"]).resolve()
        rows.append((recording.id, _podcast_of(recording.id, recording.meta), _language_of(recording.meta),
                     recording.duration, recording.meta["split"], audio.relative_to(corpus).as_posix(),
                     json.dumps([_segment_dict(s) for s in segments]), audio.stat().st_mtime))
    temporary = temporary_sibling(path)  # several server processes may build at once
    temporary.unlink(missing_ok=True)
    with closing(sqlite3.connect(temporary)) as db:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO episodes (recording_id, podcast_title, language, duration, split, audio, "
                       "segments, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("INSERT INTO meta VALUES ('signature', ?)", (signature,))
        db.execute("INSERT INTO meta VALUES ('skipped', ?)", (json.dumps(skipped),))
        db.commit()
    temporary.replace(path)


def _report_skipped(path: Path) -> None:
    """One warning per recording the index left out (see the module docstring)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'skipped'").fetchone()
    for skipped in json.loads(row[0]) if row else []:
        log.warning("statecatcher serve: not serving recording %r: %s", skipped["recording_id"], skipped["reason"])


def _podcast_of(recording_id: str, meta: dict[str, Any]) -> str:
    """The manifest's ``podcast_title`` / ``podcast``, else the id's folder, else the id (its own show)."""
    return str(meta.get("podcast_title") or meta.get("podcast") or recording_id.rpartition("/")[0] or recording_id)


def _language_of(meta: dict[str, Any]) -> str:
    """The manifest's ``language``, else the Whisper transcript's top-level ``language``, else ``""``."""
    from statecatcher.data.transcripts import read_transcript

    return str(meta.get("language") or read_transcript(meta["transcript"])[1].get("language", ""))


def _segment_dict(segment: Segment) -> dict[str, Any]:
    return {"start": segment.start, "end": segment.end, "text": segment.text, "speaker": segment.speaker}


def read_episodes(path: Path, where: str = "", parameters: tuple = (), *,
                  segments: bool = False) -> list[IndexedEpisode]:
    """Rows of the index matching the SQL ``where`` clause (with ``?`` parameters), ordered by id.

    ``segments=False`` (listings, sessions, audio) leaves every episode's ``segments`` empty without reading
    them: an hour-long transcript is hundreds of segments, and a listing of a large corpus would otherwise
    parse every one of them.  Only the transcript route asks for them.
    """
    column = "segments" if segments else "NULL"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(f"SELECT id, recording_id, podcast_title, language, duration, split, audio, {column}, "
                          f"modified FROM episodes {where} ORDER BY id", parameters).fetchall()
    return [IndexedEpisode(*row[:7], tuple(Segment(**s) for s in json.loads(row[7])) if segments else (), row[8])
            for row in rows]
