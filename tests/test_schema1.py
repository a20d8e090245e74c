"""Docker schema 1: signed manifests are digested over their JWS payload, as skopeo does.

The signed manifests here are real libtrust "pretty JWS" documents: an ES256
signature (made with ``cryptography``) over ``protected "." payload``, whose
protected header carries ``formatLength`` and ``formatTail``, spliced into the
payload as libtrust's ``JSONSignature.PrettySignature`` does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from lighter import mediatype as mt
from lighter.digest import digest_bytes
from lighter.errors import InvalidManifestError
from lighter.manifest import Schema1Manifest, guess_media_type, manifest_digest, parse_manifest
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _go_indent(value: Any, prefix: str, indent: str) -> str:
    """Go's json.MarshalIndent(value, prefix, indent)."""
    return json.dumps(value, indent=indent, separators=(",", ": ")).replace("\n", "\n" + prefix)


def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # libtrust's key id: base32 of the first 240 bits of sha256(DER), in groups of four.
    kid = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return {
        "crv": "P-256",
        "kid": ":".join(kid[i : i + 4] for i in range(0, len(kid), 4)),
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }


def _format(content: bytes) -> tuple[int, bytes]:
    """libtrust NewJSONSignature: formatLength ends at the last non-space before the closing brace."""
    close = len(content.rstrip()) - 1
    assert content[close : close + 1] == b"}"
    last = len(content[:close].rstrip()) - 1
    assert content[last : last + 1] != b","
    return last + 1, content[last + 1 :]


def sign_pretty(content: bytes, keys: list[ec.EllipticCurvePrivateKey], indent: str = "   ") -> bytes:
    """A signed schema 1 manifest, as libtrust's Sign + PrettySignature("signatures") write it."""
    length, tail = _format(content)
    payload = _b64(content)
    signatures = []
    for key in keys:
        protected = _b64(
            json.dumps(
                {"formatLength": length, "formatTail": _b64(tail), "time": "2024-01-02T03:04:05Z"},
                separators=(",", ":"),
            ).encode()
        )
        der = key.sign(f"{protected}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signatures.append(
            {
                "header": {"jwk": _jwk(key), "alg": "ES256"},
                "signature": _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
                "protected": protected,
            }
        )
    if indent:
        block = _go_indent(signatures, indent, indent)
        return content[:length] + f',\n{indent}"signatures": {block}\n}}'.encode()
    return content[:length] + b',"signatures":' + json.dumps(signatures, separators=(",", ":")).encode() + b"}"


def verify_pretty(raw: bytes) -> bytes:
    """Check every signature of a pretty JWS against its own key; returns the payload."""
    data = json.loads(raw)
    payload = b""
    for sig in data["signatures"]:
        header = json.loads(_unb64(sig["protected"]))
        payload = raw[: header["formatLength"]] + _unb64(header["formatTail"])
        jwk = sig["header"]["jwk"]
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(_unb64(jwk["x"]), "big"), int.from_bytes(_unb64(jwk["y"]), "big"), ec.SECP256R1()
        ).public_key()
        rs = _unb64(sig["signature"])
        der = encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))
        public.verify(der, f"{sig['protected']}.{_b64(payload)}".encode(), ec.ECDSA(hashes.SHA256()))
    return payload


def _unsigned(name: str = "library/busybox", trailing: bytes = b"") -> bytes:
    blob = "sha256:" + "a" * 64
    doc = {
        "schemaVersion": 1,
        "name": name,
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": blob}, {"blobSum": "sha256:" + "b" * 64}],
        "history": [
            {"v1Compatibility": json.dumps({"id": "2" * 64, "parent": "1" * 64, "config": {"Env": ["A=<1>"]}})},
            {"v1Compatibility": json.dumps({"id": "1" * 64})},
        ],
    }
    return _go_indent(doc, "", "   ").encode() + trailing


@pytest.fixture(scope="module")
def keys() -> list[ec.EllipticCurvePrivateKey]:
    return [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]


