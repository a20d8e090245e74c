"""Multi-image manifests: OCI image index and Docker manifest list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes
from lighter.errors import InvalidManifestError
from lighter.manifest.descriptor import Descriptor
from lighter.manifest.gojson import go_dumps
from lighter.platform import Platform, choose

_KNOWN = frozenset({"schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"})

#: containers/image marks zstd variants of an instance with this annotation.
COMPRESSION_ANNOTATION = "io.github.containers.compression.zstd"


@dataclass(frozen=True, slots=True)
class Index:
    """An OCI image index or a Docker manifest list, with the bytes it came from."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    artifact_type: str | None = None
    subject: Descriptor | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    raw: bytes = field(default=b"", repr=False, compare=False)
    explicit_media_type: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if not self.raw:
            object.__setattr__(self, "raw", go_dumps(self.to_json()))

    @property
    def is_oci(self) -> bool:
        return self.media_type == mt.OCI_INDEX

    @property
    def digest(self) -> Digest:
        return digest_bytes(self.raw)

    def evolve(self, **changes: Any) -> Index:
        return replace(self, raw=b"", explicit_media_type=True, **changes)

    def to_json(self) -> dict[str, Any]:
        oci = self.is_oci
        out: dict[str, Any] = {"schemaVersion": 2}
        if self.explicit_media_type or not oci:
            out["mediaType"] = self.media_type
        if self.artifact_type and oci:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [m.to_json(oci) for m in self.manifests]
        if self.subject is not None and oci:
            out["subject"] = self.subject.to_json(oci)
        if self.annotations and oci:
            out["annotations"] = dict(self.annotations)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def find(self, digest: Digest) -> Descriptor | None:
        """The instance with that digest, if the list has it."""
        for m in self.manifests:
            if m.digest == digest:
                return m
        return None

    def choose(self, wanted: Platform) -> Descriptor:
        """The instance for ``wanted``; zstd variants and attestations are never chosen."""
        candidates = [
            (m.platform, m)
            for m in self.manifests
            if mt.is_image(m.media_type) or m.media_type == ""
            if COMPRESSION_ANNOTATION not in m.annotations
        ]
        chosen: Descriptor = choose(candidates, wanted)
        return chosen

    def convert(self, to_oci: bool) -> Index:
        """The list in the other flavour; instance media types follow, digests do not change here."""
        if to_oci == self.is_oci:
            return self
        manifests = tuple(
            m.evolve(
                media_type=_convert_instance_type(m.media_type, to_oci),
                annotations=m.annotations if to_oci else {},
                artifact_type=m.artifact_type if to_oci else None,
            )
            for m in self.manifests
        )
        return self.evolve(
            media_type=mt.OCI_INDEX if to_oci else mt.DOCKER_LIST,
            manifests=manifests,
            annotations=self.annotations if to_oci else {},
            subject=self.subject if to_oci else None,
            artifact_type=self.artifact_type if to_oci else None,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any], raw: bytes, media_type: str) -> Index:
        items = data.get("manifests")
        if not isinstance(items, list):
            raise InvalidManifestError("manifests: expected a list")
        manifests = tuple(Descriptor.from_json(item, f"manifests[{i}]") for i, item in enumerate(items))
        subject = Descriptor.from_json(data["subject"], "subject") if data.get("subject") else None
        annotations = data.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise InvalidManifestError("annotations: expected an object of strings")
        artifact_type = data.get("artifactType")
        return cls(
            media_type=media_type,
            manifests=manifests,
            annotations=dict(annotations),
            artifact_type=artifact_type if isinstance(artifact_type, str) else None,
            subject=subject,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
            raw=raw,
            explicit_media_type="mediaType" in data,
        )


def _convert_instance_type(media_type: str, to_oci: bool) -> str:
    if media_type in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
        return mt.OCI_MANIFEST if to_oci else mt.DOCKER_MANIFEST
    if media_type in (mt.OCI_INDEX, mt.DOCKER_LIST):
        return mt.OCI_INDEX if to_oci else mt.DOCKER_LIST
    return media_type


def build_index(
    manifests: Sequence[Descriptor],
    oci: bool = True,
    annotations: Mapping[str, str] | None = None,
) -> Index:
    """A new list of the given instances."""
    return Index(
        media_type=mt.OCI_INDEX if oci else mt.DOCKER_LIST,
        manifests=tuple(manifests),
        annotations=dict(annotations or {}),
    )
