"""Layer compression: magic bytes, gzip/zstd stream round trips, refusals, PeekableReader."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
from typing import Any

import pytest
import zstandard

from lighter.compression import (
    CHUNK,
    PeekableReader,
    check_level,
    compressed,
    decompressed,
    detect,
    parse_algorithm,
    refuse,
)
from lighter.errors import UnsupportedCompressionError, UnsupportedError


def _read_all(stream: Any, chunk: int = 64 * 1024) -> bytes:
    out = bytearray()
    for _ in range(100_000):
        data = stream.read(chunk)
        if not data:
            return bytes(out)
        out += data
    raise AssertionError("stream never ended")


SAMPLES = {
    "empty": b"",
    "one byte": b"x",
    "text": b"hello world\n" * 1000,
    "random 100 KiB": random.Random(1).randbytes(100 * 1024),
    "random 3 MiB + 1": random.Random(2).randbytes(3 * 1024 * 1024 + 1),
    "zeros 5 MiB": bytes(5 * 1024 * 1024),
}


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x28\xb5\x2f\xfd\x00", "zstd"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b"BZh91AY", "bzip2"),
        (b"ustar", "none"),
        (b"", "none"),
        (b"\x1f", "none"),
        (b"\xfd7zXZ", "none"),  # too short to be sure
    ],
)
def test_detect(prefix: bytes, expected: str) -> None:
    assert detect(prefix) == expected


def test_detect_real_streams() -> None:
    data = b"payload" * 10
    assert detect(gzip.compress(data)) == "gzip"
    assert detect(zstandard.ZstdCompressor().compress(data)) == "zstd"
    assert detect(lzma.compress(data)) == "xz"
    assert detect(bz2.compress(data)) == "bzip2"
    assert detect(data) == "none"


@pytest.mark.parametrize("algorithm", ["gzip", "zstd"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_round_trip(algorithm: str, name: str) -> None:
    data = SAMPLES[name]
    packed = _read_all(compressed(io.BytesIO(data), algorithm))  # type: ignore[arg-type]
    assert detect(packed[:6]) == algorithm
    assert _read_all(decompressed(io.BytesIO(packed))) == data


def test_gzip_output_is_standard_gzip() -> None:
    data = SAMPLES["random 100 KiB"] + SAMPLES["text"]
    packed = _read_all(compressed(io.BytesIO(data), "gzip"))
    assert gzip.decompress(packed) == data


def test_zstd_output_is_standard_zstd() -> None:
    data = SAMPLES["text"]
    packed = _read_all(compressed(io.BytesIO(data), "zstd"))
    assert zstandard.ZstdDecompressor().decompressobj().decompress(packed) == data


@pytest.mark.parametrize("level", [1, 5, 9, 0])
def test_gzip_levels(level: int) -> None:
    data = SAMPLES["text"]
    assert gzip.decompress(_read_all(compressed(io.BytesIO(data), "gzip", level))) == data


def test_compressed_streams_can_be_read_in_one_call_and_small_chunks() -> None:
    data = SAMPLES["random 100 KiB"]
    for algorithm in ("gzip", "zstd"):
        whole = compressed(io.BytesIO(data), algorithm).read()
        small = _read_all(compressed(io.BytesIO(data), algorithm), 7)
        assert _read_all(decompressed(io.BytesIO(whole))) == data
        assert _read_all(decompressed(io.BytesIO(small))) == data


def test_gzip_readinto() -> None:
    stream = compressed(io.BytesIO(b"abc" * 1000), "gzip")
    buffer = bytearray(10)
    got = bytearray()
    for _ in range(10_000):
        n = stream.readinto(buffer)  # type: ignore[attr-defined]
        if not n:
            break
        got += buffer[:n]
    assert gzip.decompress(bytes(got)) == b"abc" * 1000


def test_none_is_passed_through() -> None:
    source = io.BytesIO(b"plain")
    assert compressed(source, "none") is source
    assert _read_all(decompressed(io.BytesIO(b"plain tar"))) == b"plain tar"
    assert _read_all(decompressed(io.BytesIO(b""))) == b""


def test_decompressing_concatenated_zstd_frames() -> None:
    c = zstandard.ZstdCompressor()
    packed = c.compress(b"first ") + c.compress(b"second")
    assert _read_all(decompressed(io.BytesIO(packed))) == b"first second"


def test_decompressing_multi_member_gzip() -> None:
    packed = gzip.compress(b"first ") + gzip.compress(b"second")
    assert _read_all(decompressed(io.BytesIO(packed))) == b"first second"


@pytest.mark.parametrize(("kind", "pack"), [("xz", lzma.compress), ("bzip2", bz2.compress)])
def test_xz_and_bzip2_are_refused_clearly(kind: str, pack: object) -> None:
    packed = pack(b"data" * 100)  # type: ignore[operator]
    with pytest.raises(UnsupportedCompressionError) as info:
        decompressed(io.BytesIO(packed), "layer sha256:abc")
    message = str(info.value)
    assert kind in message and "layer sha256:abc" in message and "gzip" in message
    assert issubclass(UnsupportedCompressionError, UnsupportedError)
    with pytest.raises(UnsupportedCompressionError, match=kind):
        refuse(kind, "x")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedCompressionError, match=kind):
        parse_algorithm(kind)
    with pytest.raises(UnsupportedCompressionError):
        compressed(io.BytesIO(b""), kind)  # type: ignore[arg-type]


def test_refuse_lets_supported_kinds_through() -> None:
    for kind in ("gzip", "zstd", "none"):
        refuse(kind, "layer")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("gzip", "gzip"), ("ZSTD", "zstd"), (" none ", "none"), ("uncompressed", "none")],
)
def test_parse_algorithm(text: str, expected: str) -> None:
    assert parse_algorithm(text) == expected


@pytest.mark.parametrize("text", ["lz4", "", "gz", "zstd:chunked"])
def test_parse_algorithm_unknown(text: str) -> None:
    with pytest.raises(UnsupportedCompressionError, match="expected gzip, zstd or none"):
        parse_algorithm(text)


def test_corrupt_gzip_fails_loudly() -> None:
    packed = bytearray(gzip.compress(os.urandom(10_000)))
    packed[len(packed) // 2] ^= 0xFF
    with pytest.raises(Exception) as info:  # zlib/isal error or BadGzipFile: never silent garbage
        _read_all(decompressed(io.BytesIO(bytes(packed))))
    assert info.value is not None


def test_truncated_gzip_fails_loudly() -> None:
    packed = gzip.compress(os.urandom(10_000))[:-10]
    with pytest.raises(EOFError):
        _read_all(decompressed(io.BytesIO(packed)))


# -- PeekableReader ------------------------------------------------------------------


def test_peek_does_not_consume() -> None:
    reader = PeekableReader(io.BytesIO(b"0123456789"))
    assert reader.peek(4) == b"0123"
    assert reader.peek(2) == b"01"
    assert reader.peek(6) == b"012345"
    assert reader.read(3) == b"012"
    assert reader.read(5) == b"34567"
    assert reader.read() == b"89"
    assert reader.read(1) == b""


def test_peek_past_the_end() -> None:
    reader = PeekableReader(io.BytesIO(b"ab"))
    assert reader.peek(10) == b"ab"
    assert reader.read() == b"ab"
    assert reader.peek(3) == b""


class _Trickle(io.RawIOBase):
    """Returns at most one byte per read, as a slow socket might."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk, self._data = self._data[:1], self._data[1:]
        return chunk


