"""Listing a server's episodes once: through a training session when the server offers one, else the lists.

The listing is the client's source of truth (see docs/speechcatcher-data.md, "Delivery and resume"): the
training session's batches are read to the end of one epoch and written to a JSON file, and every epoch's
order is computed from that file, never from what the server hands out next.  So the server's at-most-once
delivery cannot lose an episode: a crash between fetching and training a batch only loses a position in
the session, which the client does not use after listing.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from statecatcher.files import write_atomically
from statecatcher.secrets import REDACTED, scrub
from statecatcher_speechcatcher_data.api import (
    ApiClient,
    ApiError,
    AuthenticationError,
    NotFoundError,
    TLSVerificationError,
)

log = logging.getLogger(__name__)
LISTING_VERSION = 1
MAX_SESSION_RESTARTS = 3
MAX_SESSION_CALLS = 100_000  # get_next_batch calls of one listing when the server sends no num_samples
DEFAULT_LANGUAGE = "en"  # what speechcatcher-data and the original statecatcher configs use


@dataclass(frozen=True)
class Episode:
    """One episode as the client needs it: ``id`` is ``str(podcast_episode_id)``, durations in seconds."""

    id: str
    podcast: str
    title: str
    language: str
    duration: float
    audio_url: str
    transcript_url: str
    split: str | None = None  # only `statecatcher serve` sends one (the corpus manifest's split)


class ListingError(ValueError):
    """The server's listing cannot be used (no episode matches, or an episode lacks a required field)."""


def transcript_url_of(item: dict[str, Any], base_url: str) -> str:
    """``transcript_file_url`` when present, else the URL of the server path ``transcript_file`` (see
    :func:`url_of_server_path`); relative URLs are resolved against ``base_url``."""
    url = item.get("transcript_file_url") or ""
    if not url:
        url = url_of_server_path(str(item.get("transcript_file") or ""), item)
    return urljoin(base_url + "/", url) if url else ""


def url_of_server_path(path: str, item: dict[str, Any]) -> str:
    """The URL of a file path on the server (session batches of speechcatcher-data carry only the path).

    The episode's own audio gives the mapping: ``cache_audio_file`` and ``cache_audio_url`` share their
    trailing path segments, and what precedes them maps the one prefix to the other
    (``/var/www/media.example.org/`` -> ``https://media.example.org/``).  Without it, ``/var/www/HOST/...``
    becomes ``https://HOST/...`` (speechcatcher-data's default layout).
    """
    audio_file, audio_url = str(item.get("cache_audio_file") or ""), str(item.get("cache_audio_url") or "")
    if audio_file.startswith("/") and audio_url:
        file_parts, url_parts = audio_file.split("/"), audio_url.split("/")
        shared = 0
        while (shared < min(len(file_parts), len(url_parts)) - 1
               and file_parts[-1 - shared] == url_parts[-1 - shared]):
            shared += 1
        file_prefix = "/".join(file_parts[:-shared]) + "/" if shared else ""
        if shared and path.startswith(file_prefix):
            return "/".join(url_parts[:-shared]) + "/" + path.removeprefix(file_prefix)
    return "https://" + path.removeprefix("/var/www/") if path.startswith("/var/www/") else path


def is_corrupted(item: dict[str, Any]) -> bool:
    """Whether the server flagged the transcript as corrupted (a ``corrupted`` path component)."""
    paths = (str(item.get("transcript_file") or ""), str(item.get("transcript_file_url") or ""))
    return any("corrupted" in path.split("/")[:-1] for path in paths)


def episode_of(item: dict[str, Any], base_url: str) -> Episode | None:
    """The :class:`Episode` of one API episode object, or None when it lacks audio, transcript or duration."""
    audio = item.get("cache_audio_url") or item.get("episode_audio_url") or ""
    transcript = transcript_url_of(item, base_url)
    duration = item.get("duration")
    if item.get("podcast_episode_id") is None or not audio or not transcript or not isinstance(duration, (int, float)) \
            or isinstance(duration, bool) or not math.isfinite(duration) or duration <= 0:
        return None
    return Episode(id=str(item["podcast_episode_id"]), podcast=str(item.get("podcast_title") or ""),
                   title=str(item.get("episode_title") or ""), language=str(item.get("language") or ""),
                   duration=float(duration), audio_url=urljoin(base_url + "/", audio), transcript_url=transcript,
                   split=item.get("split"))


