"""Manifests, indexes and configs: parsing, building, serialising as Go does, converting."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes, parse_digest
from lighter.errors import (
    InvalidManifestError,
    ManifestTooLargeError,
    NoMatchingPlatformError,
    UnsupportedCompressionError,
    UnsupportedError,
    UnsupportedMediaTypeError,
)
from lighter.manifest import (
    COMPRESSION_ANNOTATION,
    MAX_MANIFEST_SIZE,
    Descriptor,
    ImageConfig,
    ImageManifest,
    Index,
    Schema1Manifest,
    build_image_manifest,
    build_index,
    go_dumps,
    guess_media_type,
    is_manifest_list,
    manifest_digest,
    parse_config,
    parse_manifest,
    to_oci_config,
)
from lighter.platform import Platform, host_platform, parse_platform


def _d(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def _desc(media_type: str, n: int, size: int = 100, **kwargs: Any) -> Descriptor:
    return Descriptor(media_type, parse_digest(_d(n)), size, **kwargs)


OCI_MANIFEST_TEXT = f"""{{
   "schemaVersion": 2,
   "mediaType": "{mt.OCI_MANIFEST}",
   "config": {{"mediaType": "{mt.OCI_CONFIG}", "digest": "{_d(1)}", "size": 7023}},
   "layers": [
      {{"mediaType": "{mt.OCI_LAYER_GZIP}", "digest": "{_d(2)}", "size": 32654,
        "annotations": {{"org.example": "x"}}}},
      {{"size": 16724, "digest": "{_d(3)}", "mediaType": "{mt.OCI_LAYER_ZSTD}",
        "urls": ["https://example.com/blob"]}}
   ],
   "annotations": {{"com.example.key1": "value1"}},
   "x-unknown": [1, 2, {{"deep": true}}]
}}
"""

DOCKER_MANIFEST_TEXT = f"""{{"schemaVersion":2,"mediaType":"{mt.DOCKER_MANIFEST}",
"config":{{"mediaType":"{mt.DOCKER_CONFIG}","size":1469,"digest":"{_d(10)}"}},
"layers":[{{"mediaType":"{mt.DOCKER_LAYER_GZIP}","size":2807964,"digest":"{_d(11)}"}}]}}"""

OCI_INDEX_TEXT = f"""{{
  "schemaVersion": 2,
  "manifests": [
    {{"mediaType": "{mt.OCI_MANIFEST}", "digest": "{_d(20)}", "size": 7143,
      "platform": {{"architecture": "ppc64le", "os": "linux"}}}},
    {{"mediaType": "{mt.OCI_MANIFEST}", "digest": "{_d(21)}", "size": 7682,
      "platform": {{"architecture": "amd64", "os": "linux", "os.features": ["sse4"]}}}}
  ],
  "annotations": {{"com.example.key1": "value1"}}
}}"""

DOCKER_LIST_TEXT = f"""{{"schemaVersion": 2, "mediaType": "{mt.DOCKER_LIST}", "manifests": [
 {{"mediaType": "{mt.DOCKER_MANIFEST}", "size": 7143, "digest": "{_d(30)}",
  "platform": {{"architecture": "arm", "os": "linux", "variant": "v7", "features": ["neon"]}}}},
 {{"mediaType": "{mt.DOCKER_MANIFEST}", "size": 7682, "digest": "{_d(31)}",
  "platform": {{"architecture": "amd64", "os": "linux"}}}}]}}"""


# -- parsing ---------------------------------------------------------------------


def test_parse_oci_manifest_keeps_every_field_and_the_bytes() -> None:
    raw = OCI_MANIFEST_TEXT.encode()
    m = parse_manifest(raw)
    assert isinstance(m, ImageManifest)
    assert m.media_type == mt.OCI_MANIFEST and m.is_oci
    assert m.raw == raw
    assert m.digest == digest_bytes(raw) == manifest_digest(raw)
    assert m.config == _desc(mt.OCI_CONFIG, 1, 7023)
    assert [(layer.media_type, str(layer.digest), layer.size) for layer in m.layers] == [
        (mt.OCI_LAYER_GZIP, _d(2), 32654),
        (mt.OCI_LAYER_ZSTD, _d(3), 16724),
    ]
    assert m.layers[0].annotations == {"org.example": "x"}
    assert m.layers[1].urls == ("https://example.com/blob",)
    assert m.annotations == {"com.example.key1": "value1"}
    assert m.extra == {"x-unknown": [1, 2, {"deep": True}]}


def test_parse_docker_manifest() -> None:
    m = parse_manifest(DOCKER_MANIFEST_TEXT.encode(), mt.DOCKER_MANIFEST)
    assert isinstance(m, ImageManifest)
    assert m.media_type == mt.DOCKER_MANIFEST and not m.is_oci
    assert m.config.media_type == mt.DOCKER_CONFIG
    assert m.layers[0].size == 2807964


def test_parse_oci_index_without_media_type() -> None:
    raw = OCI_INDEX_TEXT.encode()
    index = parse_manifest(raw)
    assert isinstance(index, Index)
    assert index.media_type == mt.OCI_INDEX and index.is_oci
    assert not index.explicit_media_type
    assert index.raw == raw
    assert [str(m.platform) for m in index.manifests] == ["linux/ppc64le", "linux/amd64"]
    assert index.manifests[1].platform == Platform("linux", "amd64", os_features=("sse4",))
    assert index.find(parse_digest(_d(21))) is index.manifests[1]
    assert index.find(parse_digest(_d(99))) is None
    # unchanged: re-serialising is not needed, and an evolve without the mediaType key keeps OCI semantics
    assert "mediaType" not in index.to_json()


def test_parse_docker_list() -> None:
    index = parse_manifest(DOCKER_LIST_TEXT.encode(), mt.DOCKER_LIST)
    assert isinstance(index, Index)
    assert index.media_type == mt.DOCKER_LIST and not index.is_oci
    assert index.manifests[0].platform == Platform("linux", "arm", "v7", features=("neon",))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST}, mt.DOCKER_MANIFEST),
        ({"schemaVersion": 2, "mediaType": mt.DOCKER_LIST, "manifests": []}, mt.DOCKER_LIST),
        ({"schemaVersion": 2, "config": {}, "layers": []}, mt.OCI_MANIFEST),
        ({"schemaVersion": 2, "manifests": []}, mt.OCI_INDEX),
        ({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}, mt.OCI_INDEX),
        ({"schemaVersion": 1, "fsLayers": []}, mt.DOCKER_SCHEMA1),
        ({"schemaVersion": 1, "signatures": [{}]}, mt.DOCKER_SCHEMA1_SIGNED),
    ],
)
def test_guess_media_type(data: dict[str, Any], expected: str) -> None:
    assert guess_media_type(json.dumps(data).encode()) == expected


@pytest.mark.parametrize(
    ("data", "is_list"),
    [
        ({"mediaType": mt.OCI_INDEX, "manifests": []}, True),
        ({"mediaType": mt.DOCKER_LIST, "manifests": []}, True),
        ({"mediaType": mt.OCI_INDEX}, True),
        ({"manifests": []}, True),
        ({"schemaVersion": 2, "manifests": [{"digest": _d(1)}]}, True),
        ({"mediaType": mt.OCI_MANIFEST, "manifests": []}, False),
        ({"mediaType": mt.DOCKER_MANIFEST, "layers": []}, False),
        ({"schemaVersion": 2, "layers": []}, False),
        ({"manifests": None}, False),
        ({}, False),
    ],
)
def test_is_manifest_list_uses_the_osbuild_rule(data: dict[str, Any], is_list: bool) -> None:
    assert is_manifest_list(data) is is_list


def test_manifest_over_4_mib_is_refused_before_parsing() -> None:
    # Not even valid JSON: the size check must come first.
    huge = b"{" + b" " * (5 * 1024 * 1024)
    for call in (parse_manifest, guess_media_type, manifest_digest):
        with pytest.raises(ManifestTooLargeError) as info:
            call(huge)
        assert str(len(huge)) in str(info.value) and str(MAX_MANIFEST_SIZE) in str(info.value)
    assert issubclass(ManifestTooLargeError, InvalidManifestError)


def test_manifest_of_exactly_4_mib_is_accepted() -> None:
    raw = DOCKER_MANIFEST_TEXT.encode()
    padded = raw + b" " * (MAX_MANIFEST_SIZE - len(raw))
    assert len(padded) == MAX_MANIFEST_SIZE
    assert parse_manifest(padded).raw == padded
    with pytest.raises(ManifestTooLargeError):
        parse_manifest(padded + b" ")


@pytest.mark.parametrize("version", [0, 3, "2", 2.0, True, None, [2]])
def test_wrong_schema_version(version: object) -> None:
    raw = json.dumps({"schemaVersion": version, "manifests": []}).encode()
    with pytest.raises(InvalidManifestError, match="schemaVersion"):
        parse_manifest(raw)


def test_missing_schema_version() -> None:
    with pytest.raises(InvalidManifestError, match=r"schemaVersion None \(expected 1 or 2\)"):
        parse_manifest(b'{"manifests": []}')


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"a":1}}', b"\xff\xfe{}", b'{"a": NaN'])
def test_invalid_json(raw: bytes) -> None:
    with pytest.raises(InvalidManifestError, match="not valid JSON"):
        parse_manifest(raw)


@pytest.mark.parametrize("raw", [b"[]", b"2", b'"x"', b"null"])
def test_json_that_is_not_an_object(raw: bytes) -> None:
    with pytest.raises(InvalidManifestError, match="must be a JSON object"):
        parse_manifest(raw)


def test_declared_media_type_conflicting_with_the_body() -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(DOCKER_MANIFEST_TEXT.encode(), mt.OCI_MANIFEST)
    assert mt.DOCKER_MANIFEST in str(info.value) and mt.OCI_MANIFEST in str(info.value)
    with pytest.raises(InvalidManifestError):
        parse_manifest(DOCKER_LIST_TEXT.encode(), mt.OCI_INDEX)


def test_declared_media_type_that_is_not_a_manifest_type_is_ignored() -> None:
    # registries sometimes serve application/json or text/plain
    m = parse_manifest(DOCKER_MANIFEST_TEXT.encode(), "application/json")
    assert m.media_type == mt.DOCKER_MANIFEST


def test_unknown_body_media_type() -> None:
    raw = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example+json"}).encode()
    with pytest.raises(UnsupportedMediaTypeError, match=r"application/vnd\.example"):
        parse_manifest(raw)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["config"].update(size=-1), "config.size"),
        (lambda d: d["config"].update(size=True), "config.size"),
        (lambda d: d["config"].update(size="12"), "config.size"),
        (lambda d: d["config"].pop("size"), "config.size"),
        (lambda d: d["layers"][0].update(digest="sha256:abc"), "layers[0].digest"),
        (lambda d: d["layers"][0].update(digest="sha256:" + "A" * 64), "layers[0].digest"),
        (lambda d: d["layers"][0].pop("digest"), "layers[0].digest"),
        (lambda d: d["layers"][0].update(mediaType=5), "layers[0].mediaType"),
        (lambda d: d["layers"][0].update(urls="http://x"), "layers[0].urls"),
        (lambda d: d["layers"][0].update(annotations={"a": 1}), "layers[0].annotations"),
        (lambda d: d.update(layers={}), "layers"),
        (lambda d: d.update(layers=["x"]), "layers[0]"),
        (lambda d: d.update(config=None), "config"),
        (lambda d: d.update(annotations=[]), "annotations"),
    ],
)
def test_malformed_manifest_fields_are_named(mutate: Any, fragment: str) -> None:
    data = json.loads(DOCKER_MANIFEST_TEXT)
    mutate(data)
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(json.dumps(data).encode())
    assert fragment in str(info.value)


def test_malformed_index_fields_are_named() -> None:
    with pytest.raises(InvalidManifestError, match="manifests: expected a list"):
        parse_manifest(b'{"schemaVersion":2,"mediaType":"' + mt.OCI_INDEX.encode() + b'","manifests":{}}')
    data = json.loads(OCI_INDEX_TEXT)
    data["manifests"][1]["platform"] = "linux/amd64"
    with pytest.raises(InvalidManifestError, match=r"manifests\[1\].platform"):
        parse_manifest(json.dumps(data).encode())


# -- serialising like Go -----------------------------------------------------------


def test_oci_manifest_field_order_is_image_specs() -> None:
    m = ImageManifest(
        media_type=mt.OCI_MANIFEST,
        artifact_type="application/vnd.example",
        config=_desc(mt.OCI_CONFIG, 1, 10, urls=("u",), annotations={"b": "2", "a": "1"}),
        layers=(_desc(mt.OCI_LAYER_GZIP, 2, 20, data="e30=", artifact_type="x"),),
        subject=_desc(mt.OCI_MANIFEST, 3, 30),
        annotations={"z": "1", "a": "2"},
    )
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"artifactType":"application/vnd.example",'
        f'"config":{{"mediaType":"{mt.OCI_CONFIG}","digest":"{_d(1)}","size":10,"urls":["u"],'
        '"annotations":{"a":"1","b":"2"}},'
        f'"layers":[{{"mediaType":"{mt.OCI_LAYER_GZIP}","digest":"{_d(2)}","size":20,"data":"e30=",'
        '"artifactType":"x"}],'
        f'"subject":{{"mediaType":"{mt.OCI_MANIFEST}","digest":"{_d(3)}","size":30}},'
        '"annotations":{"a":"2","z":"1"}}'
    )
    assert m.raw.decode() == expected
    assert parse_manifest(m.raw) == m


def test_docker_manifest_field_order_is_schema2s() -> None:
    m = build_image_manifest(_desc(mt.DOCKER_CONFIG, 1, 10), [_desc(mt.DOCKER_LAYER_GZIP, 2, 20)], oci=False)
    assert m.raw.decode() == (
        f'{{"schemaVersion":2,"mediaType":"{mt.DOCKER_MANIFEST}",'
        f'"config":{{"mediaType":"{mt.DOCKER_CONFIG}","size":10,"digest":"{_d(1)}"}},'
        f'"layers":[{{"mediaType":"{mt.DOCKER_LAYER_GZIP}","size":20,"digest":"{_d(2)}"}}]}}'
    )


def test_build_oci_manifest_without_layers() -> None:
    m = build_image_manifest(_desc(mt.OCI_CONFIG, 1, 10), [])
    assert json.loads(m.raw)["layers"] == []
    assert m.digest == digest_bytes(m.raw)


def test_oci_index_field_order() -> None:
    index = build_index(
        [
            _desc(
                mt.OCI_MANIFEST,
                1,
                10,
                platform=Platform("linux", "arm", "v7", os_version="1", os_features=("f",)),
                annotations={"y": "1", "x": "2"},
            )
        ],
        annotations={"b": "1", "a": "1"},
    )
    assert index.raw.decode() == (
        f'{{"schemaVersion":2,"mediaType":"{mt.OCI_INDEX}","manifests":[{{"mediaType":"{mt.OCI_MANIFEST}",'
        f'"digest":"{_d(1)}","size":10,"annotations":{{"x":"2","y":"1"}},'
        '"platform":{"architecture":"arm","os":"linux","os.version":"1","os.features":["f"],"variant":"v7"}}],'
        '"annotations":{"a":"1","b":"1"}}'
    )


def test_docker_list_field_order_and_platform_never_omitted() -> None:
    index = build_index(
        [_desc(mt.DOCKER_MANIFEST, 1, 10, platform=parse_platform("linux/arm64/v8")), _desc(mt.DOCKER_MANIFEST, 2, 5)],
        oci=False,
    )
    assert index.raw.decode() == (
        f'{{"schemaVersion":2,"mediaType":"{mt.DOCKER_LIST}","manifests":['
        f'{{"mediaType":"{mt.DOCKER_MANIFEST}","size":10,"digest":"{_d(1)}",'
        '"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},'
        f'{{"mediaType":"{mt.DOCKER_MANIFEST}","size":5,"digest":"{_d(2)}",'
        '"platform":{"architecture":"","os":""}}]}'
    )


def test_evolve_reserialises_and_keeps_unknown_fields() -> None:
    m = parse_manifest(OCI_MANIFEST_TEXT.encode())
    assert isinstance(m, ImageManifest)
    changed = m.evolve(annotations={"new": "1"})
    assert changed.raw != m.raw
    data = json.loads(changed.raw)
    assert data["annotations"] == {"new": "1"}
    assert data["x-unknown"] == [1, 2, {"deep": True}]
    assert list(data)[:4] == ["schemaVersion", "mediaType", "config", "layers"]
    again = parse_manifest(changed.raw)
    assert again == changed


def test_evolve_of_index_without_media_type_adds_it() -> None:
    index = parse_manifest(OCI_INDEX_TEXT.encode())
    assert isinstance(index, Index)
    changed = index.evolve(manifests=index.manifests[:1])
    assert json.loads(changed.raw)["mediaType"] == mt.OCI_INDEX


# -- gojson ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "go"),
    [
        ({"a": "<b>&"}, b'{"a":"\\u003cb\\u003e\\u0026"}'),
        ({"k": "caf\u00e9 \u65e5\u672c"}, '{"k":"café 日本"}'.encode()),
        ({"k": "\u2028\u2029"}, b'{"k":"\\u2028\\u2029"}'),
        ({"k": "\ud800"}, '{"k":"\ufffd"}'.encode()),
        ({"k": '\x00\x1f\n\t\r"\\'}, b'{"k":"\\u0000\\u001f\\n\\t\\r\\"\\\\"}'),
        ({"k": "\x7f/"}, b'{"k":"\x7f/"}'),
        ({"z": 1, "a": [True, False, None, -5, 10**18]}, b'{"z":1,"a":[true,false,null,-5,1000000000000000000]}'),
        ({}, b"{}"),
        ([], b"[]"),
        ({"e": {}, "l": []}, b'{"e":{},"l":[]}'),
        ({"\u00e9<": 1}, '{"é\\u003c":1}'.encode()),
    ],
)
def test_go_dumps_matches_go_json_marshal(value: Any, go: bytes) -> None:
    assert go_dumps(value) == go


def test_go_dumps_refuses_nan() -> None:
    with pytest.raises(ValueError):
        go_dumps({"x": float("nan")})


# -- conversions -------------------------------------------------------------------


def _oci_image(*layer_types: str) -> ImageManifest:
    layers = [_desc(t, 100 + i, 1000 + i) for i, t in enumerate(layer_types)]
    return build_image_manifest(_desc(mt.OCI_CONFIG, 1, 10), layers)


def test_oci_to_docker_changes_only_media_types() -> None:
    oci = _oci_image(mt.OCI_LAYER_GZIP, mt.OCI_LAYER, mt.OCI_LAYER_ND, mt.OCI_LAYER_ND_GZIP)
    docker = oci.convert(to_oci=False)
    assert docker.media_type == mt.DOCKER_MANIFEST and not docker.is_oci
    assert docker.config == _desc(mt.DOCKER_CONFIG, 1, 10)
    assert [layer.media_type for layer in docker.layers] == [
        mt.DOCKER_LAYER_GZIP,
        mt.DOCKER_LAYER,
        mt.DOCKER_FOREIGN_LAYER,
        mt.DOCKER_FOREIGN_LAYER_GZIP,
    ]
    assert [(layer.digest, layer.size) for layer in docker.layers] == [(x.digest, x.size) for x in oci.layers]
    assert docker.convert(to_oci=False) is docker
    back = docker.convert(to_oci=True)
    assert back.raw == oci.raw


def test_conversion_drops_what_the_target_cannot_carry() -> None:
    m = parse_manifest(OCI_MANIFEST_TEXT.replace(mt.OCI_LAYER_ZSTD, mt.OCI_LAYER).encode())
    assert isinstance(m, ImageManifest)
    docker = m.convert(to_oci=False)
    data = json.loads(docker.raw)
    assert set(data) == {"schemaVersion", "mediaType", "config", "layers"}
    assert "annotations" not in data["layers"][0]
    assert data["layers"][1]["urls"] == ["https://example.com/blob"]


@pytest.mark.parametrize("layer_type", [mt.OCI_LAYER_ZSTD, mt.OCI_LAYER_ND_ZSTD])
def test_zstd_layers_cannot_go_to_docker(layer_type: str) -> None:
    with pytest.raises(UnsupportedCompressionError, match="zstd"):
        _oci_image(mt.OCI_LAYER_GZIP, layer_type).convert(to_oci=False)
    assert issubclass(UnsupportedCompressionError, UnsupportedError)


def test_unknown_layer_types_are_not_converted() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="encrypted"):
        _oci_image("application/vnd.oci.image.layer.v1.tar+gzip+encrypted").convert(to_oci=False)


def test_artifacts_are_not_converted_to_docker() -> None:
    artifact = build_image_manifest(_desc("application/vnd.example.config", 1, 2), [])
    with pytest.raises(UnsupportedMediaTypeError, match="artifact"):
        artifact.convert(to_oci=False)


def test_docker_to_oci_with_the_config_points_at_the_converted_config() -> None:
    config = ImageConfig(data={"architecture": "amd64", "os": "linux", "docker_version": "20", "rootfs": {}})
    docker = build_image_manifest(
        Descriptor(mt.DOCKER_CONFIG, config.digest, len(config.raw)), [_desc(mt.DOCKER_LAYER_GZIP, 2)], oci=False
    )
    oci_config = to_oci_config(config)
    assert b"docker_version" not in oci_config.raw
    oci = docker.convert(to_oci=True, config=config)
    assert oci.config == Descriptor(mt.OCI_CONFIG, oci_config.digest, len(oci_config.raw))
    assert docker.convert(to_oci=True).config.digest == config.digest


def test_index_conversion_keeps_instances_and_fills_docker_platforms() -> None:
    index = parse_manifest(OCI_INDEX_TEXT.encode())
    assert isinstance(index, Index)
    index = index.evolve(
        manifests=(*index.manifests, _desc(mt.OCI_MANIFEST, 9, 9, annotations={"a": "b"}, urls=("u",)))
    )
    docker = index.convert(to_oci=False)
    assert docker.media_type == mt.DOCKER_LIST
    assert [(m.media_type, m.digest, m.size) for m in docker.manifests] == [
        (m.media_type, m.digest, m.size) for m in index.manifests
    ]
    host = host_platform()
    assert docker.manifests[2].platform == Platform(host.os, host.architecture)
    assert docker.manifests[2].urls == ("u",)
    data = json.loads(docker.raw)
    assert set(data) == {"schemaVersion", "mediaType", "manifests"}
    assert all("annotations" not in m for m in data["manifests"])
    oci = docker.convert(to_oci=True)
    assert oci.is_oci and oci.annotations == {}


def test_docker_list_to_oci_drops_platform_features() -> None:
    index = parse_manifest(DOCKER_LIST_TEXT.encode())
    assert isinstance(index, Index)
    oci = index.convert(to_oci=True)
    assert oci.manifests[0].platform == Platform("linux", "arm", "v7")
    assert "features" not in oci.raw.decode()


# -- choosing an instance ----------------------------------------------------------


def _index(*entries: tuple[str, str | None, dict[str, str]]) -> Index:
    manifests = [
        _desc(media_type, i, 10, platform=parse_platform(p) if p else None, annotations=annotations)
        for i, (media_type, p, annotations) in enumerate(entries)
    ]
    return build_index(manifests)


def test_choose_skips_zstd_variants_and_attestations() -> None:
    index = _index(
        (mt.OCI_MANIFEST, "linux/amd64", {COMPRESSION_ANNOTATION: "true"}),
        (mt.OCI_MANIFEST, "unknown/unknown", {"vnd.docker.reference.type": "attestation-manifest"}),
        (mt.IN_TOTO, "linux/amd64", {}),
        (mt.OCI_MANIFEST, "linux/amd64", {}),
    )
    assert index.choose(parse_platform("linux/amd64")) is index.manifests[3]


def test_choose_never_returns_an_attestation_or_zstd_variant() -> None:
    index = _index(
        (mt.OCI_MANIFEST, "linux/arm64", {COMPRESSION_ANNOTATION: "true"}),
        (mt.OCI_MANIFEST, "unknown/unknown", {"vnd.docker.reference.type": "attestation-manifest"}),
        (mt.OCI_MANIFEST, None, {"vnd.docker.reference.type": "attestation-manifest"}),
        (mt.IN_TOTO, None, {}),
        (mt.OCI_INDEX, None, {}),
        (mt.OCI_MANIFEST, "linux/amd64", {}),
    )
    with pytest.raises(NoMatchingPlatformError) as info:
        index.choose(parse_platform("linux/arm64"))
    assert "available: linux/amd64" in str(info.value)


def test_choose_prefers_compatible_variants_in_order() -> None:
    index = _index(
        (mt.DOCKER_MANIFEST, "linux/arm/v5", {}),
        (mt.DOCKER_MANIFEST, "linux/arm/v6", {}),
        (mt.DOCKER_MANIFEST, "linux/arm64/v8", {}),
    )
    assert index.choose(parse_platform("linux/arm/v7")) is index.manifests[1]
    assert index.choose(parse_platform("linux/arm64")) is index.manifests[2]


def test_choose_falls_back_to_an_instance_without_platform() -> None:
    # containers/image picks a platform-less instance of an OCI index when nothing names a fitting platform
    index = _index((mt.OCI_MANIFEST, "linux/s390x", {}), (mt.OCI_MANIFEST, None, {}))
    assert index.choose(parse_platform("linux/amd64")) is index.manifests[1]
    assert index.choose(parse_platform("linux/s390x")) is index.manifests[0]


# -- configs -----------------------------------------------------------------------


def test_parse_config_properties() -> None:
    raw = json.dumps(
        {
            "architecture": "arm",
            "variant": "v7",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "author": "me",
            "docker_version": "24",
            "config": {"Env": ["A=1"], "Labels": {"l": "v"}},
            "rootfs": {"type": "layers", "diff_ids": [_d(1)]},
            "history": [{"created_by": "x"}, "junk"],
        },
        indent=2,
    ).encode()
    c = parse_config(raw)
    assert c.raw == raw and c.digest == digest_bytes(raw)
    assert c.platform == Platform("linux", "arm", "v7")
    assert (c.created, c.author, c.docker_version) == ("2024-01-01T00:00:00Z", "me", "24")
    assert c.env == ["A=1"] and c.labels == {"l": "v"}
    assert c.diff_ids == [parse_digest(_d(1))]
    assert c.history == [{"created_by": "x"}]


def test_config_errors() -> None:
    with pytest.raises(InvalidManifestError, match="not valid JSON"):
        parse_config(b"{")
    with pytest.raises(InvalidManifestError, match="JSON object"):
        parse_config(b"[]")
    bad = parse_config(b'{"rootfs": {"diff_ids": ["sha256:12"]}}')
    with pytest.raises(InvalidManifestError, match=r"diff_ids\[0\]"):
        _ = bad.diff_ids


def test_empty_config_has_empty_properties() -> None:
    c = parse_config(b"{}")
    assert c.env == [] and c.labels == {} and c.diff_ids == [] and c.created is None
    assert c.runtime == {}


def test_to_oci_config_writes_the_v1_image_struct() -> None:
    config = ImageConfig(
        data={
            "docker_version": "20.10",
            "container_config": {"Cmd": ["x"]},
            "history": [{"created_by": "sh", "created": "2020-01-01T00:00:00.000000000Z", "empty_layer": False}],
            "rootfs": {"type": "layers", "diff_ids": [_d(1)]},
            "config": {"Hostname": "h", "Labels": {"b": "1", "a": "<2>"}, "Env": [], "Cmd": None, "OnBuild": None},
            "OS": "linux",
            "architecture": "amd64",
            "created": "2020-01-01T01:02:03.100+00:00",
        }
    )
    assert to_oci_config(config).raw.decode() == (
        '{"created":"2020-01-01T01:02:03.1Z","architecture":"amd64","os":"linux",'
        '"config":{"Labels":{"a":"\\u003c2\\u003e","b":"1"}},'
        f'"rootfs":{{"type":"layers","diff_ids":["{_d(1)}"]}},'
        '"history":[{"created":"2020-01-01T00:00:00Z","created_by":"sh"}]}'
    )


def test_to_oci_config_of_an_empty_config() -> None:
    assert (
        to_oci_config(ImageConfig(data={})).raw
        == b'{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}'
    )


@pytest.mark.parametrize(
    ("created", "go"),
    [
        ("2021-02-03T04:05:06Z", "2021-02-03T04:05:06Z"),
        ("2021-02-03T04:05:06.000Z", "2021-02-03T04:05:06Z"),
        ("2021-02-03T04:05:06.123456789123Z", "2021-02-03T04:05:06.123456789Z"),
        ("2021-02-03T04:05:06.5-00:00", "2021-02-03T04:05:06.5Z"),
        ("2021-02-03T04:05:06+05:30", "2021-02-03T04:05:06+05:30"),
    ],
)
def test_to_oci_config_times_as_go_marshals_them(created: str, go: str) -> None:
    assert json.loads(to_oci_config(ImageConfig(data={"created": created})).raw)["created"] == go


@pytest.mark.parametrize(
    "data",
    [
        {"created": "yesterday"},
        {"created": "2021-13-03T04:05:06Z"},
        {"created": 5},
        {"architecture": 5},
        {"config": {"Env": "A=1"}},
        {"config": {"Labels": {"a": 1}}},
        {"config": {"ExposedPorts": {"80/tcp": 1}}},
        {"config": {"ArgsEscaped": "yes"}},
        {"config": []},
        {"history": {}},
        {"rootfs": {"diff_ids": [1]}},
    ],
)
def test_to_oci_config_refuses_what_go_cannot_decode(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidManifestError, match="image config"):
        to_oci_config(ImageConfig(data=data))


def test_schema1_is_parsed_read_only() -> None:
    raw = json.dumps(
        {
            "schemaVersion": 1,
            "name": "a/b",
            "tag": "t",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": _d(2)}, {"blobSum": _d(1)}, {"blobSum": _d(2)}],
            "history": [{"v1Compatibility": '{"id": "x", "config": {"Env": ["A=1"]}}'}, {"v1Compatibility": "{}"}],
        }
    ).encode()
    m = parse_manifest(raw)
    assert isinstance(m, Schema1Manifest)
    assert m.media_type == mt.DOCKER_SCHEMA1 and not m.is_oci
    assert (m.name, m.tag, m.architecture) == ("a/b", "t", "amd64")
    assert [str(layer.digest) for layer in m.layers] == [_d(2), _d(1)]  # base first, unique
    assert all(layer.size == -1 for layer in m.layers)
    assert m.v1_compatibility()["config"] == {"Env": ["A=1"]}
    assert m.digest == digest_bytes(raw) == manifest_digest(raw)


def test_digest_type_is_exposed() -> None:
    m = parse_manifest(DOCKER_MANIFEST_TEXT.encode())
    assert isinstance(m.digest, Digest)


def test_top_level_annotations_must_be_strings() -> None:
    data = json.loads(OCI_INDEX_TEXT)
    data["annotations"] = {"a": 1}
    with pytest.raises(InvalidManifestError, match="annotations"):
        parse_manifest(json.dumps(data).encode())


# -- against skopeo: the same conversions give the same bytes ----------------------
#
# Layouts are written by hand here (not through lighter's transports) so that
# these tests check only the model against skopeo.


def _skopeo(tmp: Path, *args: str) -> str:
    policy = tmp / "policy.json"
    if not policy.exists():
        policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    done = subprocess.run(
        ["skopeo", "--policy", str(policy), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _layer(seed: int) -> tuple[bytes, bytes]:
    """(tar, gzip of the tar) with one small file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"content {seed}\n".encode() * (seed + 1)
        info = tarfile.TarInfo(f"file-{seed}.txt")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    plain = buffer.getvalue()
    return plain, gzip.compress(plain, mtime=0)


