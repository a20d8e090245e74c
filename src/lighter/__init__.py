"""lighter: OCI/Docker images and multi-arch manifest lists, from Python.

The curated public API; everything else is reachable from its subpackage
(``lighter.manifest``, ``lighter.transports``, ``lighter.copy``, ...).

>>> import lighter
>>> lighter.parse_reference("alpine").name
'docker.io/library/alpine'
"""

import importlib
import typing

from lighter.digest import Digest, VerifyingReader, digest_bytes, parse_digest
from lighter.errors import (
    DigestMismatchError,
    LighterError,
    NoMatchingPlatformError,
    NotFoundError,
)
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

if typing.TYPE_CHECKING:
    from lighter import lists
    from lighter.build.commit import commit
    from lighter.build.unpack import unpack
    from lighter.copy import CallableCopyModule, CopyOptions, CopyResult, copy_image
    from lighter.inspect import inspect_image
    from lighter.transports import ImageReference, TransportOptions, parse_image_name
    from lighter.validate import check_image

    copy: CallableCopyModule

#: Operations are imported when first used, so that ``import lighter`` (and
#: every CLI run, which imports it) pays only for the pure model and the one
#: operation it runs: a short-lived ``lighter copy`` spent ~50 ms importing
#: lists, build and their dependencies it never touched.
_LAZY: dict[str, str] = {
    "copy": "",
    "lists": "",
    "commit": "lighter.build",
    "unpack": "lighter.build",
    "CopyOptions": "lighter.copy",
    "CopyResult": "lighter.copy",
    "copy_image": "lighter.copy",
    "inspect_image": "lighter.inspect",
    "ImageReference": "lighter.transports",
    "TransportOptions": "lighter.transports",
    "parse_image_name": "lighter.transports",
    "check_image": "lighter.validate",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'lighter' has no attribute {name!r}")
    where = _LAZY[name]
    value = importlib.import_module(f"lighter.{name}") if not where else getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
