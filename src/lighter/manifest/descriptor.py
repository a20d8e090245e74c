"""Descriptors: the (media type, digest, size) triple that points at content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lighter.digest import Digest, parse_digest
from lighter.errors import InvalidDigestError, InvalidManifestError, InvalidPlatformError
from lighter.platform import Platform

_KNOWN_FIELDS = frozenset({"mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType"})


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor (OCI image-spec ``descriptor.md``).

    ``size`` is -1 when unknown (Docker schema 1 layers).  ``extra`` keeps
    fields lighter does not model so that re-serialising loses nothing.
    """

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    platform: Platform | None = None
    artifact_type: str | None = None
    data: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def evolve(self, **changes: Any) -> Descriptor:
        return replace(self, **changes)

    def to_json(self, oci: bool = True) -> dict[str, Any]:
        """The JSON object, with fields in the order Go's structs write them."""
        out: dict[str, Any] = {"mediaType": self.media_type}
        if oci:
            out["digest"] = str(self.digest)
            out["size"] = self.size
        else:
            out["size"] = self.size
            out["digest"] = str(self.digest)
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            # Go marshals maps with sorted keys.
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.data is not None and oci:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type and oci:
            out["artifactType"] = self.artifact_type
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> Descriptor:
        """Parse a descriptor object; ``where`` names it in error messages."""
        if not isinstance(data, dict):
            raise InvalidManifestError(f"{where}: expected a descriptor object, got {type(data).__name__}")
        media_type = data.get("mediaType", "")
        if not isinstance(media_type, str):
            raise InvalidManifestError(f"{where}.mediaType: expected a string, got {media_type!r}")
        try:
            digest = parse_digest(data.get("digest"))
        except InvalidDigestError as exc:
            raise InvalidManifestError(f"{where}.digest: {exc}") from None
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifestError(f"{where}.size: expected a non-negative integer, got {size!r}")
        urls = data.get("urls")
        urls = [] if urls is None else urls
        annotations = data.get("annotations")
        annotations = {} if annotations is None else annotations
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidManifestError(f"{where}.urls: expected a list of strings")
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise InvalidManifestError(f"{where}.annotations: expected an object of strings")
        platform = None
        if data.get("platform") is not None:
            try:
                platform = Platform.from_json(data["platform"])
            except InvalidPlatformError as exc:
                raise InvalidManifestError(f"{where}.platform: {exc}") from None
        artifact_type = data.get("artifactType")
        blob_data = data.get("data")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            urls=tuple(urls),
            annotations=dict(annotations),
            platform=platform,
            artifact_type=artifact_type if isinstance(artifact_type, str) else None,
            data=blob_data if isinstance(blob_data, str) else None,
            extra={k: v for k, v in data.items() if k not in _KNOWN_FIELDS},
        )
