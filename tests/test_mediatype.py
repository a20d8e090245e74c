"""Media types: which are lists, images, layers; compression; OCI <-> Docker layer types."""

from __future__ import annotations

import pytest

from lighter import mediatype as mt

ALL_LAYERS = {
    mt.OCI_LAYER: "none",
    mt.OCI_LAYER_GZIP: "gzip",
    mt.OCI_LAYER_ZSTD: "zstd",
    mt.OCI_LAYER_ND: "none",
    mt.OCI_LAYER_ND_GZIP: "gzip",
    mt.OCI_LAYER_ND_ZSTD: "zstd",
    mt.DOCKER_LAYER: "none",
    mt.DOCKER_LAYER_GZIP: "gzip",
    mt.DOCKER_LAYER_ZSTD: "zstd",
    mt.DOCKER_FOREIGN_LAYER: "none",
    mt.DOCKER_FOREIGN_LAYER_GZIP: "gzip",
}


def test_the_media_type_strings_are_the_registered_ones() -> None:
    assert mt.OCI_MANIFEST == "application/vnd.oci.image.manifest.v1+json"
    assert mt.OCI_INDEX == "application/vnd.oci.image.index.v1+json"
    assert mt.OCI_CONFIG == "application/vnd.oci.image.config.v1+json"
    assert mt.OCI_LAYER_GZIP == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert mt.OCI_LAYER_ND_ZSTD == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    assert mt.DOCKER_MANIFEST == "application/vnd.docker.distribution.manifest.v2+json"
    assert mt.DOCKER_LIST == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert mt.DOCKER_CONFIG == "application/vnd.docker.container.image.v1+json"
    assert mt.DOCKER_LAYER_GZIP == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert mt.DOCKER_FOREIGN_LAYER == "application/vnd.docker.image.rootfs.foreign.diff.tar"
    assert mt.DOCKER_SCHEMA1 == "application/vnd.docker.distribution.manifest.v1+json"
    assert mt.DOCKER_SCHEMA1_SIGNED == "application/vnd.docker.distribution.manifest.v1+prettyjws"


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_LIST])
def test_lists_are_multi_image(media_type: str) -> None:
    assert mt.is_index(media_type)
    assert not mt.is_image(media_type)
    assert not mt.is_layer(media_type)


@pytest.mark.parametrize(
    "media_type", [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED]
)
def test_images_are_single_image(media_type: str) -> None:
    assert mt.is_image(media_type)
    assert not mt.is_index(media_type)
    assert media_type in mt.MANIFEST_TYPES


@pytest.mark.parametrize("media_type", [None, "", "application/json", mt.OCI_CONFIG, mt.OCI_LAYER, mt.IN_TOTO])
def test_other_types_are_neither(media_type: str | None) -> None:
    assert not mt.is_index(media_type)
    assert not mt.is_image(media_type)


def test_schema1_types() -> None:
    assert mt.is_schema1(mt.DOCKER_SCHEMA1)
    assert mt.is_schema1(mt.DOCKER_SCHEMA1_SIGNED)
    assert not mt.is_schema1(mt.DOCKER_MANIFEST)
    assert not mt.is_schema1(None)


def test_accept_header_lists_every_manifest_type() -> None:
    assert set(mt.ACCEPT_MANIFEST) == set(mt.MANIFEST_TYPES)


@pytest.mark.parametrize(("media_type", "compression"), sorted(ALL_LAYERS.items()))
def test_layer_compression(media_type: str, compression: str) -> None:
    assert mt.is_layer(media_type)
    assert mt.compression_of(media_type) == compression


@pytest.mark.parametrize("media_type", [mt.OCI_CONFIG, mt.OCI_MANIFEST, "application/octet-stream", ""])
def test_non_layers_have_no_compression(media_type: str) -> None:
    assert not mt.is_layer(media_type)
    assert mt.compression_of(media_type) is None


def test_non_distributable() -> None:
    nd = {t for t in ALL_LAYERS if mt.is_non_distributable(t)}
    assert nd == {
        mt.OCI_LAYER_ND,
        mt.OCI_LAYER_ND_GZIP,
        mt.OCI_LAYER_ND_ZSTD,
        mt.DOCKER_FOREIGN_LAYER,
        mt.DOCKER_FOREIGN_LAYER_GZIP,
    }


# containers/image's image/fixtures/oci1-all-media-types{,-to-schema2}.json pairs.
OCI_TO_DOCKER = [
    (mt.OCI_LAYER, mt.DOCKER_LAYER),
    (mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_GZIP),
    (mt.OCI_LAYER_ND, mt.DOCKER_FOREIGN_LAYER),
    (mt.OCI_LAYER_ND_GZIP, mt.DOCKER_FOREIGN_LAYER_GZIP),
]


@pytest.mark.parametrize(("oci", "docker"), OCI_TO_DOCKER)
def test_convert_layer_type_both_ways(oci: str, docker: str) -> None:
    assert mt.convert_layer_type(oci, to_oci=False) == docker
    assert mt.convert_layer_type(docker, to_oci=True) == oci
    assert mt.convert_layer_type(oci, to_oci=True) == oci
    assert mt.convert_layer_type(docker, to_oci=False) == docker


def test_convert_unknown_type_passes_through() -> None:
    odd = "application/vnd.example.thing"
    assert mt.convert_layer_type(odd, True) == odd
    assert mt.with_compression(odd, "gzip") == odd


@pytest.mark.parametrize("oci", [True, False])
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_layer_type_round_trips_through_compression_of(oci: bool, compression: mt.Compression) -> None:
    media_type = mt.layer_type(oci, compression)
    assert mt.compression_of(media_type) == compression
    assert mt.is_oci(media_type) == oci
    assert not mt.is_non_distributable(media_type)


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_non_distributable_layer_types(compression: mt.Compression) -> None:
    media_type = mt.layer_type(True, compression, non_distributable=True)
    assert mt.is_non_distributable(media_type)
    assert mt.compression_of(media_type) == compression


def test_with_compression_keeps_flavour_and_distributability() -> None:
    assert mt.with_compression(mt.OCI_LAYER, "gzip") == mt.OCI_LAYER_GZIP
    assert mt.with_compression(mt.OCI_LAYER_GZIP, "zstd") == mt.OCI_LAYER_ZSTD
    assert mt.with_compression(mt.OCI_LAYER_ZSTD, "none") == mt.OCI_LAYER
    assert mt.with_compression(mt.DOCKER_LAYER_GZIP, "none") == mt.DOCKER_LAYER
    assert mt.with_compression(mt.OCI_LAYER_ND, "gzip") == mt.OCI_LAYER_ND_GZIP
    assert mt.with_compression(mt.DOCKER_FOREIGN_LAYER_GZIP, "none") == mt.DOCKER_FOREIGN_LAYER
    assert mt.with_compression(mt.DOCKER_FOREIGN_LAYER, "gzip") == mt.DOCKER_FOREIGN_LAYER_GZIP


def test_is_oci() -> None:
    assert mt.is_oci(mt.OCI_MANIFEST)
    assert mt.is_oci(mt.OCI_EMPTY)
    assert not mt.is_oci(mt.DOCKER_MANIFEST)
