"""Single-image manifests: OCI image manifest and Docker v2 schema 2."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes
from lighter.errors import InvalidManifestError, UnsupportedCompressionError, UnsupportedMediaTypeError
from lighter.manifest.config import ImageConfig, to_oci_config
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
            out["annotations"] = dict(sorted(self.annotations.items()))
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def convert(self, to_oci: bool, config: ImageConfig | None = None) -> ImageManifest:
        """The same image in the other manifest flavour, written as containers/image writes it.

        Layers keep their digests and sizes; only media types change, and what
        the target format cannot carry (annotations, unknown fields, subject)
        is dropped.  Going to Docker keeps the config blob as it is.  Going to
        OCI, skopeo rewrites the config as an OCI image config: pass the
        Docker ``config`` to get a manifest pointing at ``to_oci_config(config)``
        (whose bytes the caller then stores), the digest skopeo produces;
        without it the config descriptor keeps the Docker config's digest.
        zstd layers cannot go to Docker, and unknown layer types go nowhere.
        """
        if to_oci == self.is_oci:
            return self
        if not to_oci and self.config.media_type != mt.OCI_CONFIG:
            raise UnsupportedMediaTypeError(
                f"cannot convert to Docker v2s2: config media type is {self.config.media_type!r}, "
                f"expected {mt.OCI_CONFIG} (an artifact, not an image)"
            )
        layers = tuple(
            Descriptor(
                _converted_layer_type(layer.media_type, layer.digest, to_oci), layer.digest, layer.size, layer.urls
            )
            for layer in self.layers
        )
        if to_oci:
            new_config = Descriptor(mt.OCI_CONFIG, self.config.digest, self.config.size)
            if config is not None:
                oci = to_oci_config(config)
                new_config = Descriptor(mt.OCI_CONFIG, oci.digest, len(oci.raw))
        else:
            new_config = Descriptor(mt.DOCKER_CONFIG, self.config.digest, self.config.size, self.config.urls)
        return ImageManifest(
            media_type=mt.OCI_MANIFEST if to_oci else mt.DOCKER_MANIFEST, config=new_config, layers=layers
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
        annotations = data.get("annotations")
        if annotations is None:
            annotations = {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
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


def _converted_layer_type(media_type: str, digest: Digest, to_oci: bool) -> str:
    """containers/image's layer media type mapping between OCI and Docker v2s2."""
    compression = mt.compression_of(media_type)
    if compression is None or (mt.is_oci(media_type) == to_oci):
        raise UnsupportedMediaTypeError(f"layer {digest}: cannot convert media type {media_type!r}")
    if compression == "zstd" and not to_oci:
        raise UnsupportedCompressionError(
            f"layer {digest} is zstd-compressed: Docker v2s2 manifests cannot carry zstd layers"
        )
    if compression == "zstd":
        # containers/image has no Docker zstd layer type to convert from.
        raise UnsupportedMediaTypeError(f"layer {digest}: cannot convert media type {media_type!r}")
    return mt.convert_layer_type(media_type, to_oci)


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