def _skopeo_digest(path: Path) -> str:
    done = subprocess.run(
        ["skopeo", "manifest-digest", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("trailing", [b"", b"\n", b"\n\n  "])
@pytest.mark.parametrize("count", [1, 2])
def test_signed_digest_is_the_payload_digest(
    keys: list[ec.EllipticCurvePrivateKey], trailing: bytes, count: int
) -> None:
    content = _unsigned(trailing=trailing)
    signed = sign_pretty(content, keys[:count])
    assert b'"signatures": [' in signed
    assert verify_pretty(signed) == content
    assert guess_media_type(signed) == mt.DOCKER_SCHEMA1_SIGNED
    assert manifest_digest(signed) == digest_bytes(content)
    assert manifest_digest(signed) != digest_bytes(signed)
    m = parse_manifest(signed)
    assert isinstance(m, Schema1Manifest)
    assert m.media_type == mt.DOCKER_SCHEMA1_SIGNED
    assert m.raw == signed and m.payload == content
    assert m.digest == digest_bytes(content)
    assert [str(layer.digest) for layer in m.layers] == ["sha256:" + "b" * 64, "sha256:" + "a" * 64]
    assert m.v1_compatibility()["config"] == {"Env": ["A=<1>"]}


def test_compact_signed_manifest(keys: list[ec.EllipticCurvePrivateKey]) -> None:
    content = json.dumps(json.loads(_unsigned()), separators=(",", ":")).encode()
    signed = sign_pretty(content, keys[:1], indent="")
    assert verify_pretty(signed) == content
    assert manifest_digest(signed) == digest_bytes(content)


@pytest.mark.interop
def test_skopeo_manifest_digest_agrees(tmp_path: Path, keys: list[ec.EllipticCurvePrivateKey]) -> None:
    for i, content in enumerate([_unsigned(), _unsigned("a/b", b"\n")]):
        signed = sign_pretty(content, keys)
        path = tmp_path / f"signed-{i}.json"
        path.write_bytes(signed)
        assert _skopeo_digest(path) == str(manifest_digest(signed)) == str(digest_bytes(content))
        unsigned = tmp_path / f"unsigned-{i}.json"
        unsigned.write_bytes(content)
        assert _skopeo_digest(unsigned) == str(manifest_digest(content)) == str(digest_bytes(content))


def test_unsigned_schema1_digest_is_of_the_bytes() -> None:
    content = _unsigned()
    assert guess_media_type(content) == mt.DOCKER_SCHEMA1
    m = parse_manifest(content)
    assert isinstance(m, Schema1Manifest)
    assert m.media_type == mt.DOCKER_SCHEMA1
    assert m.payload == content
    assert m.digest == manifest_digest(content) == digest_bytes(content)


def _with_protected(signed: bytes, change: Any) -> bytes:
    data = json.loads(signed)
    for sig in data["signatures"]:
        header = json.loads(_unb64(sig["protected"]))
        change(header)
        sig["protected"] = _b64(json.dumps(header).encode())
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda h: h.pop("formatLength"), "not a valid libtrust header"),
        (lambda h: h.pop("formatTail"), "not a valid libtrust header"),
        (lambda h: h.update(formatLength="12"), "formatLength must be a number"),
        (lambda h: h.update(formatLength=10**9), "outside the manifest"),
        (lambda h: h.update(formatLength=0), "outside the manifest"),
        (lambda h: h.update(formatTail=5), "not a valid libtrust header"),
    ],
)
def test_broken_protected_headers(keys: list[ec.EllipticCurvePrivateKey], change: Any, fragment: str) -> None:
    broken = _with_protected(sign_pretty(_unsigned(), keys[:1]), change)
    for call in (manifest_digest, parse_manifest):
        with pytest.raises(InvalidManifestError) as info:
            call(broken)
        assert fragment in str(info.value)


def test_signatures_that_disagree_on_the_format(keys: list[ec.EllipticCurvePrivateKey]) -> None:
    signed = sign_pretty(_unsigned(), keys)
    data = json.loads(signed)
    header = json.loads(_unb64(data["signatures"][1]["protected"]))
    header["formatLength"] -= 1
    data["signatures"][1]["protected"] = _b64(json.dumps(header).encode())
    with pytest.raises(InvalidManifestError, match="conflicting"):
        manifest_digest(json.dumps(data).encode())


@pytest.mark.parametrize("signatures", [{"a": 1}, ["x"], [{"protected": "!!!"}], [{}], {}, "", 0, False])
def test_malformed_signatures(signatures: object) -> None:
    data = json.loads(_unsigned())
    data["signatures"] = signatures
    raw = json.dumps(data).encode()
    # any non-null value makes it a signed manifest, as containers/image's GuessMIMEType decides
    assert guess_media_type(raw) == mt.DOCKER_SCHEMA1_SIGNED
    for call in (manifest_digest, parse_manifest):
        with pytest.raises(InvalidManifestError, match=r"^signatures"):
            call(raw)


