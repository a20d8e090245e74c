"""Blob uploads: monolithic for small blobs, one streamed PATCH for the rest, and mounts.

Small blobs (configs, small layers; size known and at most ``SMALL_BLOB``)
are read into memory and checked *before* anything is sent, then go up in
``POST`` + ``PUT ?digest=`` — a body that can be sent again when a request
fails.  Larger ones (and those of unknown digest) stream in a single
``PATCH`` (``Content-Length`` when the size is known, else chunked), hashed
as they go; if the digest or size is not the one expected the upload is
cancelled (``DELETE``) *before* the closing ``PUT``, so the registry never
holds the blob.  containers/image uploads the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import IO, Final
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import urllib3

from lighter.digest import Digest, Digester, verify_bytes
from lighter.errors import DigestMismatchError, LighterError, RegistryError, SizeMismatchError
from lighter.transports.registry.client import discard, read_body
from lighter.transports.registry.errors import raise_for_status
from lighter.transports.registry.repository import Repository, header_digest

log = logging.getLogger(__name__)

SMALL_BLOB: Final = 4 * 1024 * 1024
CHUNK: Final = 1024 * 1024
_OCTETS: Final = "application/octet-stream"


def _add_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _fail(repo: Repository, resp: urllib3.BaseHTTPResponse, what: str) -> None:
    raise_for_status(
        resp.status,
        read_body(resp, 65536),
        host=repo.host,
        repository=repo.name,
        what=what,
        had_credentials=repo.client.auth.has_credentials,
        retry_after=resp.headers.get("Retry-After"),
    )


def _location(repo: Repository, resp: urllib3.BaseHTTPResponse, base: str, what: str) -> str:
    location = resp.headers.get("Location")
    discard(resp)
    if not location:
        raise RegistryError(f"{repo.host} answered {resp.status} for {what} without a Location")
    return urljoin(base, location)


def start_upload(repo: Repository, scopes: list[str], what: str) -> str:
    """Open an upload session; its URL."""
    path = f"/v2/{repo.name}/blobs/uploads/"
    resp = repo.client.request("POST", path, scopes=scopes, headers={"Content-Length": "0"}, body=b"")
    if resp.status != 202:
        _fail(repo, resp, what)
    return _location(repo, resp, repo.client.url(path), what)


def cancel_upload(repo: Repository, location: str, scopes: list[str]) -> None:
    """Best effort: the registry garbage-collects abandoned sessions anyway."""
    with contextlib.suppress(LighterError, urllib3.exceptions.HTTPError, OSError):
        discard(repo.client.request("DELETE", location, scopes=scopes, replayable=False))


def _finish(repo: Repository, location: str, digest: Digest, scopes: list[str], body: bytes, what: str) -> None:
    resp = repo.client.request(
        "PUT",
        _add_query(location, digest=str(digest)),
        scopes=scopes,
        headers={"Content-Type": _OCTETS, "Content-Length": str(len(body))},
        body=body,
    )
    if resp.status not in (201, 204):
        _fail(repo, resp, what)
    stored = header_digest(resp)
    discard(resp)
    if stored is not None and stored != digest:
        raise DigestMismatchError(f"{what} as stored by {repo.host}", str(digest), str(stored))


def upload_bytes(repo: Repository, data: bytes, digest: Digest, size: int, scopes: list[str]) -> None:
    """Verify, then POST + PUT ?digest= with the bytes."""
    what = f"blob {digest}"
    verify_bytes(data, digest, what, size)
    location = start_upload(repo, scopes, what)
    try:
        _finish(repo, location, digest, scopes, data, what)
    except BaseException:
        cancel_upload(repo, location, scopes)
        raise


def upload_stream(
    repo: Repository, stream: IO[bytes], digest: Digest | None, size: int, scopes: list[str]
) -> tuple[Digest, int]:
    """POST + one streamed PATCH + PUT ?digest=; checks digest and size before the PUT."""
    what = f"blob {digest}" if digest is not None else f"blob for {repo.name}"
    digester = Digester(digest.algorithm if digest is not None else "sha256")
    expected_size = size if size >= 0 else None

    def chunks() -> Iterator[bytes]:
        while data := stream.read(CHUNK):
            digester.update(data)
            if expected_size is not None and digester.size > expected_size:
                raise SizeMismatchError(what, expected_size, digester.size)
            yield data
        # a short body under a Content-Length would leave the server waiting: stop here
        if expected_size is not None and digester.size != expected_size:
            raise SizeMismatchError(what, expected_size, digester.size)
        if digest is not None and digester.digest() != digest:
            raise DigestMismatchError(what, str(digest), str(digester.digest()))

    location = start_upload(repo, scopes, what)
    try:
        headers = {"Content-Type": _OCTETS}
        if expected_size is not None:
            headers["Content-Length"] = str(expected_size)
        resp = repo.client.request("PATCH", location, scopes=scopes, headers=headers, body=chunks(), replayable=False)
        if resp.status != 202:
            _fail(repo, resp, what)
        location = _location(repo, resp, location, what)
        actual = digester.digest()
        _finish(repo, location, actual, scopes, b"", what)
    except BaseException:
        cancel_upload(repo, location, scopes)
        raise
    return actual, digester.size


def try_mount(repo: Repository, digest: Digest, source_repository: str) -> bool:
    """Cross-repository mount; False (and the session cancelled) when the registry declines."""
    scopes = [repo.scope("pull,push"), f"repository:{source_repository}:pull"]
    path = f"/v2/{repo.name}/blobs/uploads/?" + urlencode({"mount": str(digest), "from": source_repository})
    resp = repo.client.request("POST", path, scopes=scopes, headers={"Content-Length": "0"}, body=b"")
    if resp.status == 201:
        discard(resp)
        log.debug("mounted %s from %s into %s", digest, source_repository, repo.name)
        return True
    if resp.status == 202 and resp.headers.get("Location"):
        cancel_upload(repo, _location(repo, resp, repo.client.url(path), f"mount of {digest}"), scopes)
        return False
    discard(resp)
    return False