@dataclass(frozen=True)
class Filters:
    """What to list: ``language`` (prefix match, ``""`` = any), podcast titles, duration bounds (seconds)."""

    language: str = DEFAULT_LANGUAGE
    podcasts: tuple[str, ...] = ()
    min_duration: float = 0.0
    max_duration: float = math.inf
    include_corrupted: bool = False

    def keeps(self, item: dict[str, Any]) -> bool:
        language = str(item.get("language") or "")
        duration = item.get("duration") or 0
        return ((not self.language or language.lower().startswith(self.language.lower()))
                and (not self.podcasts or item.get("podcast_title") in self.podcasts)
                and self.min_duration <= duration <= self.max_duration
                and (self.include_corrupted or not is_corrupted(item)))


def fetch_listing(client: ApiClient, filters: Filters, *, use_session: str = "auto",
                  session_batch_size: int = 64) -> tuple[list[Episode], dict[str, Any]]:
    """``(episodes sorted by id, facts)`` from the server; ``facts`` says how it was listed and what was dropped.

    ``use_session``: ``always`` (fail without the session API), ``never`` (only the list routes) or ``auto``
    (the session when the server has one and it holds an episode for ``filters``, else the list routes).
    Raises :class:`ListingError` naming the filters and the server's languages when nothing matches.
    """
    items, how = None, "episode lists"
    if use_session in ("auto", "always"):
        items = _session_items(client, filters, use_session, session_batch_size)
        how = "training session" if items is not None else how
    if items is None:
        items = _list_by_routes(client, filters)
    kept = [item for item in items if filters.keeps(item)]
    episodes = {episode.id: episode for episode in (episode_of(item, client.base_url) for item in kept) if episode}
    facts = {"listed_by": how, "listed": len(items), "filtered_out": len(items) - len(kept),
             "incomplete": len(kept) - len(episodes)}
    if not episodes:
        every = items if how == "episode lists" and not filters.podcasts else None
        raise ListingError(f"speechcatcher server {client.base_url}: no episode matches language="
                           f"{filters.language!r}, podcasts={list(filters.podcasts)}, duration "
                           f"[{filters.min_duration}, {filters.max_duration}] s ({facts}); "
                           f"{_languages_on_server(client, every)}")
    return sorted(episodes.values(), key=lambda e: e.id), facts


def _session_items(client: ApiClient, filters: Filters, use_session: str, batch_size: int) -> list | None:
    """One session epoch's episode objects, or None when ``auto`` should use the list routes instead."""
    if not filters.language and use_session == "auto":
        log.info("speechcatcher: language '' (any): listing with the episode lists (a training session filters "
                 "one exact language)")
        return None
    try:
        items = _list_by_session(client, filters, batch_size)
    except NotFoundError:
        if use_session == "always":
            raise ListingError(f"{client.base_url} offers no training session API "
                               "(start_training_session answered 404) and use_session=always") from None
        log.info("speechcatcher: no training session API at %s, listing episodes", client.base_url)
        return None
    if not items and use_session == "auto":
        log.info("speechcatcher: the training session holds no episode for language %r and the duration bounds "
                 "(it matches the language exactly); listing with the episode lists", filters.language)
        return None
    return items


def _languages_on_server(client: ApiClient, every: list[dict[str, Any]] | None) -> str:
    """``"the server's episode list has the languages 'en': 6 episodes; ..."``, from ``every`` (the whole
    episode list, when the caller has it) or a fresh ``get_every_episode_list``."""
    try:
        every = every if every is not None else _as_list(client.json("GET", client.url("get_every_episode_list")),
                                                         "get_every_episode_list")
    except ApiError as error:
        return f"the server's languages are unknown (get_every_episode_list failed: {error})"
    counts = Counter(str(item.get("language") or "") for item in every)
    if not counts:
        return "the server's episode list is empty"
    languages = ", ".join(f"{language!r}{' (none given)' * (not language)}: {count} episode{'s' * (count != 1)}"
                          for language, count in sorted(counts.items()))
    return (f"the server's episode list has the languages {languages}; choose one with --data-opt language=... "
            "(language=\"\" takes every episode)")


