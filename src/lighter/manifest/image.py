"""Single-image manifests: OCI image manifest and Docker v2 schema 2."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes
from lighter.errors import InvalidManifestError, UnsupportedError
from lighter.manifest.descriptor import Descriptor
from lighter.manifest.gojson import go_dumps

_KNOWN = frozenset({"schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations"})


@dataclass(frozen=True, slots=True)
class ImageManifest:
    """An OCI image manifest or a Docker v2s2 manifest, with the bytes it came from.

    ``raw`` is the exact serialisation; it is produced on construction when
    not given.  Change content with ``evolve`` (which re-serialises), never
    with ``dataclasses.replace`` (which would keep stale bytes).
    """

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    artifact_type: str | None = None
    subject: Descriptor | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    raw: bytes = field(default=b"", repr=False, compare=False)
    #: Whether the mediaType field was present in ``raw`` (OCI allows leaving it out).
    explicit_media_type: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if not self.raw:
            object.__setattr__(self, "raw", go_dumps(self.to_json()))

    @property
    def is_oci(self) -> bool:
        return self.media_type == mt.OCI_MANIFEST

    @property
    def digest(self) -> Digest:
        return digest_bytes(self.raw)

    def evolve(self, **changes: Any) -> ImageManifest:
        return replace(self, raw=b"", explicit_media_type=True, **changes)

    def to_json(self) -> dict[str, Any]:
        oci = self.is_oci
        out: dict[str, Any] = {"schemaVersion": 2}
        if self.explicit_media_type or not oci:
            out["mediaType"] = self.media_type
        if self.artifact_type and oci:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json(oci)
        out["layers"] = [layer.to_json(oci) for layer in self.layers]
        if self.subject is not None and oci:
            out["subject"] = self.subject.to_json(oci)
        if self.annotations and oci:
            out["annotations"] = dict(self.annotations)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def convert(self, to_oci: bool) -> ImageManifest:
        """The same image in the other manifest flavour; blobs keep their digests and sizes."""
        if to_oci == self.is_oci:
            return self
        if not to_oci:
            for layer in self.layers:
                if mt.compression_of(layer.media_type) == "zstd":
                    raise UnsupportedError(
                        f"layer {layer.digest} is zstd-compressed: Docker v2s2 manifests cannot carry zstd layers"
                    )
        config = self.config.evolve(
            media_type=mt.OCI_CONFIG if to_oci else mt.DOCKER_CONFIG,
            annotations=self.config.annotations if to_oci else {},
        )
        layers = tuple(
            layer.evolve(
                media_type=mt.convert_layer_type(layer.media_type, to_oci),
                annotations=layer.annotations if to_oci else {},
            )
            for layer in self.layers
        )
        return self.evolve(
            media_type=mt.OCI_MANIFEST if to_oci else mt.DOCKER_MANIFEST,
            config=config,
            layers=layers,
            annotations=self.annotations if to_oci else {},
            subject=self.subject if to_oci else None,
            artifact_type=self.artifact_type if to_oci else None,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any], raw: bytes, media_type: str) -> ImageManifest:
        config = Descriptor.from_json(data.get("config"), "config")
        layers_data = data.get("layers")
        if layers_data is None:
            layers_data = []
        if not isinstance(layers_data, list):
            raise InvalidManifestError("layers: expected a list")
        layers = tuple(Descriptor.from_json(item, f"layers[{i}]") for i, item in enumerate(layers_data))
        subject = Descriptor.from_json(data["subject"], "subject") if data.get("subject") else None
        annotations = data.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise InvalidManifestError("annotations: expected an object of strings")
        artifact_type = data.get("artifactType")
        return cls(
            media_type=media_type,
            config=config,
            layers=layers,
            annotations=dict(annotations),
            artifact_type=artifact_type if isinstance(artifact_type, str) else None,
            subject=subject,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
            raw=raw,
            explicit_media_type="mediaType" in data,
        )


def build_image_manifest(
    config: Descriptor,
    layers: list[Descriptor] | tuple[Descriptor, ...],
    oci: bool = True,
    annotations: Mapping[str, str] | None = None,
) -> ImageManifest:
    """A new manifest for a config and its layers."""
    return ImageManifest(
        media_type=mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
        config=config,
        layers=tuple(layers),
        annotations=dict(annotations or {}),
    )
