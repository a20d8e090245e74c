"""Blob uploads: monolithic for small blobs, chunked (``PATCH``) for large ones, and mounts.

Small blobs (configs, small layers; size known and at most ``SMALL_BLOB``)
are read into memory and checked *before* anything is sent, then go up in
``POST`` + ``PUT ?digest=`` — a body that can be sent again when a request
fails.

Larger blobs of known size go up in chunks, as the distribution spec
describes: successive ``PATCH``es of ``chunk_size`` bytes with
``Content-Range: START-END`` and ``Content-Length``, each to the
``Location`` the previous answer gave, then ``PUT ?digest=`` with no body.
Chunks are streamed (constant memory) and large (``CHUNK_SIZE``), so the
extra requests cost nothing measurable.  When a chunk fails (connection
error, 429, 5xx, 416) the upload URL is asked for the registry's offset
(``GET`` → ``Range: 0-N``) and the upload resumes from there when the
source can be re-read from that offset (a seekable stream: a local file, or
a registry blob, which reopens with ``Range``); when the registry has lost
the session, it restarts cleanly from byte 0 in a new one.  A source that
cannot be re-read fails at once, the session cancelled.

A blob of unknown size streams in a single ``PATCH`` (chunked transfer
encoding), sent again from the start on a transient failure when the stream
is seekable.

Every byte is hashed as it is sent, and when the digest or size is not the
one expected the upload is cancelled (``DELETE``) *before* the closing
``PUT``, so the registry never holds the blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterator
from typing import IO, Final
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import urllib3

from lighter.digest import Digest, Digester, verify_bytes
from lighter.errors import (
    DigestMismatchError,
    LighterError,
    RegistryError,
    RegistryTransientError,
    SizeMismatchError,
)
from lighter.transports.registry.client import discard, read_body
from lighter.transports.registry.errors import RegistryBusyError, raise_for_status
from lighter.transports.registry.repository import Repository, header_digest

log = logging.getLogger(__name__)

SMALL_BLOB: Final = 4 * 1024 * 1024
#: large blobs go up in PATCHes this big: few requests, and at most this much is sent twice after a failure
CHUNK_SIZE: Final = 128 * 1024 * 1024
#: the stream is read (and sent) in pieces this big: constant memory whatever the chunk size
READ_SIZE: Final = 1024 * 1024
#: failed chunks in all before an upload gives up, however much progress each resume made
MAX_FAILURES: Final = 64
_RANGE: Final = re.compile(r"(?:bytes=)?0-(\d+)")
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
    repo: Repository,
    stream: IO[bytes],
    digest: Digest | None,
    size: int,
    scopes: list[str],
    chunk_size: int = CHUNK_SIZE,
) -> tuple[Digest, int]:
    """Upload a stream too large to hold in memory; (digest, size) of what was stored, checked before the PUT."""
    if size >= 0:
        return ChunkedUpload(repo, stream, digest, size, scopes, chunk_size).run()
    base = _position(stream)
    retries = max(0, repo.client.options.retry_times) if base is not None else 0
    for attempt in range(retries + 1):
        try:
            return _upload_unknown_size(repo, stream, digest, scopes)
        except RegistryTransientError as exc:
            if attempt == retries or base is None:
                raise
            log.debug("upload to %s failed (%s); sending again", repo.name, exc)
            repo.client.back_off(attempt, _retry_after(exc))
            stream.seek(base)
    raise AssertionError("unreachable")  # pragma: no cover


def _upload_unknown_size(
    repo: Repository, stream: IO[bytes], digest: Digest | None, scopes: list[str]
) -> tuple[Digest, int]:
    """POST + one streamed PATCH (chunked transfer encoding) + PUT ?digest=."""
    what = f"blob {digest}" if digest is not None else f"blob for {repo.name}"
    digester = Digester(digest.algorithm if digest is not None else "sha256")

    def chunks() -> Iterator[bytes]:
        while data := stream.read(READ_SIZE):
            digester.update(data)
            yield data
        if digest is not None and digester.digest() != digest:
            raise DigestMismatchError(what, str(digest), str(digester.digest()))

    location = start_upload(repo, scopes, what)
    try:
        headers = {"Content-Type": _OCTETS}
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


def _retry_after(exc: Exception) -> str | None:
    """The ``Retry-After`` a registry sent with a 429 or 5xx, for the back-off."""
    return exc.retry_after if isinstance(exc, RegistryBusyError) else None


def _position(stream: IO[bytes]) -> int | None:
    """Where a stream that can be re-read stands; None when it cannot go back."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


