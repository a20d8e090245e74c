"""Digests: parsing (exact length, lowercase hex), hashing, and the verifying reader."""

from __future__ import annotations

import hashlib
import io

import pytest

from lighter.digest import (
    HEX_LENGTHS,
    Digest,
    Digester,
    VerifyingReader,
    digest_bytes,
    is_digest,
    parse_digest,
    verify_bytes,
)
from lighter.errors import DigestMismatchError, InvalidDigestError, SizeMismatchError, VerificationError

SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "0" * 64,
        "sha256:" + "abcdef0123456789" * 4,
        "sha512:" + "f" * 128,
        SHA256_EMPTY,
    ],
)
def test_valid_digests_parse_and_print_back(text: str) -> None:
    d = parse_digest(text)
    assert str(d) == text
    assert d.algorithm == text.split(":")[0]
    assert len(d.hex) == HEX_LENGTHS[d.algorithm]
    assert is_digest(text)
    assert repr(d) == f"Digest({text!r})"
    assert d.short == d.hex[:12]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected 'algorithm:hex'"),
        ("sha256", "expected 'algorithm:hex'"),
        ("0" * 64, "expected 'algorithm:hex'"),
        ("sha256:", "needs 64 hex characters, got 0"),
        ("sha256:" + "0" * 63, "needs 64 hex characters, got 63"),
        ("sha256:" + "0" * 65, "needs 64 hex characters, got 65"),
        ("sha256:" + "0" * 128, "needs 64 hex characters, got 128"),
        ("sha512:" + "0" * 64, "needs 128 hex characters, got 64"),
        ("sha256:" + "A" * 64, "lowercase hex"),
        ("sha256:" + "g" * 64, "lowercase hex"),
        ("sha256:" + "0" * 63 + " ", "lowercase hex"),
        ("sha256:" + "0" * 62 + "\n\n", "lowercase hex"),
        ("SHA256:" + "0" * 64, "unsupported algorithm 'SHA256'"),
        ("md5:" + "0" * 32, "unsupported algorithm 'md5'"),
        ("sha384:" + "0" * 96, "unsupported algorithm 'sha384'"),
        ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "unsupported algorithm"),
        (":" + "0" * 64, "unsupported algorithm ''"),
    ],
)
def test_invalid_digests_name_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidDigestError) as info:
        parse_digest(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert not is_digest(text)


@pytest.mark.parametrize("value", [None, 5, b"sha256:" + b"0" * 64, ["sha256:" + "0" * 64]])
def test_non_strings_are_invalid(value: object) -> None:
    with pytest.raises(InvalidDigestError, match="must be a string"):
        parse_digest(value)


def test_invalid_digest_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_digest("nope")


def test_digests_compare_hash_and_sort_by_value() -> None:
    a = parse_digest("sha256:" + "a" * 64)
    b = parse_digest("sha256:" + "b" * 64)
    assert a == Digest("sha256", "a" * 64)
    assert len({a, Digest("sha256", "a" * 64), b}) == 2
    assert sorted([b, a]) == [a, b]


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@pytest.mark.parametrize("data", [b"", b"x", b"hello world" * 1000])
def test_digest_bytes_and_digester_agree_with_hashlib(algorithm: str, data: bytes) -> None:
    expected = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    assert str(digest_bytes(data, algorithm)) == expected
    digester = Digester(algorithm)
    for i in range(0, len(data), 7):
        digester.update(data[i : i + 7])
    digester.update(b"")
    assert str(digester.digest()) == expected
    assert digester.size == len(data)


def test_digest_of_empty_is_the_well_known_one() -> None:
    assert str(digest_bytes(b"")) == SHA256_EMPTY


def test_digester_refuses_unknown_algorithms() -> None:
    with pytest.raises(InvalidDigestError, match="md5"):
        Digester("md5")


def test_verify_bytes() -> None:
    data = b"content"
    verify_bytes(data, digest_bytes(data), "blob")
    verify_bytes(data, digest_bytes(data), "blob", size=len(data))
    verify_bytes(data, digest_bytes(data), "blob", size=-1)  # unknown size: digest only
    with pytest.raises(SizeMismatchError) as size_info:
        verify_bytes(data, digest_bytes(data), "blob", size=3)
    assert (size_info.value.expected, size_info.value.actual) == (3, len(data))
    wrong = digest_bytes(b"other")
    with pytest.raises(DigestMismatchError) as info:
        verify_bytes(data, wrong, "blob")
    assert str(wrong) in str(info.value) and str(digest_bytes(data)) in str(info.value)
    assert info.value.expected == str(wrong)
    assert info.value.actual == str(digest_bytes(data))


def _read_all(reader: VerifyingReader, chunk: int) -> bytes:
    out = bytearray()
    for _ in range(10_000):
        data = reader.read(chunk)
        if not data:
            return bytes(out)
        out += data
    raise AssertionError("reader never reached EOF")


@pytest.mark.parametrize("chunk", [1, 3, 1024, -1])
@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_verifying_reader_passes_good_content_through(chunk: int, algorithm: str) -> None:
    data = bytes(range(256)) * 5
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(data, algorithm), len(data), "layer")
    assert not reader.verified
    assert reader.readable()
    assert _read_all(reader, chunk) == data
    assert reader.verified
    assert reader.bytes_read == len(data)
    assert reader.read(10) == b""  # reading again after EOF stays quiet