def test_peek_gathers_short_reads() -> None:
    reader = PeekableReader(_Trickle(b"\x1f\x8bXYZ"))  # type: ignore[arg-type]
    assert reader.peek(4) == b"\x1f\x8bXY"
    assert _read_all(reader) == b"\x1f\x8bXYZ"


def test_read_all_after_peek_and_readinto() -> None:
    reader = PeekableReader(io.BytesIO(b"abcdef"))
    reader.peek(3)
    buffer = bytearray(4)
    assert reader.readinto(buffer) == 4
    assert bytes(buffer) == b"abcd"
    assert reader.read(-1) == b"ef"


def test_decompressed_works_through_a_trickling_source() -> None:
    data = b"x" * 5000
    packed = gzip.compress(data)
    assert _read_all(decompressed(_Trickle(packed))) == data  # type: ignore[arg-type]


def test_close_closes_the_source() -> None:
    source = io.BytesIO(b"abc")
    reader = PeekableReader(source)
    reader.close()
    assert source.closed


def test_chunk_is_one_mib() -> None:
    assert CHUNK == 1024 * 1024


@pytest.mark.parametrize(
    ("algorithm", "level", "message"),
    [
        ("gzip", 10, "gzip compression level 10 is out of range: expected 0-9"),
        ("gzip", -1, "gzip compression level -1 is out of range: expected 0-9"),
        ("zstd", 23, "zstd compression level 23 is out of range: expected 1-22"),
        ("zstd", 0, "zstd compression level 0 is out of range: expected 1-22"),
        ("none", 3, "a compression level (3) needs gzip or zstd compression, got none"),
        (None, 3, "a compression level (3) needs gzip or zstd compression, got no compression format"),
    ],
)
def test_levels_out_of_range_are_refused(algorithm: str | None, level: int, message: str) -> None:
    with pytest.raises(UnsupportedCompressionError) as caught:
        check_level(algorithm, level)
    assert str(caught.value) == message
    if algorithm in ("gzip", "zstd"):
        with pytest.raises(UnsupportedCompressionError):
            compressed(io.BytesIO(b"x"), algorithm, level)  # type: ignore[arg-type]


def test_levels_in_range_pass_and_change_the_output() -> None:
    data = bytes(range(256)) * 4096
    for algorithm, (low, high) in (("gzip", (1, 9)), ("zstd", (1, 19))):
        check_level(algorithm, low)
        fast = _read_all(compressed(io.BytesIO(data), algorithm, low))  # type: ignore[arg-type]
        small = _read_all(compressed(io.BytesIO(data), algorithm, high))  # type: ignore[arg-type]
        assert fast != small
    check_level("none", None)
