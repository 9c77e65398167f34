"""The HTTP side of the client: one pooled keep-alive ``requests.Session``, retries, Range resumption.

Every request goes through :meth:`ApiClient.request`, which retries connection errors, timeouts and 5xx
answers with exponential backoff (``backoff * 2**attempt`` seconds, capped at ``max_backoff``) at most
``retries`` times, so no call can hang longer than about ``(retries + 1) * timeout`` plus the backoff.
The API key travels as a path segment (the speechcatcher-data API): every message this module raises or
logs passes through :meth:`ApiClient.scrub`, so the key never shows up in logs or tracebacks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from statecatcher.secrets import scrub, scrub_logger

log = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 16


class ApiError(RuntimeError):
    """The server answered with an error (``status``) or could not be reached after every retry."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class AuthenticationError(ApiError):
    """The server rejected the API key (401, or ``{"success": false}`` on a listing route)."""


class NotFoundError(ApiError, OSError):
    """404: an unknown route, session or file (an ``OSError``, so the lane planner skips its recording)."""


class DownloadError(ApiError, OSError):
    """A file could not be downloaded after every retry (an ``OSError``: the recording is skipped)."""


class ApiClient:
    """Calls ``base_url``/apiv1/... with ``api_key``; ``keep_alive=False`` closes the connection per request.

    ``timeout`` is ``(connect, read)`` seconds; the read timeout bounds every wait for bytes (also mid-body).
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: tuple[float, float] = (10.0, 60.0),
                 retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0, keep_alive: bool = True,
                 pool_size: int = 8):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"speechcatcher data source: base URL must start with http:// or https://, got "
                             f"{base_url!r}")
        if not api_key:
            raise ValueError("speechcatcher data source: no API key; pass --data-opt api_key=..., set "
                             "STATECATCHER_API_KEY, or put api_key in the config file's [data_options]")
        self.base_url, self.api_key = base_url.rstrip("/"), api_key
        scrub_logger("urllib3.connectionpool", [api_key, quote(api_key, safe="")])  # it logs request paths
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self.keep_alive = keep_alive
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if not keep_alive:
            self.session.headers["Connection"] = "close"
        self.counters = {"requests": 0, "retries": 0, "bytes": 0, "resumed": 0}

    # -- helpers -------------------------------------------------------------------------------------------

    def url(self, route: str, *parts: str | int, key: bool = True) -> str:
        """``BASE/apiv1/ROUTE/PART.../KEY`` with each part URL-quoted."""
        segments = [route, *(quote(str(part), safe="") for part in parts)] + ([self.api_key] if key else [])
        return f"{self.base_url}/apiv1/" + "/".join(segments)

    def scrub(self, text: str) -> str:
        """``text`` without the API key (in its plain and URL-quoted forms)."""
        return scrub(str(text), [self.api_key, quote(self.api_key, safe="")])

    def close(self) -> None:
        self.session.close()

    # -- requests with retries -----------------------------------------------------------------------------

    def request(self, method: str, url: str, *, stream: bool = False, **kwargs: Any) -> requests.Response:
        """The response of the first attempt that is not a connection error, timeout or 5xx.

        Raises :class:`AuthenticationError` on 401, :class:`NotFoundError` on 404 and :class:`ApiError`
        after the last retry; other 4xx answers are returned (the API puts its error in the JSON body).
        """
        for attempt in range(self.retries + 1):
            reason = None
            try:
                response = self.session.request(method, url, timeout=self.timeout, stream=stream, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                reason = f"{type(error).__name__}: {error}"
            else:
                self.counters["requests"] += 1
                if response.status_code < 500:
                    return self._checked(response, url)
                reason = f"HTTP {response.status_code}"
                response.close()
            if attempt == self.retries:
                raise ApiError(self.scrub(f"{method} {url} failed after {attempt + 1} attempt(s): {reason}"))
            self._wait(attempt, method, url, reason)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, method: str, url: str, reason: str) -> None:
        self.counters["retries"] += 1
        delay = min(self.backoff * 2**attempt, self.max_backoff)
        log.warning("%s", self.scrub(f"{method} {url}: {reason}; retry {attempt + 1}/{self.retries} in "
                                     f"{delay:.2f} s"))
        time.sleep(delay)

    def _checked(self, response: requests.Response, url: str) -> requests.Response:
        if response.status_code == 401:
            response.close()
            raise AuthenticationError(self.auth_message(url), 401)
        if response.status_code == 404:
            response.close()
            raise NotFoundError(self.scrub(f"{response.request.method} {url}: 404 not found"), 404)
        return response

    def auth_message(self, url: str) -> str:
        return self.scrub(f"the speechcatcher server at {self.base_url} rejected the API key ({url}); check "
                          "--data-opt api_key / STATECATCHER_API_KEY")

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """The decoded JSON body; ``{"success": false}`` with an authentication-sounding error (or any
        ``{"success": false}`` on a 200) raises :class:`AuthenticationError` / :class:`ApiError`."""
        response = self.request(method, url, **kwargs)
        try:
            body = response.json()
        except ValueError as error:
            raise ApiError(self.scrub(f"{method} {url}: HTTP {response.status_code}, not JSON ({error})"),
                           response.status_code) from error
        if isinstance(body, dict) and body.get("success") is False:
            message = self.scrub(str(body.get("error", "no error message")))
            if response.status_code == 200 or "key" in message.lower() or "auth" in message.lower():
                raise AuthenticationError(f"{self.auth_message(url)}: {message}", response.status_code)
            raise ApiError(self.scrub(f"{method} {url}: HTTP {response.status_code}: {message}"),
                           response.status_code)
        if response.status_code >= 400:
            raise ApiError(self.scrub(f"{method} {url}: HTTP {response.status_code}: {body!r:.200}"),
                           response.status_code)
        return body

    # -- downloads -----------------------------------------------------------------------------------------

    def download(self, url: str, destination: Path) -> Path:
        """Download ``url`` to ``destination`` (atomically, via ``destination.part``).

        An interrupted body is resumed with ``Range: bytes=N-`` when the server answers 206, and restarted
        otherwise; a body shorter than its ``Content-Length`` counts as interrupted.  Connection errors,
        timeouts and 5xx are retried as in :meth:`request`; a 404 raises :class:`NotFoundError`.
        """
        part = destination.with_name(destination.name + ".part")
        part.unlink(missing_ok=True)
        for attempt in range(self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                response = self.request("GET", url, stream=True, headers=headers)
                with response:
                    if response.status_code not in (200, 206):
                        raise DownloadError(self.scrub(f"GET {url}: HTTP {response.status_code}"),
                                            response.status_code)
                    resumed = response.status_code == 206 and have > 0
                    self.counters["resumed"] += resumed
                    expected = _expected_size(response, have if resumed else 0)
                    with open(part, "ab" if resumed else "wb") as file:
                        for chunk in _body_chunks(response):
                            file.write(chunk)
                            self.counters["bytes"] += len(chunk)
                size = part.stat().st_size
                if expected is not None and size != expected:
                    raise requests.ConnectionError(f"body ended at {size} of {expected} bytes")
                part.replace(destination)
                return destination
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                if attempt == self.retries:
                    part.unlink(missing_ok=True)
                    raise DownloadError(self.scrub(f"GET {url}: interrupted {attempt + 1} time(s), last: "
                                                   f"{type(error).__name__}: {error}")) from None
                self._wait(attempt, "GET", url, f"{type(error).__name__}: {error}")
            except ApiError as error:
                part.unlink(missing_ok=True)
                if isinstance(error, (NotFoundError, AuthenticationError, DownloadError)):
                    raise
                raise DownloadError(str(error), error.status) from None
        raise AssertionError("unreachable")  # pragma: no cover


def _body_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives (``read1``), so bytes received before a broken connection are kept."""
    try:
        while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
            yield chunk
    except urllib3.exceptions.HTTPError as error:
        raise requests.ConnectionError(f"{type(error).__name__}: {error}") from error


def _expected_size(response: requests.Response, offset: int) -> int | None:
    """The file size the body completes to (``offset`` + Content-Length), or None when unknown/compressed."""
    if response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None
