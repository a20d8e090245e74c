"""The manifest model: parse and build manifests, indexes and configs.  No I/O."""

from lighter.manifest.config import ImageConfig, parse_config, to_oci_config
from lighter.manifest.descriptor import Descriptor
from lighter.manifest.gojson import go_dumps
from lighter.manifest.image import ImageManifest, build_image_manifest
from lighter.manifest.index import COMPRESSION_ANNOTATION, Index, build_index, mark_compression
from lighter.manifest.parse import (
    MAX_MANIFEST_SIZE,
    Manifest,
    guess_media_type,
    is_manifest_list,
    manifest_digest,
    parse_manifest,
)
from lighter.manifest.schema1 import Schema1Manifest

__all__ = [
    "COMPRESSION_ANNOTATION",
    "MAX_MANIFEST_SIZE",
    "Descriptor",
    "ImageConfig",
    "ImageManifest",
    "Index",
    "Manifest",
    "Schema1Manifest",
    "build_image_manifest",
    "build_index",
    "go_dumps",
    "guess_media_type",
    "is_manifest_list",
    "manifest_digest",
    "mark_compression",
    "parse_config",
    "parse_manifest",
    "to_oci_config",
]
