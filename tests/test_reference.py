"""Docker references, checked against distribution/reference's test tables.

distribution's ``TestReferenceParse`` uses the un-normalised ``Parse``; lighter
parses as ``ParseNormalizedNamed`` + ``TagNameOnly`` do (what docker, podman
and skopeo accept on their command lines), so single-component names land on
Docker Hub and the expectations below are the normalised ones.
"""

from __future__ import annotations

import pytest

from lighter.digest import parse_digest
from lighter.errors import InvalidInputError, InvalidReferenceError
from lighter.reference import MAX_NAME_LENGTH, Reference, parse_reference

F64 = "f" * 64
F128 = "f" * 128

# input, domain, path, tag, digest
VALID = [
    ("test_com", "docker.io", "library/test_com", "latest", None),
    ("test.com:tag", "docker.io", "library/test.com", "tag", None),
    ("test.com:5000", "docker.io", "library/test.com", "5000", None),
    ("test.com/repo:tag", "test.com", "repo", "tag", None),
    ("test:5000/repo", "test:5000", "repo", "latest", None),
    ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
    (f"test:5000/repo@sha256:{F64}", "test:5000", "repo", None, f"sha256:{F64}"),
    (f"test:5000/repo:tag@sha256:{F64}", "test:5000", "repo", "tag", f"sha256:{F64}"),
    ("lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", None),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", "latest", None),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        None,
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F128}",
        "xn--7o8h.com",
        "myimage",
        "xn--7o8h.com",
        f"sha512:{F128}",
    ),
    ("foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", None),
    ("192.168.1.1", "docker.io", "library/192.168.1.1", "latest", None),
    ("192.168.1.1:tag", "docker.io", "library/192.168.1.1", "tag", None),
    ("192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1", "repo", "latest", None),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", "latest", None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", "latest", None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", "latest", None),
    ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", None),
    (f"[2001:db8::1]:5000/repo@sha256:{F64}", "[2001:db8::1]:5000", "repo", None, f"sha256:{F64}"),
    (f"[2001:db8::1]:5000/repo:tag@sha256:{F64}", "[2001:db8::1]:5000", "repo", "tag", f"sha256:{F64}"),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", "latest", None),
    ("[::1]:5000/repo", "[::1]:5000", "repo", "latest", None),
    # normalisation (distribution's normalize_test.go)
    ("alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/library/alpine", "docker.io", "library/alpine", "latest", None),
    ("index.docker.io/alpine:3", "docker.io", "library/alpine", "3", None),
    ("index.docker.io/user/repo", "docker.io", "user/repo", "latest", None),
    ("user/repo", "docker.io", "user/repo", "latest", None),
    ("localhost/repo", "localhost", "repo", "latest", None),
    ("localhost:5000/a/b/c:v1.2.3", "localhost:5000", "a/b/c", "v1.2.3", None),
    ("localhost", "docker.io", "library/localhost", "latest", None),
    ("Uppercase/lowercase:tag", "Uppercase", "lowercase", "tag", None),
    ("quay.io/a__b/c-d/e.f/g---h:_tag", "quay.io", "a__b/c-d/e.f/g---h", "_tag", None),
    ("registry.example.com/ns/app:" + "t" * 128, "registry.example.com", "ns/app", "t" * 128, None),
    ("a.b/" + "/".join(["a"] * 125), "a.b", "/".join(["a"] * 125), "latest", None),
]


