"""Property-based tests of the parsers that take untrusted input.

* digests and references: what is generated from the grammar parses and
  prints back; anything else fails only with the parser's own error;
* manifests: parse -> serialise -> parse keeps every field, and a manifest
  that is not changed keeps its exact bytes (odd whitespace, key order);
* compression and Go-compatible JSON round trips.
"""

from __future__ import annotations

import contextlib
import io
import json
import string
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lighter import mediatype as mt
from lighter.compression import compressed, decompressed, detect
from lighter.digest import HEX_LENGTHS, digest_bytes, parse_digest
from lighter.errors import InvalidDigestError, InvalidPlatformError, InvalidReferenceError, LighterError
from lighter.manifest import (
    ImageConfig,
    ImageManifest,
    Index,
    go_dumps,
    is_manifest_list,
    manifest_digest,
    parse_config,
    parse_manifest,
    to_oci_config,
)
from lighter.platform import parse_platform
from lighter.reference import MAX_NAME_LENGTH, parse_reference

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- digests ---------------------------------------------------------------------

algorithms = st.sampled_from(sorted(HEX_LENGTHS))


@st.composite
def digests(draw: st.DrawFn) -> str:
    algorithm = draw(algorithms)
    hex_part = draw(st.text("0123456789abcdef", min_size=HEX_LENGTHS[algorithm], max_size=HEX_LENGTHS[algorithm]))
    return f"{algorithm}:{hex_part}"


@SETTINGS
@given(digests())
def test_generated_digests_round_trip(text: str) -> None:
    d = parse_digest(text)
    assert str(d) == text
    assert parse_digest(str(d)) == d


@SETTINGS
@given(st.one_of(st.text(), st.builds(lambda a, t: f"{a}:{t}", algorithms, st.text())))
def test_any_text_is_a_digest_or_an_invalid_digest_error(text: str) -> None:
    try:
        d = parse_digest(text)
    except InvalidDigestError as exc:
        assert "\n" not in str(exc).replace(repr(text), "")
        return
    assert str(d) == text


@SETTINGS
@given(st.binary(max_size=4096), algorithms)
def test_digest_bytes_parses(data: bytes, algorithm: str) -> None:
    d = digest_bytes(data, algorithm)
    assert parse_digest(str(d)) == d


# -- references ------------------------------------------------------------------

alnum_lower = string.ascii_lowercase + string.digits
path_components = st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    st.text(alnum_lower, min_size=1, max_size=8),
    st.lists(
        st.tuples(st.sampled_from([".", "_", "__", "-", "--"]), st.text(alnum_lower, min_size=1, max_size=6)),
        max_size=2,
    ),
)
domain_components = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
hosts = st.one_of(
    st.builds(lambda parts: ".".join(parts), st.lists(domain_components, min_size=2, max_size=3)),
    st.just("localhost"),
    st.from_regex(r"\[[0-9a-f]{1,4}(:[0-9a-f]{0,4}){1,5}\]", fullmatch=True),
)
domains = st.builds(
    lambda host, port: host + (f":{port}" if port is not None else ""),
    hosts,
    st.none() | st.integers(1, 65535),
)
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@st.composite
def references(draw: st.DrawFn) -> tuple[str, str, str, str | None, str | None]:
    """(text, domain, path, tag, digest) with the expected normalised parts."""
    path = "/".join(draw(st.lists(path_components, min_size=1, max_size=3)))
    domain = draw(st.none() | domains)
    tag = draw(st.none() | tags)
    digest = draw(st.none() | digests())
    text = (f"{domain}/" if domain else "") + path
    assume(not (domain is None and len(path) == 64 and all(c in "0123456789abcdef" for c in path)))
    text += (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if domain is None:
        first = path.split("/")[0]
        domain = "docker.io"
        assume(not ("." in first or first == "localhost") or "/" not in path)
        if "/" not in path:
            path = "library/" + path
    assume(len(domain) + 1 + len(path) <= MAX_NAME_LENGTH)
    if tag is None and digest is None:
        tag = "latest"
    return text, domain, path, tag, digest


@SETTINGS
@given(references())
def test_generated_references_parse_format_and_parse_again(case: tuple[str, str, str, str | None, str | None]) -> None:
    text, domain, path, tag, digest = case
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert (str(ref.digest) if ref.digest else None) == digest
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar_name + (f":{tag}" if tag else "")).name == ref.name


