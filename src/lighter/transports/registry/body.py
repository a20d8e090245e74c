"""A blob download that resumes where a dropped connection left it.

containers/image's ``body_reader.go`` does the same: when a read fails after
some bytes arrived, ask again with ``Range: bytes=N-``; a ``206`` answer
continues the stream, a ``200`` (a server without ranges) is skipped up to
N.  Bytes are counted only when handed to the caller, so whatever a failed
read had buffered is simply fetched again.  ``seek`` reopens the same way,
so an upload of the blob that failed half-way can re-read it from the
registry's offset (upload.py).  Attempts are bounded: at most
``retry_times`` failures in a row without progress (none with
``--retry-times 0``), and ``MAX_RESUMES`` in all.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from typing import Final

import urllib3

from lighter.errors import RegistryError, RegistryTransientError

log = logging.getLogger(__name__)

CHUNK: Final = 1024 * 1024
MAX_RESUMES: Final = 64
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

#: reopen(offset) -> a response with status 200 or 206 (anything else is raised by the callee)
Reopen = Callable[[int], urllib3.BaseHTTPResponse]


class BlobReader(io.RawIOBase):
    """A raw binary stream of one blob; ``read(n)`` hands on the HTTP body without copying it."""

    def __init__(self, resp: urllib3.BaseHTTPResponse, reopen: Reopen, size: int, what: str, retries: int) -> None:
        super().__init__()
        self._resp: urllib3.BaseHTTPResponse | None = resp
        self._reopen = reopen
        self._size = size if size >= 0 else None
        self._what = what
        # --retry-times 0 means no second attempt, a resume included
        self._retries = max(0, retries)
        self._pos = 0
        self._resumes = 0
        self._stalled = 0
        self._pos_at_failure = -1

    @property
    def position(self) -> int:
        return self._pos

    @property
    def resumes(self) -> int:
        """How many times the download was resumed (for tests and logs)."""
        return self._resumes

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        while self._resp is not None:
            try:
                data = self._resp.read(n, decode_content=False)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self._resume(f"{type(exc).__name__}: {exc}")
                continue
            if not data and n and self._size is not None and self._pos < self._size:
                self._resume(f"connection closed after {self._pos} of {self._size} bytes")
                continue
            self._pos += len(data)
            if not data:
                self._release()
            return data
        return b""

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _release(self) -> None:
        if self._resp is not None:
            self._resp.release_conn()
            self._resp = None

    def _resume(self, reason: str) -> None:
        self._drop()
        self._stalled = self._stalled + 1 if self._pos == self._pos_at_failure else 1
        self._pos_at_failure = self._pos
        self._resumes += 1
        if self._stalled > self._retries or self._resumes > MAX_RESUMES:
            raise RegistryTransientError(f"download of {self._what} failed at byte {self._pos}: {reason}")
        log.debug("resuming %s at byte %d (%s)", self._what, self._pos, reason)
        self._resp = self._open_at(self._pos)

    def _open_at(self, offset: int) -> urllib3.BaseHTTPResponse:
        """The blob from ``offset`` on: a 206 whose range starts there, or a 200 skipped up to it."""
        new = self._reopen(offset)
        if new.status == 206:
            match = _CONTENT_RANGE.match(new.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                new.close()
                new.release_conn()
                raise RegistryError(
                    f"resuming {self._what} at byte {offset}: the server sent range "
                    f"{new.headers.get('Content-Range', 'none')!r}"
                )
        else:
            self._skip(new, offset)
        return new

    # -- seeking: an upload of this blob that failed half-way re-reads it from the registry's offset --

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Go to a byte of the blob; the server is asked again with ``Range`` (nothing is buffered)."""
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self._size is None:
                raise io.UnsupportedOperation(f"{self._what}: size unknown, cannot seek from the end")
            offset += self._size
        elif whence != io.SEEK_SET:
            raise ValueError(f"invalid whence {whence}")
        if offset < 0 or (self._size is not None and offset > self._size):
            raise ValueError(f"{self._what}: cannot seek to byte {offset} of {self._size}")
        if offset != self._pos:
            self._drop()
            self._pos = offset
            if self._size is None or offset < self._size:
                self._resp = self._open_at(offset)
        return offset

    def _drop(self) -> None:
        """Abandon the current response (an unfinished body cannot go back to the pool)."""
        if self._resp is not None:
            self._resp.close()
            self._resp.release_conn()
            self._resp = None

    def _skip(self, resp: urllib3.BaseHTTPResponse, count: int) -> None:
        """A server that ignores ``Range`` sends everything again: drop what we already have."""
        left = count
        while left > 0:
            data = resp.read(min(CHUNK, left), decode_content=False)
            if not data:
                raise RegistryTransientError(f"download of {self._what} ended early while resuming")
            left -= len(data)

    def close(self) -> None:
        self._drop()
        super().close()