class _Blobs:
    """Writes blobs into an OCI layout's ``blobs/sha256`` or a ``dir:`` image's top level."""

    def __init__(self, root: Path, oci: bool) -> None:
        self.root = root
        self.dir = root / "blobs" / "sha256" if oci else root
        self.dir.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> Digest:
        digest = digest_bytes(data)
        (self.dir / digest.hex).write_bytes(data)
        return digest

    def read(self, digest: Digest) -> bytes:
        return (self.dir / digest.hex).read_bytes()


def _image(blobs: _Blobs, seed: int, oci: bool, arch: str = "amd64", variant: str = "") -> ImageManifest:
    """A pretty-printed manifest (so any re-serialisation shows) with a gzip and an uncompressed layer."""
    (tar1, gz1), (tar2, _) = _layer(seed), _layer(seed + 100)
    config: dict[str, Any] = {
        "created": "2024-05-06T07:08:09.123400000Z",
        "architecture": arch,
        "os": "linux",
        "docker_version": "24.0",
        "config": {"Env": ["PATH=/usr/bin", f"SEED={seed}"], "Labels": {"z": "1", "a": "<&>"}, "Cmd": ["sh"]},
        "container_config": {"Hostname": "x"},
        "rootfs": {"type": "layers", "diff_ids": [str(digest_bytes(tar1)), str(digest_bytes(tar2))]},
        "history": [{"created_by": "one", "created": "2024-05-06T07:08:09+02:00"}, {"created_by": "two"}],
    }
    if variant:
        config["variant"] = variant
    config_raw = json.dumps(config, indent=2).encode()
    layers = [
        {"mediaType": mt.layer_type(oci, "gzip"), "digest": str(blobs.put(gz1)), "size": len(gz1)},
        {"mediaType": mt.layer_type(oci, "none"), "digest": str(blobs.put(tar2)), "size": len(tar2)},
    ]
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG,
            "digest": str(blobs.put(config_raw)),
            "size": len(config_raw),
        },
        "layers": layers,
    }
    if oci:
        layers[0]["annotations"] = {"org.example.layer": "yes"}
        manifest["annotations"] = {"org.opencontainers.image.created": "today"}
    raw = json.dumps(manifest, indent=3).encode()
    blobs.put(raw)
    parsed = parse_manifest(raw)
    assert isinstance(parsed, ImageManifest)
    return parsed