@SETTINGS
@given(st.text(max_size=300) | st.text(alnum_lower + "/:.@-_[]A", max_size=80))
def test_any_text_is_a_reference_or_an_invalid_reference_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReferenceError as exc:
        assert str(exc).startswith("invalid")
        return
    assert parse_reference(str(ref)) == ref


# -- platforms -------------------------------------------------------------------

parts = st.from_regex(r"[a-z0-9_.-]{1,10}", fullmatch=True)


@SETTINGS
@given(parts, parts, st.none() | parts)
def test_platforms_round_trip(os_name: str, arch: str, variant: str | None) -> None:
    text = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    p = parse_platform(text)
    assert parse_platform(str(p)) == p


@SETTINGS
@given(st.text(max_size=40))
def test_any_text_is_a_platform_or_an_invalid_platform_error(text: str) -> None:
    with contextlib.suppress(InvalidPlatformError):
        parse_platform(text)


# -- manifests -------------------------------------------------------------------

json_text = st.text(st.characters(codec="utf-8"), max_size=12)
annotation_maps = st.dictionaries(json_text, json_text, max_size=3)


def _maybe(draw: st.DrawFn, data: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        data[key] = draw(strategy)


@st.composite
def descriptors(
    draw: st.DrawFn, media_types: st.SearchStrategy[str], platform: bool = False, required: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mediaType": draw(media_types),
        "digest": draw(digests()),
        "size": draw(st.integers(0, 2**53)),
    }
    _maybe(draw, data, "urls", st.lists(json_text, max_size=2))
    _maybe(draw, data, "annotations", annotation_maps)
    if platform:
        plat: dict[str, Any] = {"architecture": draw(parts), "os": draw(parts)}
        _maybe(draw, plat, "variant", parts)
        _maybe(draw, plat, "os.version", parts)
        _maybe(draw, plat, "os.features", st.lists(parts, min_size=1, max_size=2))
        if required or draw(st.booleans()):
            # A Docker list always has one (Go writes it even when empty).
            data["platform"] = plat
    _maybe(draw, data, "x-extra", st.integers() | json_text)
    return data


@st.composite
def manifest_documents(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["oci", "docker", "oci-index", "docker-list"]))
    oci = kind.startswith("oci")
    doc: dict[str, Any] = {"schemaVersion": 2}
    if kind == "oci" or kind == "oci-index":
        if draw(st.booleans()):
            doc["mediaType"] = mt.OCI_MANIFEST if kind == "oci" else mt.OCI_INDEX
    else:
        doc["mediaType"] = mt.DOCKER_MANIFEST if kind == "docker" else mt.DOCKER_LIST
    if kind in ("oci", "docker"):
        layer_types = st.sampled_from([mt.layer_type(oci, c) for c in ("none", "gzip", "zstd")])
        config_type = st.just(mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG)
        doc["config"] = draw(descriptors(config_type))
        doc["layers"] = draw(st.lists(descriptors(layer_types), max_size=4))
    else:
        instance_types = st.sampled_from([mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX])
        doc["manifests"] = draw(st.lists(descriptors(instance_types, platform=True, required=not oci), max_size=4))
    if oci:
        _maybe(draw, doc, "annotations", annotation_maps)
        _maybe(draw, doc, "subject", descriptors(st.just(mt.OCI_MANIFEST)))
        _maybe(draw, doc, "artifactType", st.just("application/vnd.example"))
    _maybe(draw, doc, "x-unknown", st.dictionaries(json_text, st.integers(), max_size=2))
    keys = draw(st.permutations(list(doc)))
    return {k: doc[k] for k in keys}


