"""Multi-image manifests: OCI image index and Docker manifest list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes
from lighter.errors import InvalidManifestError, NoMatchingPlatformError
from lighter.manifest.descriptor import Descriptor
from lighter.manifest.gojson import go_dumps
from lighter.platform import Platform, choose, host_platform

_KNOWN = frozenset({"schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"})

#: containers/image marks zstd variants of an instance with this annotation.
COMPRESSION_ANNOTATION = "io.github.containers.compression.zstd"


def mark_compression(desc: Descriptor, compression: str) -> Descriptor:
    """``desc`` marked as containers/image marks the instances it writes: the zstd annotation iff zstd layers.

    Clients that cannot read zstd skip an instance carrying it; an instance
    whose layers are gzip (or plain) loses it.
    """
    annotations = {k: v for k, v in desc.annotations.items() if k != COMPRESSION_ANNOTATION}
    if compression == "zstd":
        annotations[COMPRESSION_ANNOTATION] = "true"
    return desc.evolve(annotations=annotations)


#: buildx marks its attestation manifests (platform unknown/unknown) with this annotation.
_REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type"


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
        out["manifests"] = [_instance_json(m, oci) for m in self.manifests]
        if self.subject is not None and oci:
            out["subject"] = self.subject.to_json(oci)
        if self.annotations and oci:
            out["annotations"] = dict(sorted(self.annotations.items()))
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
        """The instance for ``wanted``, as containers/image chooses it.

        zstd variants (marked with COMPRESSION_ANNOTATION) and attestations
        (``unknown/unknown``, in-toto, non-image media types) are never
        chosen.  An image instance with no platform at all is taken only when
        no instance names a fitting platform, as containers/image does for
        OCI indexes.
        """
        images = [
            m
            for m in self.manifests
            if (mt.is_image(m.media_type) or m.media_type == "")
            and m.annotations.get(COMPRESSION_ANNOTATION) != "true"
            and m.annotations.get(_REFERENCE_TYPE_ANNOTATION) != "attestation-manifest"
        ]
        try:
            chosen: Descriptor = choose([(m.platform, m) for m in images], wanted)
        except NoMatchingPlatformError:
            fallback = [m for m in images if m.platform is None and m.artifact_type is None]
            if not fallback:
                raise
            return fallback[0]
        return chosen

    def convert(self, to_oci: bool) -> Index:
        """The list in the other flavour, as containers/image writes it.

        Instances keep their media types, digests and sizes: converting the
        instances themselves is the copy's job, which then puts the new
        descriptors in.  What the target cannot carry is dropped
        (annotations, unknown fields, platform ``features`` in OCI); a Docker
        list needs a platform for every instance, so one without gets the
        host's, as skopeo does.
        """
        if to_oci == self.is_oci:
            return self
        manifests = []
        for m in self.manifests:
            platform = m.platform
            if platform is None and not to_oci:
                host = host_platform()
                platform = Platform(os=host.os, architecture=host.architecture)
            if platform is not None:
                platform = Platform(
                    os=platform.os,
                    architecture=platform.architecture,
                    variant=platform.variant,
                    os_version=platform.os_version,
                    os_features=platform.os_features,
                )
            manifests.append(Descriptor(m.media_type, m.digest, m.size, m.urls, platform=platform))
        return Index(media_type=mt.OCI_INDEX if to_oci else mt.DOCKER_LIST, manifests=tuple(manifests))

    @classmethod
    def from_json(cls, data: dict[str, Any], raw: bytes, media_type: str) -> Index:
        items = data.get("manifests")
        if not isinstance(items, list):
            raise InvalidManifestError("manifests: expected a list")
        manifests = tuple(Descriptor.from_json(item, f"manifests[{i}]") for i, item in enumerate(items))
        subject = Descriptor.from_json(data["subject"], "subject") if data.get("subject") else None
        annotations = data.get("annotations")
        if annotations is None:
            annotations = {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
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


def _instance_json(m: Descriptor, oci: bool) -> dict[str, Any]:
    out = m.to_json(oci)
    if not oci and "platform" not in out:
        # Docker's manifest list descriptor has a platform that is never omitted.
        out["platform"] = {"architecture": "", "os": ""}
    return out


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