def test_verifying_reader_with_unknown_size_checks_only_the_digest() -> None:
    data = b"abc" * 100
    for size in (None, -1):
        reader = VerifyingReader(io.BytesIO(data), digest_bytes(data), size, "blob")
        assert _read_all(reader, 64) == data
        assert reader.verified


def test_verifying_reader_readinto() -> None:
    data = b"0123456789" * 10
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(data), len(data), "blob")
    buffer = bytearray(33)
    got = bytearray()
    for _ in range(100):
        n = reader.readinto(buffer)
        if n == 0:
            break
        got += buffer[:n]
    assert bytes(got) == data
    assert reader.verified


def test_verifying_reader_wrong_digest_names_both() -> None:
    data = b"payload"
    expected = digest_bytes(b"something else")
    reader = VerifyingReader(io.BytesIO(data), expected, len(data), "blob x")
    assert reader.read(3) == b"pay"
    with pytest.raises(DigestMismatchError) as info:
        _read_all(reader, 3)
    message = str(info.value)
    assert "blob x" in message
    assert f"expected {expected}" in message
    assert f"got {digest_bytes(data)}" in message
    assert not reader.verified


def test_verifying_reader_short_stream_is_a_size_error() -> None:
    data = b"short"
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(data), 10, "layer")
    with pytest.raises(SizeMismatchError) as info:
        _read_all(reader, 100)
    assert (info.value.expected, info.value.actual) == (10, 5)
    assert "expected 10 bytes, got 5" in str(info.value)


def test_verifying_reader_fails_as_soon_as_there_are_excess_bytes() -> None:
    data = b"x" * 100
    # Even with the right digest for the first 10 bytes, byte 11 is an error right away.
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(data[:10]), 10, "layer")
    assert reader.read(10) == data[:10]
    with pytest.raises(SizeMismatchError) as info:
        reader.read(5)
    assert info.value.expected == 10
    assert info.value.actual == 15


def test_verifying_reader_excess_bytes_in_one_big_read() -> None:
    data = b"y" * 50
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(data), 49, "layer")
    with pytest.raises(SizeMismatchError):
        reader.read()


def test_verifying_reader_read_all_with_wrong_digest() -> None:
    data = b"z" * 50
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(b"other"), 50, "layer")
    with pytest.raises(DigestMismatchError):
        reader.read()


def test_verification_errors_share_a_base() -> None:
    assert issubclass(DigestMismatchError, VerificationError)
    assert issubclass(SizeMismatchError, VerificationError)


def test_verifying_reader_closes_the_underlying_stream() -> None:
    raw = io.BytesIO(b"data")
    with VerifyingReader(raw, digest_bytes(b"data"), 4, "blob") as reader:
        assert reader.read() == b"data"
    assert raw.closed


def test_verifying_reader_read_zero_is_not_end_of_stream() -> None:
    data = b"x" * 100
    reader = VerifyingReader(io.BytesIO(data), digest_bytes(data), len(data), "blob")
    assert reader.read(0) == b""
    assert not reader.verified
    assert reader.bytes_read == 0
    assert reader.read(40) == data[:40]
    assert reader.read(0) == b""
    assert reader.readinto(bytearray()) == 0
    assert not reader.verified
    assert reader.read(60) + reader.read(10) == data[40:]
    assert reader.verified


def test_verifying_reader_read_zero_of_an_empty_blob_then_eof() -> None:
    reader = VerifyingReader(io.BytesIO(b""), digest_bytes(b""), 0, "blob")
    assert reader.read(0) == b""
    assert not reader.verified
    assert reader.read(10) == b""
    assert reader.verified
