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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from statecatcher.files import write_atomically
from statecatcher.secrets import REDACTED, scrub
from statecatcher_speechcatcher_data.api import ApiClient, ApiError, AuthenticationError, NotFoundError

log = logging.getLogger(__name__)
LISTING_VERSION = 1
MAX_SESSION_RESTARTS = 3


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
    """``transcript_file_url`` when present, else ``transcript_file`` with ``/var/www/`` -> ``https://``."""
    url = item.get("transcript_file_url") or ""
    if not url:
        path = str(item.get("transcript_file") or "")
        url = "https://" + path.removeprefix("/var/www/") if path.startswith("/var/www/") else path
    return urljoin(base_url + "/", url) if url else ""


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

    language: str = ""
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

    ``use_session``: ``always`` (fail without the session API), ``never`` (only the list routes) or ``auto``.
    """
    items, how = None, "episode lists"
    if use_session in ("auto", "always"):
        try:
            items, how = _list_by_session(client, filters, session_batch_size), "training session"
        except NotFoundError:
            if use_session == "always":
                raise ListingError(f"{client.base_url} offers no training session API "
                                   "(start_training_session answered 404) and use_session=always") from None
            log.info("speechcatcher: no training session API at %s, listing episodes", client.base_url)
    if items is None:
        items = _list_by_routes(client, filters)
    kept = [item for item in items if filters.keeps(item)]
    episodes = {episode.id: episode for episode in (episode_of(item, client.base_url) for item in kept) if episode}
    facts = {"listed_by": how, "listed": len(items), "filtered_out": len(items) - len(kept),
             "incomplete": len(kept) - len(episodes)}
    if not episodes:
        raise ListingError(f"speechcatcher server {client.base_url}: no episode matches language={filters.language!r}, "
                           f"podcasts={list(filters.podcasts)}, duration [{filters.min_duration}, "
                           f"{filters.max_duration}] s ({facts})")
    return sorted(episodes.values(), key=lambda e: e.id), facts


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


def _list_by_session(client: ApiClient, filters: Filters, batch_size: int) -> list[dict[str, Any]]:
    """Every episode of one session epoch; a vanished session (404) is restarted and read again, deduplicated."""
    seen: dict[Any, dict[str, Any]] = {}
    for restart in range(MAX_SESSION_RESTARTS + 1):
        session_id, total = _start_session(client, filters, batch_size)
        try:
            _read_epoch(client, session_id, total, batch_size, seen)
        except NotFoundError:
            log.warning("speechcatcher: training session vanished (404); restarting it (%d/%d)", restart + 1,
                        MAX_SESSION_RESTARTS)
            continue
        _end_session(client, session_id)
        return list(seen.values())
    raise ListingError(f"speechcatcher server {client.base_url}: the training session vanished "
                       f"{MAX_SESSION_RESTARTS + 1} times while listing; try use_session=never")


def _start_session(client: ApiClient, filters: Filters, batch_size: int) -> tuple[str, int]:
    request = {"language": filters.language, "batch_size": batch_size, "order": "asc",
               "min_duration": filters.min_duration,
               "max_duration": filters.max_duration if math.isfinite(filters.max_duration) else None}
    try:
        body = client.json("POST", client.url("start_training_session"), json=request)
    except AuthenticationError:
        raise
    except ApiError as error:
        if isinstance(error, NotFoundError) or error.status == 405:
            raise NotFoundError(str(error), 404) from None
        raise ListingError(f"speechcatcher server {client.base_url}: start_training_session failed: {error}") from None
    if not body.get("session_id") or not body.get("num_samples"):
        raise ListingError(f"speechcatcher server {client.base_url}: the training session has no episode for "
                           f"{request} (answer: {client.scrub(json.dumps(body))[:300]})")
    return str(body["session_id"]), int(body["num_samples"])


def _read_epoch(client: ApiClient, session_id: str, total: int, batch_size: int, seen: dict) -> None:
    """Reads batches until "End of epoch reached" or ``total`` episodes; bounded in calls."""
    for _ in range(math.ceil(total / max(batch_size, 1)) + 2):
        response = client.request("GET", client.url("get_next_batch", session_id))
        body = response.json()
        if response.status_code == 200 and body.get("success") is False:
            raise AuthenticationError(f"{client.auth_message(response.url)}: {client.scrub(body.get('error', ''))}")
        if response.status_code == 400 or not body.get("success", False):
            if "end of epoch" in str(body.get("error", "")).lower():
                return
            raise ListingError(client.scrub(f"get_next_batch failed: HTTP {response.status_code} "
                                            f"{body.get('error', body)!r}"))
        batch = body.get("batch") or []
        for item in batch:
            seen.setdefault(item.get("podcast_episode_id"), item)
        _mark_done(client, session_id, body)
        if not batch or len(seen) >= total:
            return
    raise ListingError(f"get_next_batch: no end of epoch after {total} episodes in batches of {batch_size}")


def _mark_done(client: ApiClient, session_id: str, body: dict[str, Any]) -> None:
    try:
        client.request("POST", client.url("mark_batch_done", session_id, body.get("batch_id", "")),
                       params={"epoch": body.get("epoch", 0)})
    except ApiError as error:  # bookkeeping only: the listing already holds the batch
        log.warning("speechcatcher: mark_batch_done failed (ignored): %s", error)


def _end_session(client: ApiClient, session_id: str) -> None:
    try:
        client.request("POST", client.url("end_training_session", session_id))
    except ApiError as error:  # some server versions fail here; the session expires on its own
        log.warning("speechcatcher: end_training_session failed (ignored): %s", error)


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
