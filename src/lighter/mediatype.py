"""Every media type lighter knows, in one place, and what each one means."""

from __future__ import annotations

from typing import Final, Literal

Compression = Literal["gzip", "zstd", "none"]

# OCI image-spec
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_ND_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"

# Docker image manifest v2
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_ZSTD: Final = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IN_TOTO: Final = "application/vnd.in-toto+json"

INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
SCHEMA1_TYPES: Final = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
MANIFEST_TYPES: Final = INDEX_TYPES | IMAGE_TYPES

#: What lighter sends as ``Accept`` for manifests: every type it can read.
ACCEPT_MANIFEST: Final = (
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
)

_LAYER_COMPRESSION: Final[dict[str, Compression]] = {
    OCI_LAYER: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_ND: "none",
    OCI_LAYER_ND_GZIP: "gzip",
    OCI_LAYER_ND_ZSTD: "zstd",
    DOCKER_LAYER: "none",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: "none",
    DOCKER_FOREIGN_LAYER_GZIP: "gzip",
}

_OCI_LAYER_FOR: Final[dict[Compression, str]] = {
    "none": OCI_LAYER,
    "gzip": OCI_LAYER_GZIP,
    "zstd": OCI_LAYER_ZSTD,
}
_DOCKER_LAYER_FOR: Final[dict[Compression, str]] = {
    "none": DOCKER_LAYER,
    "gzip": DOCKER_LAYER_GZIP,
    "zstd": DOCKER_LAYER_ZSTD,
}
_ND_OCI_LAYER_FOR: Final[dict[Compression, str]] = {
    "none": OCI_LAYER_ND,
    "gzip": OCI_LAYER_ND_GZIP,
    "zstd": OCI_LAYER_ND_ZSTD,
}
_NON_DISTRIBUTABLE: Final = frozenset(
    {OCI_LAYER_ND, OCI_LAYER_ND_GZIP, OCI_LAYER_ND_ZSTD, DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_GZIP}
)


def is_index(media_type: str | None) -> bool:
    """True for a multi-image type (OCI index, Docker manifest list)."""
    return media_type in INDEX_TYPES


def is_image(media_type: str | None) -> bool:
    """True for a single-image manifest type (OCI, Docker v2s2, schema 1)."""
    return media_type in IMAGE_TYPES


def is_schema1(media_type: str | None) -> bool:
    return media_type in SCHEMA1_TYPES


def is_layer(media_type: str) -> bool:
    return media_type in _LAYER_COMPRESSION


def is_oci(media_type: str) -> bool:
    return media_type.startswith("application/vnd.oci.")


def compression_of(media_type: str) -> Compression | None:
    """The compression a layer media type means; None when it is not a known layer type."""
    return _LAYER_COMPRESSION.get(media_type)


def is_non_distributable(media_type: str) -> bool:
    return media_type in _NON_DISTRIBUTABLE


def layer_type(oci: bool, compression: Compression, non_distributable: bool = False) -> str:
    """The layer media type for a manifest flavour and compression."""
    if oci:
        return (_ND_OCI_LAYER_FOR if non_distributable else _OCI_LAYER_FOR)[compression]
    if non_distributable and compression != "zstd":
        return DOCKER_FOREIGN_LAYER_GZIP if compression == "gzip" else DOCKER_FOREIGN_LAYER
    return _DOCKER_LAYER_FOR[compression]


def convert_layer_type(media_type: str, to_oci: bool) -> str:
    """The same layer in the other manifest flavour; unknown types pass through unchanged."""
    compression = compression_of(media_type)
    if compression is None:
        return media_type
    return layer_type(to_oci, compression, is_non_distributable(media_type))


def with_compression(media_type: str, compression: Compression) -> str:
    """The same kind of layer with another compression."""
    if compression_of(media_type) is None:
        return media_type
    return layer_type(is_oci(media_type), compression, is_non_distributable(media_type))
