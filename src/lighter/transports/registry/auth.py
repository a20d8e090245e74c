"""Registry authentication: anonymous, Basic, and Bearer tokens from the challenge.

The flow of the distribution spec's token authentication: ``/v2/`` (or any
request) answers 401 with a ``WWW-Authenticate`` challenge; for ``Basic``
the credentials go in every request; for ``Bearer`` a token is fetched from
the challenge's ``realm`` for the ``service`` and the scopes the request
needs (``repository:NAME:pull`` or ``pull,push``) and cached per scope set
until it expires.  A 401 carrying a scope we did not ask for (a
cross-repository mount, a delete) adds that scope and refetches once.

A ``--registry-token`` is sent as it is and never refreshed.  Secrets are
never put in exceptions or logs.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from lighter.errors import AuthenticationError, RegistryError
from lighter.transports.registry.challenge import Challenge

log = logging.getLogger(__name__)

#: (method, url, headers, body) -> (status, headers, body); retries are the sender's business
Send = Callable[[str, str, dict[str, str], bytes | None], tuple[int, Mapping[str, str], bytes]]

#: Docker's clients treat shorter lifetimes as this (distribution's token spec)
MIN_TOKEN_LIFETIME = 60.0
_LEEWAY = 5.0


def basic_pair(credentials: object | None) -> tuple[str, str] | None:
    """(username, password) of a credentials value, when it holds them."""
    username = getattr(credentials, "username", None)
    password = getattr(credentials, "password", None)
    if isinstance(username, str) and username and isinstance(password, str):
        return username, password
    return None


def identity_token(credentials: object | None) -> str | None:
    """The OAuth2 refresh token a ``docker login`` to some registries stores instead of a password."""
    token = getattr(credentials, "identity_token", None)
    return token if isinstance(token, str) and token else None


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def choose(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge to answer: Bearer when offered (it is finer-grained), else Basic."""
    by_scheme = {c.scheme: c for c in challenges}
    return by_scheme.get("bearer") or by_scheme.get("basic")


class Authenticator:
    """Produces the ``Authorization`` header of each request for one registry host."""

    def __init__(self, host: str, credentials: object | None, registry_token: str | None, send: Send) -> None:
        self.host = host
        self._credentials = credentials
        self._registry_token = registry_token
        self._send = send
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, str, frozenset[str]], tuple[str, float]] = {}
        self._learned: dict[frozenset[str], frozenset[str]] = {}
        self._lock = threading.Lock()
        #: token requests made, as (realm, scopes), for tests and debugging
        self.token_requests: list[tuple[str, tuple[str, ...]]] = []

    @property
    def has_credentials(self) -> bool:
        return (
            bool(self._registry_token)
            or basic_pair(self._credentials) is not None
            or bool(identity_token(self._credentials))
        )

    @property
    def scheme(self) -> str | None:
        return self._challenge.scheme if self._challenge else None

    def set_challenges(self, challenges: Iterable[Challenge]) -> None:
        self._challenge = choose(challenges)

    def authorization(self, scopes: Iterable[str]) -> str | None:
        """The header value for a request needing ``scopes``; None for anonymous."""
        if self._registry_token:
            return f"Bearer {self._registry_token}"
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            pair = basic_pair(self._credentials)
            return basic_header(*pair) if pair else None
        if challenge.scheme == "bearer":
            return f"Bearer {self._token(challenge, self._all_scopes(scopes))}"
        return None

    def unauthorized(self, challenges: Iterable[Challenge], scopes: Iterable[str], sent: str | None) -> bool:
        """Learn from a 401; True when sending the request again may succeed."""
        if self._registry_token:
            return False
        challenge = choose(challenges)
        if challenge is None:
            return False
        with self._lock:
            previous = self._challenge
            self._challenge = challenge
            if previous is None or previous.scheme != challenge.scheme:
                return True
            if challenge.scheme == "basic":
                return sent is None and basic_pair(self._credentials) is not None
            key = frozenset(scopes)
            asked = set(challenge.get("scope").split())
            learned = self._learned.get(key, frozenset())
            if not asked <= (key | learned):
                self._learned[key] = learned | asked
            # the token may have been revoked or expired early: fetch a new one
            self._tokens.pop(self._token_key(challenge, self._all_scopes_locked(key)), None)
            return True

    def _all_scopes(self, scopes: Iterable[str]) -> frozenset[str]:
        with self._lock:
            return self._all_scopes_locked(frozenset(scopes))

    def _all_scopes_locked(self, key: frozenset[str]) -> frozenset[str]:
        return key | self._learned.get(key, frozenset())

    @staticmethod
    def _token_key(challenge: Challenge, scopes: frozenset[str]) -> tuple[str, str, frozenset[str]]:
        return challenge.get("realm"), challenge.get("service"), scopes

    def _token(self, challenge: Challenge, scopes: frozenset[str]) -> str:
        key = self._token_key(challenge, scopes)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._fetch(challenge, scopes)
            self._tokens[key] = (token, time.monotonic() + max(lifetime, MIN_TOKEN_LIFETIME) - _LEEWAY)
            return token

    def _fetch(self, challenge: Challenge, scopes: frozenset[str]) -> tuple[str, float]:
        realm = challenge.get("realm")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"registry {self.host} sent an unusable token realm {realm!r}")
        self.token_requests.append((realm, tuple(sorted(scopes))))
        service = challenge.get("service")
        refresh = identity_token(self._credentials)
        headers = {"Accept": "application/json"}
        if refresh:
            # OAuth2 refresh-token grant, what docker does with an identity token
            form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "lighter")]
            form += [("service", service)] if service else []
            form += [("scope", " ".join(sorted(scopes)))] if scopes else []
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            status, _, body = self._send("POST", realm, headers, urlencode(form).encode())
        else:
            query = [("service", service)] if service else []
            query += [("scope", s) for s in sorted(scopes)]
            pair = basic_pair(self._credentials)
            if pair:
                headers["Authorization"] = basic_header(*pair)
            sep = "&" if parts.query else "?"
            status, _, body = self._send("GET", realm + (sep + urlencode(query) if query else ""), headers, None)
        if status in (401, 403):
            if self.has_credentials:
                raise AuthenticationError(
                    f"authentication denied for {self.host}: the token server refused the credentials ({status})",
                    status,
                )
            raise AuthenticationError(f"authentication required for {self.host}", status)
        if status != 200:
            raise RegistryError(f"token server of {self.host} answered {status} to a token request", status)
        return _parse_token(body, self.host)


def _parse_token(body: bytes, host: str) -> tuple[str, float]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise RegistryError(f"token server of {host} sent a response that is not JSON") from None
    if not isinstance(data, dict):
        raise RegistryError(f"token server of {host} sent a JSON {type(data).__name__}, expected an object")
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryError(f"token server of {host} sent no token")
    lifetime = data.get("expires_in")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = MIN_TOKEN_LIFETIME
    return token, float(lifetime)