@pytest.mark.parametrize(("text", "domain", "path", "tag", "digest"), VALID)
def test_valid_references(text: str, domain: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert (str(ref.digest) if ref.digest else None) == digest
    assert ref.name == f"{domain}/{path}"
    again = parse_reference(str(ref))
    assert again == ref


INVALID = [
    ("", "empty"),
    (":justtag", "empty repository name"),
    (f"@sha256:{F64}", "empty repository name"),
    ("repo@sha256:ffffffffffffffffffffffffffffffffff", "needs 64 hex characters"),
    (f"validname@invaliddigest:{F64}", "unsupported algorithm"),
    (f"repo@sha256:{'F' * 64}", "lowercase hex"),
    ("Uppercase:tag", "must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    ("docker.io/Library/alpine", "must be lowercase"),
    ("aa/asdf$$^/aa", "invalid repository path component"),
    ("[2001:db8::1]", "invalid"),
    ("[2001:db8::1]:5000", "invalid"),
    ("[2001:db8::1]:tag", "invalid"),
    ("[fe80::1%eth0]:5000/repo", "invalid registry host"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid"),
    ("a.com/" + "/".join(["a"] * 126), "must not be more than 255 characters"),
    ("a/" * 128 + "a:tag", "must not be more than 255 characters"),
    ("repo:" + "t" * 129, "invalid tag"),
    ("repo:-tag", "invalid tag"),
    ("repo:.tag", "invalid tag"),
    ("repo:ta+g", "invalid tag"),
    ("repo:", "invalid tag"),
    ("repo/", "invalid repository path component"),
    ("/repo", "invalid"),
    ("a//b", "invalid repository path component"),
    ("a/b_-c", "invalid repository path component"),
    ("a/___b", "invalid repository path component"),
    ("a/.b", "invalid repository path component"),
    ("a/b.", "invalid repository path component"),
    ("-host.com/a", "invalid registry host"),
    ("host-.com/a", "invalid registry host"),
    ("host.com:/a", "invalid registry host"),
    ("host.com:port/a", "invalid registry host"),
    ("re po", "whitespace"),
    (" repo", "whitespace"),
    ("repo\n", "whitespace"),
    ("repo\t:tag", "whitespace"),
    ("a" * 64, "64-character hexadecimal"),
    ("0123456789abcdef" * 4, "64-character hexadecimal"),
    ("repo@", "expected 'algorithm:hex'"),
    (f"repo@sha256:{F64}@sha256:{F64}", "invalid"),
    ("répo", "invalid repository path component"),
]


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_invalid_references(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert message.startswith("invalid")


def test_uppercase_repository_error_is_clear() -> None:
    with pytest.raises(InvalidReferenceError, match="repository name must be lowercase"):
        parse_reference("quay.io/MyOrg/app:1")


def test_name_length_limit_is_exactly_255() -> None:
    path = "a/" * 122 + "a"
    name = "host.com/" + path
    assert len(name) == 254
    assert parse_reference(name + "b").name == name + "b"  # 255: allowed
    with pytest.raises(InvalidReferenceError, match=str(MAX_NAME_LENGTH)):
        parse_reference(name + "bc")  # 256
    # the tag does not count
    assert parse_reference(name + "b:" + "t" * 128).tag == "t" * 128


def test_non_string_is_an_invalid_reference() -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(None)  # type: ignore[arg-type]
    assert issubclass(InvalidReferenceError, InvalidInputError)
    assert issubclass(InvalidReferenceError, ValueError)


def test_no_default_tag_when_asked() -> None:
    ref = parse_reference("alpine", default_tag=False)
    assert ref.tag is None
    assert str(ref) == "docker.io/library/alpine"
    assert ref.manifest_ref == "latest"


def test_digest_only_gets_no_tag() -> None:
    ref = parse_reference(f"alpine@sha256:{F64}")
    assert ref.tag is None
    assert ref.manifest_ref == f"sha256:{F64}"
    assert str(ref) == f"docker.io/library/alpine@sha256:{F64}"


def test_tag_and_digest_are_both_kept_and_digest_is_what_is_fetched() -> None:
    ref = parse_reference(f"alpine:3.19@sha256:{F64}")
    assert ref.tag == "3.19"
    assert ref.manifest_ref == f"sha256:{F64}"
    assert str(ref) == f"docker.io/library/alpine:3.19@sha256:{F64}"


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("alpine", "alpine"),
        ("docker.io/library/alpine", "alpine"),
        ("user/repo", "user/repo"),
        ("docker.io/library/a/b", "library/a/b"),
        ("quay.io/library/alpine", "quay.io/library/alpine"),
        ("localhost:5000/x", "localhost:5000/x"),
    ],
)
def test_familiar_name(text: str, familiar: str) -> None:
    assert parse_reference(text).familiar_name == familiar


def test_with_tag_and_digest() -> None:
    ref = parse_reference("quay.io/a/b:1")
    assert str(ref.with_tag("2")) == "quay.io/a/b:2"
    assert str(ref.with_tag(None)) == "quay.io/a/b"
    digest = parse_digest("sha256:" + "1" * 64)
    assert str(ref.with_digest(digest)) == f"quay.io/a/b:1@{digest}"
    assert ref.with_digest(digest).with_digest(None) == ref
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        ref.with_tag("bad tag")
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        ref.with_tag("x" * 129)


def test_references_are_immutable_values() -> None:
    ref = parse_reference("alpine")
    with pytest.raises(AttributeError):
        ref.tag = "other"  # type: ignore[misc]
    assert ref == Reference("docker.io", "library/alpine", "latest")
    assert hash(ref) == hash(Reference("docker.io", "library/alpine", "latest"))