def test_empty_signatures_are_refused_not_digested_as_empty_bytes() -> None:
    """libtrust takes an empty list as a zero-length payload: skopeo prints sha256 of b"" for any such manifest."""
    data = json.loads(_unsigned())
    data["signatures"] = []
    raw = json.dumps(data).encode()
    assert guess_media_type(raw) == mt.DOCKER_SCHEMA1_SIGNED
    for call in (manifest_digest, parse_manifest):
        with pytest.raises(InvalidManifestError) as info:
            call(raw)
        assert str(info.value) == "signatures: expected at least one JWS signature, got an empty list"


def test_null_signatures_are_unsigned() -> None:
    data = json.loads(_unsigned())
    data["signatures"] = None
    raw = json.dumps(data).encode()
    assert guess_media_type(raw) == mt.DOCKER_SCHEMA1
    parsed = parse_manifest(raw)
    assert isinstance(parsed, Schema1Manifest)
    assert parsed.media_type == mt.DOCKER_SCHEMA1
    assert manifest_digest(raw) == parsed.digest == digest_bytes(raw)


@pytest.mark.interop
@pytest.mark.parametrize("signatures", [None, {}, "", 0])
def test_skopeo_agrees_on_null_and_non_list_signatures(tmp_path: Path, signatures: object, run_lighter: Any) -> None:
    data = json.loads(_unsigned())
    data["signatures"] = signatures
    path = tmp_path / "manifest.json"
    path.write_bytes(json.dumps(data).encode())
    theirs = subprocess.run(
        ["skopeo", "manifest-digest", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    ours = run_lighter("manifest-digest", str(path))
    assert ours.returncode == theirs.returncode
    if signatures is None:
        assert ours.stdout == theirs.stdout
    else:
        assert ours.stderr.startswith("lighter: error: signatures: expected a list of JWS signatures")


def test_bad_blob_sum_is_named() -> None:
    data = json.loads(_unsigned())
    data["fsLayers"][1]["blobSum"] = "sha256:short"
    with pytest.raises(InvalidManifestError, match=r"fsLayers\[1\].blobSum"):
        parse_manifest(json.dumps(data).encode())


@pytest.mark.interop
def test_schema1_signed_by_skopeo_itself(tmp_path: Path, run_lighter: Any, run_tool: Any) -> None:
    """skopeo 1.9 converts to v2s1 and signs it with a fresh libtrust key: lighter must agree on everything."""
    layout = tmp_path / "layout"
    with parse_image_name(f"oci:{layout}:v1").new_destination() as dest:
        write_random_image(dest, layer_sizes=(3000, 5000), labels={"org.example": "yes"}, seed=11)
    converted = run_tool("skopeo", "copy", "-q", "--format", "v2s1", f"oci:{layout}:v1", f"dir:{tmp_path / 's1'}")
    assert converted.returncode == 0, converted.stderr
    manifest = tmp_path / "s1" / "manifest.json"
    raw = manifest.read_bytes()
    assert guess_media_type(raw) == mt.DOCKER_SCHEMA1_SIGNED  # really signed, not the unsigned variant
    assert json.loads(raw)["signatures"][0]["header"]["jwk"]["kty"] == "EC"
    theirs = run_tool("skopeo", "manifest-digest", str(manifest))
    assert theirs.returncode == 0, theirs.stderr
    ours = run_lighter("manifest-digest", str(manifest))
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, theirs.stdout, "")
    assert theirs.stdout.strip() != str(digest_bytes(raw))  # the payload's digest, not the bytes'

    name = f"dir:{tmp_path / 's1'}"
    inspected = run_tool("skopeo", "inspect", name)
    assert inspected.returncode == 0, inspected.stderr
    expected = json.loads(inspected.stdout)
    result = run_lighter("inspect", name)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    for key in ("Digest", "Layers", "Architecture", "Os", "Env", "Labels", "Created", "DockerVersion"):
        assert got[key] == expected[key], key
    assert expected["Digest"] == theirs.stdout.strip()
    assert len(expected["Layers"]) == 2
    assert expected["Labels"] == {"org.example": "yes"}