@st.composite
def serialised(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    doc = draw(manifest_documents())
    indent = draw(st.sampled_from([None, 0, 1, 3, "\t"]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :  ")]))
    text = json.dumps(doc, indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))
    text = draw(st.sampled_from(["", " ", "\n", "\r\n\t"])) + text + draw(st.sampled_from(["", "\n", "  \n"]))
    return doc, text.encode()


def _fields(m: ImageManifest | Index) -> tuple[Any, ...]:
    common = (m.media_type, m.annotations, m.artifact_type, m.subject, m.extra)
    if isinstance(m, Index):
        return (*common, m.manifests)
    return (*common, m.config, m.layers)


@SETTINGS
@given(serialised())
def test_manifests_keep_their_bytes_and_every_field(case: tuple[dict[str, Any], bytes]) -> None:
    doc, raw = case
    m = parse_manifest(raw)
    assert isinstance(m, ImageManifest | Index)
    assert m.raw == raw
    assert m.digest == digest_bytes(raw) == manifest_digest(raw)
    assert is_manifest_list(doc) == isinstance(m, Index)
    # parse -> serialise -> parse keeps every field
    reserialised = go_dumps(m.to_json())
    again = parse_manifest(reserialised)
    assert isinstance(again, ImageManifest | Index)
    assert _fields(again) == _fields(m)
    assert json.loads(reserialised) == {k: v for k, v in _normalised(doc).items()}
    # re-serialising is stable: the bytes are a fixed point
    assert parse_manifest(reserialised).raw == reserialised
    assert go_dumps(again.to_json()) == reserialised
    evolved = m.evolve()
    assert parse_manifest(evolved.raw) == evolved


def _normalised(doc: dict[str, Any]) -> dict[str, Any]:
    """What lighter writes for ``doc``: the same content; empty optional collections left out."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if not (k in ("urls", "annotations") and not v)}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(doc)  # type: ignore[no-any-return]


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_fail_only_with_lighter_errors(raw: bytes) -> None:
    with contextlib.suppress(LighterError):
        parse_manifest(raw)
    with contextlib.suppress(LighterError):
        manifest_digest(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | json_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(json_text, children, max_size=3),
    max_leaves=10,
)


@SETTINGS
@given(st.dictionaries(json_text, json_values, max_size=6))
def test_random_json_objects_fail_only_with_lighter_errors(doc: dict[str, Any]) -> None:
    doc.setdefault("schemaVersion", 2)
    with contextlib.suppress(LighterError):
        parse_manifest(json.dumps(doc).encode())


@SETTINGS
@given(manifest_documents())
def test_conversions_keep_blobs(doc: dict[str, Any]) -> None:
    m = parse_manifest(json.dumps(doc).encode())
    assert isinstance(m, ImageManifest | Index)
    to_oci = not m.is_oci
    try:
        converted = m.convert(to_oci)
    except LighterError:
        return  # zstd to Docker and friends: refused, which is tested elsewhere
    assert converted.is_oci == to_oci
    assert parse_manifest(converted.raw) == converted
    if isinstance(m, ImageManifest):
        assert isinstance(converted, ImageManifest)
        assert [(x.digest, x.size) for x in converted.layers] == [(x.digest, x.size) for x in m.layers]
        assert (converted.config.digest, converted.config.size) == (m.config.digest, m.config.size)
    else:
        assert isinstance(converted, Index)
        assert [(x.media_type, x.digest, x.size) for x in converted.manifests] == [
            (x.media_type, x.digest, x.size) for x in m.manifests
        ]


@SETTINGS
@given(st.dictionaries(json_text, json_values, max_size=6))
def test_to_oci_config_is_a_fixed_point_or_refuses(doc: dict[str, Any]) -> None:
    try:
        once = to_oci_config(ImageConfig(data=doc))
    except LighterError:
        return
    assert to_oci_config(parse_config(once.raw)).raw == once.raw


# -- Go JSON and compression -------------------------------------------------------


@SETTINGS
@given(json_values)
def test_go_dumps_is_json_and_ascii_safe_for_html(value: Any) -> None:
    out = go_dumps(value)
    assert json.loads(out) == value
    assert not any(c in out for c in (b"<", b">", b"&"))
    assert "\u2028".encode() not in out


@SETTINGS
@given(st.binary(max_size=200_000), st.sampled_from(["gzip", "zstd", "none"]))
def test_compression_round_trips(data: bytes, algorithm: str) -> None:
    # Uncompressed data is recognised by the absence of a magic number (a tar never starts with one).
    assume(algorithm != "none" or detect(data[:6]) == "none")
    packed = compressed(io.BytesIO(data), algorithm).read()  # type: ignore[arg-type]
    stream = decompressed(io.BytesIO(packed))
    out = bytearray()
    for _ in range(10_000):
        chunk = stream.read(65536)
        if not chunk:
            break
        out += chunk
    assert bytes(out) == data
