"""One registry host over HTTP(S): ping, authentication, retries, redirects.

``RegistryClient.request`` is the single way requests reach a registry:

* the scheme is found once by pinging ``/v2/``: HTTPS, and with
  ``tls_verify=False`` plain HTTP when HTTPS fails (as skopeo does);
* each request carries the ``Authorization`` the ``Authenticator`` gives for
  its scopes; a 401 lets it learn (new challenge, new scope) and the request
  is sent once more;
* connection errors, 429 and 5xx are retried ``retry_times`` times with
  exponential back-off (``retry_delay`` fixed when given), honouring
  ``Retry-After``; other statuses are returned to the caller, which maps
  them to exceptions (errors.py);
* redirects (blob storage behind the registry) are followed only when asked,
  and the registry's ``Authorization`` never goes to another host.

Bodies are never decoded (``decode_content=False``): blobs are hashed as
they are stored by the registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import InsecureRequestWarning

from lighter.errors import RegistryError, RegistryTransientError
from lighter.transports.base import TransportOptions
from lighter.transports.registry.auth import Authenticator
from lighter.transports.registry.challenge import parse_challenges
from lighter.transports.registry.tls import ssl_context

log = logging.getLogger(__name__)

Body = bytes | Iterable[bytes] | None

#: Docker Hub's API lives on another host than its name
DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_ENDPOINT: Final = "registry-1.docker.io"
#: small answers (errors, tokens, tag lists) are read whole up to this size
SMALL_BODY: Final = 4 * 1024 * 1024
MAX_REDIRECTS: Final = 5
MAX_BACKOFF: Final = 30.0
MAX_RETRY_AFTER: Final = 60.0
POOL_SIZE: Final = 16
TIMEOUT: Final = urllib3.Timeout(connect=30.0, read=300.0)
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def load_credentials(host: str, options: TransportOptions, repository: str | None = None) -> object | None:
    """The credentials for ``host`` (credentials.py decides the precedence); None for anonymous."""
    # imported here: credentials.py imports this module for ``login``'s check
    from lighter.transports.registry.credentials import resolve_credentials

    return resolve_credentials(host, options, repository)


def read_body(resp: urllib3.BaseHTTPResponse, limit: int = SMALL_BODY) -> bytes:
    """Read a small body whole (capped) and give the connection back."""
    try:
        data = resp.read(limit + 1, decode_content=False)
        if len(data) > limit:
            resp.close()
            return data[:limit]
        resp.drain_conn()
        return data
    except (urllib3.exceptions.HTTPError, OSError):
        resp.close()
        return b""
    finally:
        resp.release_conn()


def discard(resp: urllib3.BaseHTTPResponse) -> None:
    """Drop a response we do not read: keep the connection only when its body is small."""
    # urllib3 knows what is left to read: 0 for HEAD, 204 and 304 whatever Content-Length says
    left = getattr(resp, "length_remaining", None)
    if isinstance(left, int) and left <= 65536:
        with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
            resp.drain_conn()
        resp.release_conn()
    else:
        resp.close()
        resp.release_conn()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _show(url: str) -> str:
    """A URL for a message: no query string (upload state, tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header as seconds from ``now`` (a ``time.time()``): delta-seconds or an HTTP-date.

    >>> retry_after_seconds("7", 0.0)
    7.0
    >>> retry_after_seconds("Thu, 01 Jan 1970 00:01:00 GMT", 15.0)
    45.0
    >>> retry_after_seconds("soon", 0.0) is None
    True
    """
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
        when = email.utils.parsedate_to_datetime(value)
        # an HTTP-date is GMT; "-0000" parses as naive
        when = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
        return max(0.0, when.timestamp() - now)
    return None


def backoff_delay(attempt: int, retry_after: str | None, fixed: float | None, now: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0-based): the one back-off of every retry.

    The registry's ``Retry-After`` wins (capped at ``MAX_RETRY_AFTER``), then
    ``--retry-delay``, then 1, 2, 4 ... seconds capped at ``MAX_BACKOFF``.
    """
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        return min(asked, MAX_RETRY_AFTER)
    if fixed is not None:
        return max(0.0, fixed)
    return float(min(2.0 ** min(attempt, 32), MAX_BACKOFF))


#: what OpenSSL says when the server answers a TLS hello in plain HTTP
_NOT_TLS: Final = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure", "http request")


def _tls_hint(exc: Exception, host: str) -> str:
    """The TLS failure and what the user can do about it, in one line."""
    text = " ".join(str(exc).split())
    if any(marker in text for marker in _NOT_TLS):
        return f"{host} does not speak TLS ({text}): a plain-HTTP registry needs --tls-verify=false"
    hint = f"--cert-dir or certs.d/{host}/ca.crt for a private CA, --tls-verify=false for self-signed or plain HTTP"
    return f"{text} ({hint})"


class RegistryClient:
    """Talks to one registry host; thread-safe; one connection pool shared by parallel blobs."""

    def __init__(self, host: str, options: TransportOptions, repository: str | None = None) -> None:
        self.host = host
        self.endpoint = DOCKER_HUB_ENDPOINT if host == DOCKER_HUB else host
        self.options = options
        self.verify = options.tls_verify is not False
        # certs.d is looked up by the name the user sees (docker.io), as containers/image does
        context = ssl_context(host, self.verify, options.cert_dir)
        if not self.verify:
            # the user asked for it explicitly (--tls-verify=false)
            urllib3.disable_warnings(InsecureRequestWarning)
        self._pool = urllib3.PoolManager(
            num_pools=8,
            maxsize=POOL_SIZE,
            block=True,
            ssl_context=context,
            cert_reqs="CERT_REQUIRED" if self.verify else "CERT_NONE",
            assert_hostname=None if self.verify else False,
            timeout=TIMEOUT,
            retries=False,
        )
        credentials = load_credentials(host, options, repository)
        # --creds wins over --registry-token (credentials.py); a registry token is sent as it is
        registry_token = getattr(credentials, "registry_token", "") or None
        self.auth = Authenticator(host, credentials, registry_token, self._send_small)
        self._base: str | None = None
        self._ping_lock = threading.Lock()
        #: how the back-off waits and tells the time (tests replace them to wait for nothing)
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.time

    # -- plumbing --------------------------------------------------------------

    def close(self) -> None:
        self._pool.clear()

    def back_off(self, attempt: int, retry_after: str | None = None) -> float:
        """Wait before retrying after failed attempt ``attempt`` (see ``backoff_delay``); the seconds waited."""
        delay = backoff_delay(attempt, retry_after, self.options.retry_delay, self.clock())
        self.sleep(delay)
        return delay

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: Body, replayable: bool = True
    ) -> urllib3.BaseHTTPResponse:
        """One request, retried on connection errors, 429 and 5xx when its body can be sent again."""
        attempts = 1 + max(0, self.options.retry_times) if replayable else 1
        chunked = body is not None and not isinstance(body, bytes) and "Content-Length" not in headers
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = self._pool.urlopen(
                    method,
                    url,
                    headers=dict(headers),
                    body=body,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                    chunked=chunked,
                )
            except urllib3.exceptions.SSLError as exc:
                raise RegistryError(f"TLS error talking to {_show(url)}: {_tls_hint(exc, self.host)}") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if last:
                    raise RegistryTransientError(f"{method} {_show(url)} failed: {exc}") from None
                log.debug("%s %s failed (%s); retrying", method, _show(url), exc)
                self.back_off(attempt)
                continue
            if (resp.status == 429 or resp.status >= 500) and not last:
                retry_after = resp.headers.get("Retry-After")
                discard(resp)
                log.debug("%s %s answered %d; retrying", method, _show(url), resp.status)
                self.back_off(attempt, retry_after)
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_small(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        resp = self._send(method, url, {"User-Agent": self.options.user_agent, **headers}, body)
        return resp.status, resp.headers, read_body(resp, SMALL_BODY)

    # -- ping ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``https://host`` or ``http://host``, found by pinging ``/v2/`` once."""
        with self._ping_lock:
            if self._base is None:
                self._base = self._ping()
            return self._base

    def _ping(self) -> str:
        schemes = ["https", "http"] if not self.verify else ["https"]
        failure: RegistryError | None = None
        for scheme in schemes:
            base = f"{scheme}://{self.endpoint}"
            try:
                resp = self._send("GET", base + "/v2/", {"User-Agent": self.options.user_agent}, None)
            except RegistryError as exc:
                failure = exc
                continue
            challenges = parse_challenges(resp.headers.getlist("WWW-Authenticate"))
            status = resp.status
            discard(resp)
            if status in (200, 401):
                self.auth.set_challenges(challenges)
                log.debug("registry %s at %s (auth: %s)", self.host, base, self.auth.scheme or "none")
                return base
            failure = RegistryError(f"{base}/v2/ answered {status}: {self.host} does not look like a registry", status)
        assert failure is not None
        raise failure

    # -- requests --------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        replayable: bool = True,
        follow_redirects: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """Send an authenticated request; the caller reads or discards the response."""
        url = self.url(path)
        scope_list = tuple(scopes)
        base = dict(headers or {})
        base.setdefault("User-Agent", self.options.user_agent)
        resp: urllib3.BaseHTTPResponse | None = None
        for attempt in range(2):
            sent = self.auth.authorization(scope_list) if _origin(url) == _origin(self.base_url) else None
            request_headers = {**base, "Authorization": sent} if sent else base
            resp = self._send(method, url, request_headers, body, replayable)
            if resp.status != 401 or attempt == 1 or not replayable:
                break
            challenges = parse_challenges(resp.headers.getlist("WWW-Authenticate"))
            if not self.auth.unauthorized(challenges, scope_list, sent):
                break
            discard(resp)
        assert resp is not None
        if follow_redirects:
            resp = self._follow(method, url, resp, base, scope_list)
        return resp

    def _follow(
        self,
        method: str,
        url: str,
        resp: urllib3.BaseHTTPResponse,
        headers: dict[str, str],
        scopes: tuple[str, ...],
    ) -> urllib3.BaseHTTPResponse:
        for _ in range(MAX_REDIRECTS):
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            target = urljoin(url, location)
            discard(resp)
            request_headers = dict(headers)
            if _origin(target) == _origin(self.base_url):
                sent = self.auth.authorization(scopes)
                if sent:
                    request_headers["Authorization"] = sent
            log.debug("following redirect to %s", _show(target))
            resp = self._send("GET" if resp.status == 303 else method, target, request_headers, None)
            url = target
        discard(resp)
        raise RegistryError(f"more than {MAX_REDIRECTS} redirects from {_show(url)}")
