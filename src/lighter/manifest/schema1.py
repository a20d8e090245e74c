"""Docker image manifest v2 schema 1 (read-only: lighter never writes schema 1).

A signed schema 1 manifest is a "pretty JWS": the payload with a
``signatures`` key spliced in.  Its digest is taken over the payload with
the signatures removed, which libtrust reconstructs from the protected
header's ``formatLength`` and ``formatTail``; skopeo does the same.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes, parse_digest
from lighter.errors import InvalidDigestError, InvalidManifestError
from lighter.manifest.descriptor import Descriptor


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def schema1_payload(raw: bytes, data: dict[str, Any]) -> bytes:
    """The signed payload of a pretty-JWS manifest (``raw`` itself when unsigned).

    As containers/image, any ``signatures`` that is not null makes the
    manifest signed.  An empty list is refused: libtrust would take the
    payload to be empty and skopeo prints the digest of no bytes at all.
    """
    signatures = data.get("signatures")
    if signatures is None:
        return raw
    if not isinstance(signatures, list):
        raise InvalidManifestError(
            f"signatures: expected a list of JWS signatures, got {type(signatures).__name__} {signatures!r:.40}"
        )
    if not signatures:
        raise InvalidManifestError("signatures: expected at least one JWS signature, got an empty list")
    formats = {_signature_format(i, sig) for i, sig in enumerate(signatures)}
    if len(formats) != 1:
        raise InvalidManifestError("signatures: conflicting formatLength/formatTail in the protected headers")
    length, tail = formats.pop()
    if not 0 < length <= len(raw):
        raise InvalidManifestError(f"signatures[0].protected: formatLength {length} outside the manifest")
    return raw[:length] + tail


def _signature_format(i: int, signature: object) -> tuple[int, bytes]:
    """``(formatLength, formatTail)`` of one libtrust signature's protected header."""
    try:
        if not isinstance(signature, dict):
            raise TypeError(f"expected an object, got {type(signature).__name__}")
        protected = json.loads(_b64url_decode(signature["protected"]))
        length = protected["formatLength"]
        if type(length) is not int:
            raise TypeError(f"formatLength must be a number, got {length!r}")
        tail = _b64url_decode(protected["formatTail"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidManifestError(f"signatures[{i}].protected: not a valid libtrust header ({exc})") from None
    return length, tail


@dataclass(frozen=True, slots=True)
class Schema1Manifest:
    """A Docker schema 1 manifest; layers are listed base first."""

    media_type: str
    name: str
    tag: str
    architecture: str
    fs_layers: tuple[Digest, ...]
    history: tuple[str, ...]
    raw: bytes = field(repr=False, compare=False)
    payload: bytes = field(repr=False, compare=False)

    @property
    def is_oci(self) -> bool:
        return False

    @property
    def digest(self) -> Digest:
        return digest_bytes(self.payload)

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        """Unique layer blobs, base first, with unknown sizes."""
        seen: set[Digest] = set()
        out: list[Descriptor] = []
        for blob in reversed(self.fs_layers):
            if blob not in seen:
                seen.add(blob)
                out.append(Descriptor(mt.DOCKER_LAYER_GZIP, blob, -1))
        return tuple(out)

    def v1_compatibility(self) -> dict[str, Any]:
        """The newest history entry's v1Compatibility object (it carries the image config)."""
        if not self.history:
            return {}
        try:
            value = json.loads(self.history[0])
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_json(cls, data: dict[str, Any], raw: bytes) -> Schema1Manifest:
        fs_layers: list[Digest] = []
        for i, item in enumerate(data.get("fsLayers") or []):
            try:
                fs_layers.append(parse_digest(item.get("blobSum") if isinstance(item, dict) else None))
            except InvalidDigestError as exc:
                raise InvalidManifestError(f"fsLayers[{i}].blobSum: {exc}") from None
        history = tuple(str(h.get("v1Compatibility", "")) for h in data.get("history") or [] if isinstance(h, dict))
        signed = data.get("signatures") is not None
        return cls(
            media_type=mt.DOCKER_SCHEMA1_SIGNED if signed else mt.DOCKER_SCHEMA1,
            name=str(data.get("name", "")),
            tag=str(data.get("tag", "")),
            architecture=str(data.get("architecture", "")),
            fs_layers=tuple(fs_layers),
            history=history,
            raw=raw,
            payload=schema1_payload(raw, data),
        )