def _write_oci_layout(root: Path, top: ImageManifest | Index) -> None:
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": top.media_type,
                "digest": str(top.digest),
                "size": len(top.raw),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def _write_dir(root: Path, top: ImageManifest | Index) -> None:
    (root / "manifest.json").write_bytes(top.raw)
    (root / "version").write_text("Directory Transport Version: 1.1\n")


def _config_of(blobs: _Blobs, image: ImageManifest) -> ImageConfig:
    return parse_config(blobs.read(image.config.digest))


@pytest.mark.interop
def test_skopeo_oci_to_docker_writes_what_convert_writes(tmp_path: Path) -> None:
    src = tmp_path / "oci"
    blobs = _Blobs(src, oci=True)
    image = _image(blobs, 1, oci=True)
    _write_oci_layout(src, image)
    _skopeo(tmp_path, "copy", "-q", "--format", "v2s2", f"oci:{src}:latest", f"dir:{tmp_path / 'out'}")
    written = (tmp_path / "out" / "manifest.json").read_bytes()
    expected = image.convert(to_oci=False)
    assert written == expected.raw
    # the config blob is copied as it is
    assert (tmp_path / "out" / image.config.digest.hex).read_bytes() == blobs.read(image.config.digest)
    assert _skopeo(tmp_path, "manifest-digest", str(tmp_path / "out" / "manifest.json")).strip() == str(
        manifest_digest(written)
    )


