"""Turning a registry's error answers into lighter's exceptions.

Registries describe failures in a JSON body (distribution spec)::

    {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": ...}]}

The first error's code and message are kept in the one-line message; the
request itself is named by what the caller was doing (``manifest NAME:TAG``,
``blob DIGEST``), never with credentials.  A 429 or 5xx raises
``RegistryBusyError`` (a ``RegistryTransientError``) that keeps the answer's
``Retry-After`` for whoever retries the operation (a chunked upload).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from lighter.errors import (
    AuthenticationError,
    LighterError,
    NotFoundError,
    RegistryError,
    RegistryTransientError,
    UnsupportedError,
)

_MAX_MESSAGE = 200


class RegistryBusyError(RegistryTransientError):
    """A 429 or 5xx answer; ``retry_after`` is its ``Retry-After`` header (None when it had none)."""

    def __init__(self, message: str, status: int, retry_after: str | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


def registry_message(body: bytes) -> str:
    """A one-line summary of a registry's error body ("" when there is nothing useful)."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body[:_MAX_MESSAGE].decode("utf-8", "replace")
        return " ".join(text.split()) if text.strip().isprintable() else ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    parts = []
    for error in errors[:3]:
        if not isinstance(error, dict):
            continue
        code = str(error.get("code", "")).strip()
        message = str(error.get("message", "")).strip()
        parts.append(f"{code}: {message}" if code and message else code or message)
    summary = "; ".join(p for p in parts if p)
    return " ".join(summary.split())[:_MAX_MESSAGE]


def unknown(what: str) -> str:
    """``manifest app:1`` -> ``manifest unknown: app:1``: the distribution spec's wording for a 404.

    >>> unknown("blob app@sha256:0")
    'blob unknown: app@sha256:0'
    """
    kind, sep, name = what.partition(" ")
    return f"{kind} unknown: {name}" if sep else f"{what} unknown"


def raise_for_status(
    status: int,
    body: bytes,
    *,
    host: str,
    repository: str,
    what: str,
    not_found: type[NotFoundError] | None = None,
    had_credentials: bool = False,
    retry_after: str | None = None,
) -> NoReturn:
    """Raise the exception for a failed request on ``what`` (``manifest app:1``, ``blob app@sha256:...``).

    ``what`` is neutral: only a 404 (with a ``not_found`` class) says "unknown"
    (``manifest unknown: app:1``), so a 503 reads "HOST answered 503 for manifest app:1".
    """
    detail = registry_message(body)
    suffix = f" ({detail})" if detail else ""
    error: LighterError
    if status == 401:
        if had_credentials:
            error = AuthenticationError(f"authentication denied for {host}: invalid credentials{suffix}", status)
        else:
            error = AuthenticationError(f"authentication required for {host}{suffix}", status)
    elif status == 403:
        error = AuthenticationError(f"access denied to {repository} on {host}{suffix}", status)
    elif status == 404 and not_found is not None:
        error = not_found(f"{unknown(what)} on {host}")
    elif status == 405:
        error = UnsupportedError(f"{host} does not allow this operation on {what}{suffix}")
    elif status == 429 or status >= 500:
        error = RegistryBusyError(f"{host} answered {status} for {what}{suffix}", status, retry_after)
    else:
        error = RegistryError(f"{host} answered {status} for {what}{suffix}", status)
    raise error