class ChunkedUpload:
    """One blob of known size going up in ``PATCH`` chunks, resumed at the registry's offset after a failure.

    ``offset`` is what the registry has confirmed; ``_hash`` is the hash of
    exactly those bytes, so a resumed upload hashes every byte once.
    """

    def __init__(
        self,
        repo: Repository,
        stream: IO[bytes],
        digest: Digest | None,
        size: int,
        scopes: list[str],
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.repo, self.stream, self.expected, self.size, self.scopes = repo, stream, digest, size, scopes
        self.chunk_size = max(1, chunk_size)
        self.what = f"blob {digest}" if digest is not None else f"blob for {repo.name}"
        self.algorithm = digest.algorithm if digest is not None else "sha256"
        self.base = _position(stream)
        self.location = ""
        self.offset = 0
        self._hash = hashlib.new(self.algorithm)
        self._failures = 0
        self._total_failures = 0
        #: how the upload got over failures, for tests and logs: ("resume", offset) or ("restart", 0)
        self.recoveries: list[tuple[str, int]] = []

    def run(self) -> tuple[Digest, int]:
        self.location = start_upload(self.repo, self.scopes, self.what)
        try:
            while self.offset < self.size:
                try:
                    self._send_chunk()
                except RegistryError as exc:
                    if not (isinstance(exc, RegistryTransientError) or exc.status == 416):
                        raise
                    self._recover(exc)
            actual = self._check_complete()
            _finish(self.repo, self.location, actual, self.scopes, b"", self.what)
        except BaseException:
            cancel_upload(self.repo, self.location, self.scopes)
            raise
        return actual, self.size

    def _send_chunk(self) -> None:
        start = self.offset
        length = min(self.chunk_size, self.size - start)
        hasher = self._hash.copy()  # the hash at ``start`` stays, should this chunk fail

        def body() -> Iterator[bytes]:
            left = length
            while left > 0:
                data = self.stream.read(min(READ_SIZE, left))
                if not data:
                    raise SizeMismatchError(self.what, self.size, start + length - left)
                hasher.update(data)
                left -= len(data)
                yield data

        headers = {
            "Content-Type": _OCTETS,
            "Content-Length": str(length),
            "Content-Range": f"{start}-{start + length - 1}",
        }
        resp = self.repo.client.request(
            "PATCH", self.location, scopes=self.scopes, headers=headers, body=body(), replayable=False
        )
        if resp.status != 202:
            _fail(self.repo, resp, self.what)
        self.location = _location(self.repo, resp, self.location, self.what)
        self.offset, self._hash, self._failures = start + length, hasher, 0

    def _check_complete(self) -> Digest:
        """Every byte was sent: the stream must end here and the digest be the one expected."""
        extra = self.stream.read(1)
        if extra:
            raise SizeMismatchError(self.what, self.size, self.size + len(extra))
        actual = Digest(self.algorithm, self._hash.hexdigest())
        if self.expected is not None and actual != self.expected:
            raise DigestMismatchError(self.what, str(self.expected), str(actual))
        return actual

    def _recover(self, exc: RegistryError) -> None:
        """After a failed chunk: back off, then resume at the registry's offset or restart; else re-raise."""
        self._failures += 1
        self._total_failures += 1
        retries = max(0, self.repo.client.options.retry_times)
        if self.base is None or self._failures > retries or self._total_failures > MAX_FAILURES:
            raise exc
        log.debug("chunk of %s at byte %d failed (%s); asking for the offset", self.what, self.offset, exc)
        self.repo.client.back_off(self._failures - 1, _retry_after(exc))
        sent = min(self.chunk_size, self.size - self.offset)
        held = self._registry_offset()
        if held is not None and self.offset <= held <= self.offset + sent:
            self._seek(held)
            self.recoveries.append(("resume", held))
            return
        # the session is gone (or holds what we cannot account for): a new one, from byte 0
        cancel_upload(self.repo, self.location, self.scopes)
        self.location = start_upload(self.repo, self.scopes, self.what)
        self.offset, self._hash = 0, hashlib.new(self.algorithm)
        self._seek(0)
        self.recoveries.append(("restart", 0))

    def _registry_offset(self) -> int | None:
        """How many bytes the registry holds for this session (``GET`` → 204, ``Range: 0-N``); None if unknown."""
        try:
            resp = self.repo.client.request("GET", self.location, scopes=self.scopes)
        except (RegistryError, urllib3.exceptions.HTTPError, OSError):
            return None
        held = _RANGE.fullmatch(resp.headers.get("Range", "").strip())
        location = resp.headers.get("Location")
        status = resp.status
        discard(resp)
        if status != 204 or held is None:
            return None
        if location:
            self.location = urljoin(self.location, location)
        end = int(held.group(1))
        # distribution writes "0-0" for an empty session too: read it as 0 unless we had confirmed more
        return end + 1 if end > 0 or self.offset > 0 else 0

    def _seek(self, offset: int) -> None:
        """Put the source at ``offset`` with ``_hash`` covering [0, offset): re-read what the registry kept."""
        assert self.base is not None
        if offset == 0:
            self.stream.seek(self.base)
            return
        self.stream.seek(self.base + self.offset)
        left = offset - self.offset
        while left > 0:
            data = self.stream.read(min(READ_SIZE, left))
            if not data:
                raise SizeMismatchError(self.what, self.size, offset - left)
            self._hash.update(data)
            left -= len(data)
        self.offset = offset


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