def _list_by_routes(client: ApiClient, filters: Filters) -> list[dict[str, Any]]:
    if not filters.podcasts:
        return _as_list(client.json("GET", client.url("get_every_episode_list")), "get_every_episode_list")
    items = []
    for title in filters.podcasts:
        items += _as_list(client.json("POST", client.url("get_episode_list"), data={"podcast_title": title}),
                          "get_episode_list")
    return items


def _as_list(body: Any, route: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ApiError(f"{route}: expected a JSON list of episode objects, got {type(body).__name__}")
    return body


class _SessionVanished(Exception):
    """The server no longer knows the session (404, or 400 "Invalid session ID" from speechcatcher-data)."""


def _list_by_session(client: ApiClient, filters: Filters, batch_size: int) -> list[dict[str, Any]]:
    """Every episode of one session epoch; a vanished session is restarted and read again, deduplicated.

    Every session started is ended again, also on failure (speechcatcher-data's end route fails; it is tried).
    """
    seen: dict[Any, dict[str, Any]] = {}
    for restart in range(MAX_SESSION_RESTARTS + 1):
        session_id, total = _start_session(client, filters, batch_size)
        try:
            stopped = _read_epoch(client, session_id, total, batch_size, seen)
        except _SessionVanished as error:  # nothing left to end
            log.warning("speechcatcher: training session vanished (%s); restarting it (%d/%d)", error, restart + 1,
                        MAX_SESSION_RESTARTS)
            continue
        except BaseException:
            _end_session(client, session_id)
            raise
        _end_session(client, session_id)
        log.info("speechcatcher: listed %d episodes through a training session; stopped at %s", len(seen), stopped)
        return list(seen.values())
    raise ListingError(f"speechcatcher server {client.base_url}: the training session vanished "
                       f"{MAX_SESSION_RESTARTS + 1} times while listing; try use_session=never")


def _start_session(client: ApiClient, filters: Filters, batch_size: int) -> tuple[str, int | None]:
    """``(session id, num_samples)``; speechcatcher-data sends no ``num_samples`` (then None)."""
    request = {"language": filters.language, "batch_size": batch_size, "order": "asc",
               "min_duration": filters.min_duration,
               "max_duration": filters.max_duration if math.isfinite(filters.max_duration) else None}
    try:
        body = client.json("POST", client.url("start_training_session"), json=request)
    except (AuthenticationError, TLSVerificationError):
        raise
    except ApiError as error:
        if isinstance(error, NotFoundError) or error.status == 405:
            raise NotFoundError(str(error), 404) from None
        raise ListingError(f"speechcatcher server {client.base_url}: start_training_session failed: {error}") from None
    if not isinstance(body, dict) or not body.get("session_id"):
        raise ListingError(f"speechcatcher server {client.base_url}: start_training_session answered no session_id "
                           f"(answer: {client.scrub(json.dumps(body))[:300]})")
    total = body.get("num_samples")
    return str(body["session_id"]), int(total) if isinstance(total, int) and not isinstance(total, bool) else None


def _read_epoch(client: ApiClient, session_id: str, total: int | None, batch_size: int, seen: dict) -> str:
    """Reads batches into ``seen`` until the epoch ends; returns why it stopped.

    Stops at the end-of-epoch answer (speechcatcher-data: 400 "End of epoch reached"), at an empty batch,
    when an episode comes again or the answer's epoch moves on (both mean the next epoch began), or once
    ``total`` (``num_samples``, when sent) episodes are in; at most ``ceil(total / batch_size) + 2`` calls
    (``MAX_SESSION_CALLS`` without ``total``), then a :class:`ListingError`.
    """
    cap = math.ceil(total / max(batch_size, 1)) + 2 if total is not None else MAX_SESSION_CALLS
    first_epoch = None
    for _ in range(cap):
        status, body = _next_batch(client, session_id)
        if status != 200 or body.get("success") is False:
            error = str(body.get("error", body))
            if "end of epoch" in error.lower():
                return f"the end of the epoch (HTTP {status} {error!r})"
            if "invalid session" in error.lower():
                raise _SessionVanished(f"HTTP {status} {error!r}")
            raise ListingError(client.scrub(f"get_next_batch failed: HTTP {status} {error!r}"))
        first_epoch = body.get("epoch") if first_epoch is None else first_epoch
        if body.get("epoch") != first_epoch:
            return f"epoch {body.get('epoch')} (the epoch moved on from {first_epoch} without an end-of-epoch answer)"
        batch = [item for item in body.get("batch") or [] if isinstance(item, dict)]
        repeated = [item.get("podcast_episode_id") for item in batch if item.get("podcast_episode_id") in seen]
        for item in batch:
            seen.setdefault(item.get("podcast_episode_id"), item)
        if not batch or repeated:
            return "an empty batch" if not batch else f"episode {repeated[0]}, handed out again (a new epoch)"
        _mark_done(client, session_id, body)
        if total is not None and len(seen) >= total:
            return f"num_samples={total} episodes"
    raise ListingError(f"speechcatcher server {client.base_url}: get_next_batch gave no end of epoch after {cap} "
                       f"calls ({len(seen)} episodes in batches of {batch_size}); try use_session=never")


def _next_batch(client: ApiClient, session_id: str) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON object)`` of one get_next_batch call; a 200 ``{"success": false}`` is a bad key."""
    try:
        response = client.request("GET", client.url("get_next_batch", session_id))
    except NotFoundError as error:
        raise _SessionVanished(str(error)) from None
    with response:
        try:
            body = response.json()
        except ValueError:
            body = None
    if not isinstance(body, dict):
        raise ListingError(client.scrub(f"get_next_batch: HTTP {response.status_code}, not a JSON object"))
    if response.status_code == 200 and body.get("success") is False:
        raise AuthenticationError(f"{client.auth_message(response.url)}: {client.scrub(body.get('error', ''))}")
    return response.status_code, body


def _mark_done(client: ApiClient, session_id: str, body: dict[str, Any]) -> None:
    try:
        client.request("POST", client.url("mark_batch_done", session_id, body.get("batch_id", "")),
                       params={"epoch": body.get("epoch", 0)}).close()
    except ApiError as error:  # bookkeeping only: the listing already holds the batch
        log.warning("speechcatcher: mark_batch_done failed (ignored): %s", error)


def _end_session(client: ApiClient, session_id: str) -> None:
    try:  # one attempt: after a failure the server may be gone, and the session expires on its own
        client.request("POST", client.url("end_training_session", session_id),
                       retries=replace(client.retry, max_retries=0).start()).close()
    except ApiError as error:  # speechcatcher-data answers 404 here (an upstream bug); sessions expire
        log.info("speechcatcher: end_training_session failed (ignored, the session stays on the server): %s", error)


# -- the cached listing --------------------------------------------------------------------------------------

KEY_MARK = "{API_KEY}"  # stands for the API key in saved URLs, so the key never lands on disk


def save_listing(path: Path, episodes: list[Episode], facts: dict[str, Any], api_key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps({"version": LISTING_VERSION, "facts": facts, "episodes": [asdict(e) for e in episodes]})
    # ranks sharing a cache may save it at once
    write_atomically(path, scrub(document, [api_key, quote(api_key, safe="")]).replace(REDACTED, KEY_MARK))


def load_listing(path: Path, api_key: str) -> tuple[list[Episode], dict[str, Any]] | None:
    """The listing saved at ``path``, or None when there is none (or it is from another version)."""
    try:
        document = json.loads(path.read_text().replace(KEY_MARK, quote(api_key, safe="")))
    except (OSError, ValueError):
        return None
    if document.get("version") != LISTING_VERSION:
        return None
    return [Episode(**item) for item in document["episodes"]], document["facts"]
