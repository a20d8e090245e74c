"""lighter: OCI/Docker images and multi-arch manifest lists, from Python.

The curated public API; everything else is reachable from its subpackage
(``lighter.manifest``, ``lighter.transports``, ``lighter.copy``, ...).

>>> import lighter
>>> lighter.parse_reference("alpine").name
'docker.io/library/alpine'
"""

import typing

from lighter import lists
from lighter.build import commit, unpack
from lighter.copy import CopyOptions, CopyResult, copy_image
from lighter.digest import Digest, VerifyingReader, digest_bytes, parse_digest
from lighter.errors import (
    DigestMismatchError,
    LighterError,
    NoMatchingPlatformError,
    NotFoundError,
)
from lighter.inspect import inspect_image
from lighter.manifest import (
    Descriptor,
    ImageConfig,
    ImageManifest,
    Index,
    manifest_digest,
    parse_manifest,
)
from lighter.platform import Platform, parse_platform
from lighter.reference import Reference, parse_reference
from lighter.transports import ImageReference, TransportOptions, parse_image_name
from lighter.validate import check_image

if typing.TYPE_CHECKING:
    from lighter.copy import CallableCopyModule

    copy: CallableCopyModule
else:
    from lighter import copy

__all__ = [
    "CopyOptions",
    "CopyResult",
    "Descriptor",
    "Digest",
    "DigestMismatchError",
    "ImageConfig",
    "ImageManifest",
    "ImageReference",
    "Index",
    "LighterError",
    "NoMatchingPlatformError",
    "NotFoundError",
    "Platform",
    "Reference",
    "TransportOptions",
    "VerifyingReader",
    "check_image",
    "commit",
    "copy",
    "copy_image",
    "digest_bytes",
    "inspect_image",
    "lists",
    "manifest_digest",
    "parse_digest",
    "parse_image_name",
    "parse_manifest",
    "parse_platform",
    "parse_reference",
    "unpack",
]
