"""The HTTP side of the client: one pooled keep-alive ``requests.Session``, retries, Range resumption.

Every request goes through :meth:`ApiClient.request`, which retries connection errors, timeouts and 5xx
answers with exponential backoff and jitter until the :class:`~statecatcher_speechcatcher_data.retry.RetryPolicy`
budget (``retry_seconds``) is spent, logging one line per wait; a download shares one budget across its
resumptions.  A TLS certificate that does not verify is permanent (:class:`TLSVerificationError`, no retry).
The base URL may be given with or without its ``/apiv1`` suffix.
The API key travels as a path segment (the speechcatcher-data API): every message this module raises or
logs passes through :meth:`ApiClient.scrub`, so the key never shows up in logs or tracebacks.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from statecatcher.secrets import scrub, scrub_logger
from statecatcher_speechcatcher_data.retry import Retries, RetryPolicy

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


class TLSVerificationError(ApiError):
    """A server's TLS certificate did not verify: permanent, never retried, never a skipped recording."""


API_PREFIX = "/apiv1"


def normalize_base_url(url: str) -> str:
    """``url`` without trailing slashes and without the ``/apiv1`` suffix (speechcatcher-data's config.yaml
    writes ``server_api_url`` with it): ``https://h/apiv1/`` and ``https://h`` both give ``https://h``."""
    return url.rstrip("/").removesuffix(API_PREFIX).rstrip("/")


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