@pytest.mark.interop
def test_skopeo_docker_to_oci_writes_what_convert_writes(tmp_path: Path) -> None:
    src = tmp_path / "docker"
    blobs = _Blobs(src, oci=False)
    image = _image(blobs, 2, oci=False)
    _write_dir(src, image)
    out = tmp_path / "out"
    _skopeo(tmp_path, "copy", "-q", "--format", "oci", f"dir:{src}", f"dir:{out}")
    written = (out / "manifest.json").read_bytes()
    config = _config_of(blobs, image)
    expected = image.convert(to_oci=True, config=config)
    assert written == expected.raw
    assert (out / expected.config.digest.hex).read_bytes() == to_oci_config(config).raw


@pytest.mark.interop
def test_skopeo_list_conversions_write_what_convert_writes(tmp_path: Path) -> None:
    src = tmp_path / "oci"
    blobs = _Blobs(src, oci=True)
    images = [_image(blobs, 10, True, "amd64"), _image(blobs, 11, True, "arm", "v7"), _image(blobs, 12, True, "s390x")]
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm", "v7", os_features=("f",)), None]
    index = build_index(
        [
            Descriptor(mt.OCI_MANIFEST, m.digest, len(m.raw), annotations={"a": "b"}, platform=p)
            for m, p in zip(images, platforms, strict=True)
        ],
        annotations={"org.example": "index"},
    )
    blobs.put(index.raw)
    _write_oci_layout(src, index)

    docker_dir = tmp_path / "docker"
    _skopeo(tmp_path, "copy", "-q", "--all", "--format", "v2s2", f"oci:{src}:latest", f"dir:{docker_dir}")
    converted = [m.convert(to_oci=False) for m in images]
    for m in converted:
        assert (docker_dir / f"{m.digest.hex}.manifest.json").read_bytes() == m.raw
    expected_list = index.evolve(
        manifests=tuple(
            d.evolve(media_type=m.media_type, digest=m.digest, size=len(m.raw))
            for d, m in zip(index.manifests, converted, strict=True)
        )
    ).convert(to_oci=False)
    written = (docker_dir / "manifest.json").read_bytes()
    assert written == expected_list.raw
    assert _skopeo(tmp_path, "manifest-digest", str(docker_dir / "manifest.json")).strip() == str(
        manifest_digest(written)
    )

    # and back: Docker list -> OCI index, each image's config rewritten
    oci_dir = tmp_path / "back"
    _skopeo(tmp_path, "copy", "-q", "--all", "--format", "oci", f"dir:{docker_dir}", f"dir:{oci_dir}")
    docker_blobs = _Blobs(docker_dir, oci=False)
    back = [m.convert(to_oci=True, config=_config_of(docker_blobs, m)) for m in converted]
    for m in back:
        assert (oci_dir / f"{m.digest.hex}.manifest.json").read_bytes() == m.raw
    expected_index = expected_list.evolve(
        manifests=tuple(
            d.evolve(media_type=m.media_type, digest=m.digest, size=len(m.raw))
            for d, m in zip(expected_list.manifests, back, strict=True)
        )
    ).convert(to_oci=True)
    assert (oci_dir / "manifest.json").read_bytes() == expected_index.raw
