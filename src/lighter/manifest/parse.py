"""Turning manifest bytes into typed manifests, and their digests."""

from __future__ import annotations

import json
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes
from lighter.errors import InvalidManifestError, ManifestTooLargeError, UnsupportedMediaTypeError
from lighter.manifest.image import ImageManifest
from lighter.manifest.index import Index
from lighter.manifest.schema1 import Schema1Manifest, schema1_payload

#: Manifests are capped before parsing (DESIGN.md rule 4), as containers/image does.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

Manifest = ImageManifest | Index | Schema1Manifest


def _load(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_SIZE:
        raise ManifestTooLargeError(f"manifest is {len(raw)} bytes, over the {MAX_MANIFEST_SIZE} byte limit")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidManifestError(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidManifestError(f"manifest must be a JSON object, got {type(data).__name__}")
    return data


def is_manifest_list(data: dict[str, Any]) -> bool:
    """The osbuild rule: a list media type, or no media type but a ``manifests`` key."""
    media_type = data.get("mediaType")
    if media_type in mt.INDEX_TYPES:
        return True
    return media_type is None and data.get("manifests") is not None


def _guess(data: dict[str, Any]) -> str:
    version = data.get("schemaVersion")
    if type(version) is not int:
        # Go refuses true, 2.0 or "2" for an int field; Python would take True == 1.
        raise InvalidManifestError(f"unsupported manifest schemaVersion {version!r} (expected 1 or 2)")
    if version == 1:
        # containers/image: any non-null "signatures" means signed (schema1_payload refuses bad ones)
        return mt.DOCKER_SCHEMA1_SIGNED if data.get("signatures") is not None else mt.DOCKER_SCHEMA1
    if version != 2:
        raise InvalidManifestError(f"unsupported manifest schemaVersion {version!r} (expected 1 or 2)")
    media_type = data.get("mediaType")
    if isinstance(media_type, str) and media_type:
        return media_type
    if data.get("manifests") is not None:
        return mt.OCI_INDEX
    return mt.OCI_MANIFEST


def guess_media_type(raw: bytes) -> str:
    """The media type of manifest bytes, read from their content."""
    return _guess(_load(raw))


def _kind(media_type: str) -> str:
    if mt.is_schema1(media_type):
        return "a schema 1 manifest"
    return "a manifest list" if media_type in mt.INDEX_TYPES else "an image manifest"


def _check_declared(declared: str, body_type: str, explicit: bool) -> None:
    """Refuse a body that is not what the transport said it is.

    With a ``mediaType`` in the body the two must be equal (both schema 1
    types count as one); without one the body's shape (``manifests`` or
    not, ``schemaVersion``) must at least be the same kind as the declared
    type, so an index is never handled as an image or the other way round.
    """
    if explicit:
        if declared != body_type and not (mt.is_schema1(declared) and mt.is_schema1(body_type)):
            raise InvalidManifestError(f"manifest declares media type {body_type} but was served as {declared}")
        return
    if _kind(declared) != _kind(body_type):
        raise InvalidManifestError(
            f"manifest was served as {declared} ({_kind(declared)}) but its body is {_kind(body_type)}"
        )


def parse_manifest(raw: bytes, media_type: str | None = None) -> Manifest:
    """Parse manifest bytes.  ``media_type`` is what the transport declared, if anything.

    The body's own ``mediaType`` wins; a declared type that contradicts it is an error.
    """
    data = _load(raw)
    body_type = _guess(data)
    if media_type and media_type in mt.MANIFEST_TYPES:
        _check_declared(media_type, body_type, "mediaType" in data)
    if mt.is_schema1(body_type):
        return Schema1Manifest.from_json(data, raw)
    if body_type in mt.INDEX_TYPES:
        return Index.from_json(data, raw, body_type)
    if body_type in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
        if data.get("manifests") is not None and "mediaType" not in data:
            return Index.from_json(data, raw, mt.OCI_INDEX)
        return ImageManifest.from_json(data, raw, body_type)
    raise UnsupportedMediaTypeError(f"unsupported manifest media type {body_type}")


def manifest_digest(raw: bytes) -> Digest:
    """The digest skopeo's ``manifest-digest`` prints: of the bytes, or of the JWS payload for signed schema 1."""
    data = _load(raw)
    if type(data.get("schemaVersion")) is int and data["schemaVersion"] == 1 and data.get("signatures") is not None:
        return digest_bytes(schema1_payload(raw, data))
    return digest_bytes(raw)