class ApiClient:
    """Calls ``base_url``/apiv1/... with ``api_key``; ``keep_alive=False`` closes the connection per request.

    ``timeout`` is ``(connect, read)`` seconds; the read timeout bounds every wait for bytes (also mid-body).
    ``retry`` says how long to keep retrying (default: :class:`RetryPolicy`'s, 120 s per request).

    The environment (``HTTP(S)_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, ``~/.netrc``) is
    read as requests reads it, but once per scheme and host for the client's life rather than on every
    request: requests walks the whole environment twice per request (~1 ms here, a third of the client's
    CPU time per audio file of half a minute).  A variable changed later reaches a new client, not this one.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: tuple[float, float] = (10.0, 60.0),
                 retry: RetryPolicy | None = None, keep_alive: bool = True, pool_size: int = 8):
        if not base_url:
            raise ValueError("speechcatcher data source: no server URL; give --data speechcatcher:URL, or "
                             "server_api_url in a speechcatcher-data config file (--data-opt config=config.yaml)")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"speechcatcher data source: base URL must start with http:// or https://, got "
                             f"{base_url!r}")
        if not api_key:
            raise ValueError("speechcatcher data source: no API key; pass --data-opt api_key=..., set "
                             "STATECATCHER_API_KEY, put api_key in the config file's [data_options], or give a "
                             "speechcatcher-data config.yaml with secret_api_key (--data-opt config=...)")
        self.base_url, self.api_key = normalize_base_url(base_url), api_key
        scrub_logger("urllib3.connectionpool", [api_key, quote(api_key, safe="")])  # it logs request paths
        self.timeout, self.retry = timeout, retry or RetryPolicy()
        self.keep_alive = keep_alive
        self.session = requests.Session()
        self.session.trust_env = False  # read once per host instead: _environment
        self._environments: dict[tuple[str, str], dict[str, Any]] = {}
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
        return f"{self.base_url}{API_PREFIX}/" + "/".join(segments)

    def _environment(self, url: str) -> dict[str, Any]:
        """``proxies``, ``verify`` and ``auth`` for ``url`` from the environment, as requests would read them
        (read once per scheme and host)."""
        where = urlsplit(url)[:2]
        found = self._environments.get(where)
        if found is None:
            reader = requests.Session()  # trust_env: requests' own reading of the environment
            settings = reader.merge_environment_settings(url, {}, None, None, None)
            found = {"proxies": settings["proxies"], "verify": settings["verify"],
                     "auth": requests.utils.get_netrc_auth(url)}
            reader.close()
            self._environments[where] = found
        return found

    def scrub(self, text: str) -> str:
        """``text`` without the API key (in its plain and URL-quoted forms)."""
        return scrub(str(text), [self.api_key, quote(self.api_key, safe="")])

    def close(self) -> None:
        self.session.close()

    # -- requests with retries -----------------------------------------------------------------------------

    def request(self, method: str, url: str, *, stream: bool = False, retries: Retries | None = None,
                **kwargs: Any) -> requests.Response:
        """The response of the first attempt that is not a connection error, timeout or 5xx.

        Raises :class:`AuthenticationError` on 401, :class:`NotFoundError` on 404, :class:`TLSVerificationError`
        at once on a certificate that does not verify, and :class:`ApiError` once ``retries`` (default: a fresh
        budget of ``self.retry``) is spent; other 4xx answers are returned (the API puts its error in the body).
        """
        retries = retries or self.retry.start()
        while True:
            try:
                response = self.session.request(method, url, timeout=self.timeout, stream=stream,
                                                **self._environment(url), **kwargs)
            except requests.exceptions.SSLError as error:
                reason = self._tls_failure(error, url)
            except (requests.ConnectionError, requests.Timeout) as error:
                reason = _short_reason(error)
            else:
                self.counters["requests"] += 1
                if response.status_code < 500:
                    return self._checked(response, url)
                reason = f"HTTP {response.status_code}"
                response.close()
            self.wait(retries, method, url, reason)

    def wait(self, retries: Retries, method: str, url: str, reason: str) -> None:
        """Sleeps before the next attempt of ``method url`` (one log line), or raises :class:`ApiError`."""
        what = self.scrub(f"{method} {url}")
        if not retries.wait(what, self.scrub(reason)):
            raise ApiError(self.scrub(f"{what} failed after {retries.summary()}: {reason}"))
        self.counters["retries"] += 1

    def _tls_failure(self, error: requests.exceptions.SSLError, url: str) -> str:
        """The reason to retry an SSL error, or :class:`TLSVerificationError` when the certificate is at fault."""
        if not _is_certificate_failure(error):
            return f"{type(error).__name__}: {error}"  # e.g. a handshake cut short by a restarting proxy: retry
        host, verify = host_of(url), re.search(r"\[SSL: [A-Z_]+\] [^'\"()]+", str(error))
        text = verify.group(0).strip() if verify else f"{type(error).__name__}: {error}"
        raise TLSVerificationError(self.scrub(
            f"TLS certificate verification failed for {host}: {text}. Retrying cannot fix this: if {host} uses a "
            f"private CA or a self-signed certificate, set REQUESTS_CA_BUNDLE to a PEM file holding that CA "
            f"(e.g. REQUESTS_CA_BUNDLE=/etc/ssl/certs/my-ca.pem)")) from None

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
        retries, interruptions = self.retry.start(), 0
        while True:
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                response = self.request("GET", url, stream=True, headers=headers, retries=retries)
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
                interruptions += 1
                try:
                    self.wait(retries, "GET", url, f"{type(error).__name__}: {error}")
                except ApiError as spent:
                    part.unlink(missing_ok=True)
                    raise DownloadError(f"{spent} (interrupted {interruptions} time(s))") from None
            except ApiError as error:
                part.unlink(missing_ok=True)
                if isinstance(error, (NotFoundError, AuthenticationError, DownloadError, TLSVerificationError)):
                    raise
                raise DownloadError(str(error), error.status) from None


def _short_reason(error: Exception) -> str:
    """``ConnectionError: [Errno 111] Connection refused`` rather than urllib3's whole retry story."""
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(error))
    return f"{type(error).__name__}: {errno.group(0) if errno else error}"


def _is_certificate_failure(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) is a certificate that does not verify (not a cut handshake)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        error = error.__cause__ or error.__context__ or (error.args[0] if error.args and isinstance(
            error.args[0], BaseException) else None)
    return False


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
