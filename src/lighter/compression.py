"""Layer compression: detect by magic bytes, and stream codecs for gzip and zstd.

gzip goes through ISA-L (``isal``) when it is installed, several times
faster than zlib at the same ratio class, with the standard library as the
fallback.  zstd uses ``zstandard``.  xz and bzip2 are recognised only to be
refused with a clear error, as buildah does.

Codecs are *pull* streams: wrap a readable stream, read the converted bytes.
That lets a destination consume a recompressed layer exactly as it consumes
any other blob, in constant memory.
"""

from __future__ import annotations

import io
import zlib
from typing import IO, Any, Final, Literal

import zstandard

from lighter.errors import UnsupportedCompressionError

try:  # pragma: no cover - exercised by whichever is installed
    from isal import igzip as _gzip_module
    from isal import isal_zlib as _zlib_module

    HAVE_ISAL = True
except ImportError:  # pragma: no cover
    import gzip as _gzip_module  # type: ignore[no-redef]

    _zlib_module = zlib  # type: ignore[misc]
    HAVE_ISAL = False

Algorithm = Literal["gzip", "zstd", "none"]
Detected = Literal["gzip", "zstd", "none", "xz", "bzip2"]

CHUNK: Final = 1024 * 1024
#: zstd compresses on two worker threads of its own (C code, no GIL), so one large layer is not held
#: to one core: recompressing a 1 GiB image runs ~25 % faster on 2 cores (more cores serve the other
#: blobs copied in parallel).  The output is the same for any number of workers >= 1; 1 MiB jobs keep
#: each stream's buffers near 10 MiB (the default 8 MiB jobs cost ~50 MiB a stream, ~300 MiB for 6).
ZSTD_WORKERS: Final = 2
ZSTD_JOB_SIZE: Final = 1024 * 1024
_MAGIC: Final[tuple[tuple[bytes, Detected], ...]] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
)


def detect(prefix: bytes) -> Detected:
    """The compression of a stream starting with ``prefix`` (at least 6 bytes for xz)."""
    for magic, name in _MAGIC:
        if prefix.startswith(magic):
            return name
    return "none"


class PeekableReader(io.RawIOBase):
    """A stream that can look at its first bytes without consuming them."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._buffer = b""

    def peek(self, n: int) -> bytes:
        while len(self._buffer) < n:
            more = self._raw.read(n - len(self._buffer))
            if not more:
                break
            self._buffer += more
        return self._buffer[:n]

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._buffer:
            if n is None or n < 0:
                data, self._buffer = self._buffer + self._raw.read(), b""
                return data
            data, self._buffer = self._buffer[:n], self._buffer[n:]
            if len(data) < n:
                # Top up from the source so that a peek does not turn the next read into a short one.
                data += self._raw.read(n - len(data)) or b""
            return data
        return self._raw.read() if n is None or n < 0 else self._raw.read(n)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def refuse(detected: Detected, what: str) -> None:
    """Raise for compressions lighter does not handle."""
    if detected in ("xz", "bzip2"):
        raise UnsupportedCompressionError(
            f"{what} is {detected}-compressed: only gzip, zstd and uncompressed are supported"
        )


def decompressed(stream: IO[bytes], what: str = "layer") -> IO[bytes]:
    """A stream of the uncompressed bytes of ``stream``, whatever its (supported) compression."""
    peekable = PeekableReader(stream)
    kind = detect(peekable.peek(6))
    refuse(kind, what)
    if kind == "gzip":
        return _gzip_module.GzipFile(fileobj=peekable, mode="rb")  # type: ignore[no-untyped-call,return-value]
    if kind == "zstd":
        reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(peekable, read_across_frames=True)  # type: ignore[arg-type]
        return reader
    return peekable  # type: ignore[return-value]


def _isal_level(level: int | None) -> int:
    """Map a zlib-style level (1-9) onto ISA-L's 0-3, keeping the default ratio class."""
    if level is None:
        return 2 if HAVE_ISAL else 6
    if not HAVE_ISAL:
        return level
    if level <= 0:
        return 0
    return 1 if level <= 3 else 2 if level <= 6 else 3


class _GzipCompressingReader(io.RawIOBase):
    def __init__(self, source: IO[bytes], level: int | None) -> None:
        self._source = source
        self._compressor = _zlib_module.compressobj(_isal_level(level), zlib.DEFLATED, 31)
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        want = CHUNK if n is None or n < 0 else n
        while len(self._pending) < want and not self._eof:
            chunk = self._source.read(CHUNK)
            if chunk:
                self._pending += self._compressor.compress(chunk)
            else:
                self._pending += self._compressor.flush()
                self._eof = True
        if n is None or n < 0:
            data, self._pending = self._pending, b""
            while not self._eof:
                data += self.read(CHUNK)
            return data
        data, self._pending = self._pending[:n], self._pending[n:]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


#: the levels a user may ask for; zlib's 0-9 for gzip (ISA-L maps them onto its 0-3), zstd's 1-22
LEVELS: dict[str, range] = {"gzip": range(0, 10), "zstd": range(1, zstandard.MAX_COMPRESSION_LEVEL + 1)}


def check_level(algorithm: str | None, level: int | None) -> None:
    """Refuse a level the algorithm does not have, before anything is written.

    zstandard would clamp an out-of-range level and ISA-L would map it onto
    its own four, so a typo would silently give another ratio than asked for.
    """
    if level is None:
        return
    allowed = LEVELS.get(algorithm or "")
    if allowed is None:
        raise UnsupportedCompressionError(
            f"a compression level ({level}) needs gzip or zstd compression, got {algorithm or 'no compression format'}"
        )
    if level not in allowed:
        raise UnsupportedCompressionError(
            f"{algorithm} compression level {level} is out of range: expected {allowed.start}-{allowed.stop - 1}"
        )


def compressed(source: IO[bytes], algorithm: Algorithm, level: int | None = None) -> IO[bytes]:
    """A stream of ``source`` compressed with ``algorithm`` (``none`` returns it as is)."""
    if algorithm in LEVELS:
        check_level(algorithm, level)
    if algorithm == "gzip":
        return _GzipCompressingReader(source, level)  # type: ignore[return-value]
    if algorithm == "zstd":
        params = zstandard.ZstdCompressionParameters.from_level(
            3 if level is None else level, threads=ZSTD_WORKERS, job_size=ZSTD_JOB_SIZE
        )
        reader: IO[bytes] = zstandard.ZstdCompressor(compression_params=params).stream_reader(source, read_size=CHUNK)
        return reader
    if algorithm == "none":
        return source
    raise UnsupportedCompressionError(f"unsupported compression {algorithm!r}: expected gzip, zstd or none")


def parse_algorithm(text: str) -> Algorithm:
    """Validate a user-given compression name; xz and bzip2 are refused clearly."""
    name = text.strip().lower()
    if name in ("gzip", "zstd", "none"):
        return name  # type: ignore[return-value]
    if name in ("uncompressed",):
        return "none"
    if name in ("xz", "bzip2"):
        raise UnsupportedCompressionError(f"{name} compression is not supported: use gzip or zstd")
    raise UnsupportedCompressionError(f"unknown compression {text!r}: expected gzip, zstd or none")
