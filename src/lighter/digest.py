"""Content digests: parsing, computing, and verifying while streaming.

Grammar (OCI image-spec, restricted to the algorithms lighter can compute)::

    digest    ::= algorithm ":" encoded
    algorithm ::= "sha256" | "sha512"
    encoded   ::= 64 (sha256) or 128 (sha512) lowercase hex characters

>>> d = parse_digest("sha256:" + "a" * 64)
>>> d.algorithm, len(d.hex)
('sha256', 64)
>>> str(digest_bytes(b""))
'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import IO, Final

from lighter.errors import DigestMismatchError, InvalidDigestError, SizeMismatchError

HEX_LENGTHS: Final[dict[str, int]] = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated ``algorithm:hex`` digest."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def __repr__(self) -> str:
        return f"Digest({str(self)!r})"

    @property
    def short(self) -> str:
        """The first 12 hex characters, as image ids are usually shown."""
        return self.hex[:12]


def parse_digest(text: object) -> Digest:
    """Parse ``text`` as a digest, raising InvalidDigestError naming what was wrong."""
    if not isinstance(text, str):
        raise InvalidDigestError(f"digest must be a string, got {type(text).__name__}")
    algorithm, sep, encoded = text.partition(":")
    if not sep:
        raise InvalidDigestError(f"invalid digest {text!r}: expected 'algorithm:hex'")
    expected = HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise InvalidDigestError(
            f"invalid digest {text!r}: unsupported algorithm {algorithm!r} (expected sha256 or sha512)"
        )
    if len(encoded) != expected:
        raise InvalidDigestError(
            f"invalid digest {text!r}: {algorithm} needs {expected} hex characters, got {len(encoded)}"
        )
    if not _HEX.fullmatch(encoded):
        raise InvalidDigestError(f"invalid digest {text!r}: encoded part must be lowercase hex")
    return Digest(algorithm, encoded)


def is_digest(text: str) -> bool:
    """True when ``text`` parses as a digest."""
    try:
        parse_digest(text)
    except InvalidDigestError:
        return False
    return True


class Digester:
    """Incremental hashing that also counts bytes."""

    __slots__ = ("_hash", "algorithm", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in HEX_LENGTHS:
            raise InvalidDigestError(f"unsupported digest algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())


def digest_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    """The digest of ``data``."""
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


def verify_bytes(data: bytes, expected: Digest, what: str, size: int | None = None) -> None:
    """Raise unless ``data`` has digest ``expected`` (and ``size``, when given)."""
    if size is not None and size >= 0 and len(data) != size:
        raise SizeMismatchError(what, size, len(data))
    actual = digest_bytes(data, expected.algorithm)
    if actual != expected:
        raise DigestMismatchError(what, str(expected), str(actual))


class VerifyingReader:
    """A binary read-only stream that checks digest and size when it reaches EOF.

    The bytes are handed on as they are read; whoever consumes the stream must
    read it to the end (``read()`` returning ``b""``) before trusting it.  A
    stream longer than the expected size fails as soon as the excess is seen,
    so a hostile source cannot make us write more than the descriptor says.
    """

    def __init__(self, raw: IO[bytes], expected: Digest, size: int | None, what: str) -> None:
        self._raw = raw
        self._expected = expected
        self._size = size if size is not None and size >= 0 else None
        self._what = what
        self._digester = Digester(expected.algorithm)
        self._verified = False

    @property
    def bytes_read(self) -> int:
        return self._digester.size

    @property
    def verified(self) -> bool:
        return self._verified

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            # b"" here is not end of stream: finishing now would fail a stream still to be read
            return b""
        data = self._raw.read(n) if n is not None and n >= 0 else self._raw.read()
        if data:
            self._digester.update(data)
            if self._size is not None and self._digester.size > self._size:
                raise SizeMismatchError(self._what, self._size, self._digester.size)
            if n is None or n < 0:
                self._finish()
        else:
            self._finish()
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        if self._verified:
            return
        if self._size is not None and self._digester.size != self._size:
            raise SizeMismatchError(self._what, self._size, self._digester.size)
        actual = self._digester.digest()
        if actual != self._expected:
            raise DigestMismatchError(self._what, str(self._expected), str(actual))
        self._verified = True

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
