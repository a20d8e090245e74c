"""Checking that an image is whole and self-consistent, wherever it lives.

``check_image`` reads everything an image or list references through an
``ImageSource`` and checks, like go-containerregistry's ``validate.Image``:
manifest digests and sizes as the list records them, every blob's digest
and size, the config's diffIDs against the uncompressed layers, history
against diffIDs, and media types that belong together.  Tests end with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lighter import mediatype as mt
from lighter.compression import decompressed
from lighter.digest import Digest, Digester, VerifyingReader
from lighter.errors import DigestMismatchError, InvalidManifestError
from lighter.manifest import (
    Descriptor,
    ImageManifest,
    Index,
    Manifest,
    Schema1Manifest,
    manifest_digest,
    parse_config,
    parse_manifest,
)
from lighter.transports import ImageSource, TransportOptions, parse_image_name


@dataclass
class ValidationReport:
    """What was checked: the manifests and blobs seen, by digest."""

    manifests: list[Digest] = field(default_factory=list)
    blobs: list[Digest] = field(default_factory=list)


def _check_blob(source: ImageSource, desc: Descriptor, uncompressed: bool) -> Digest | None:
    """Verify one blob while streaming it; return its diffID when ``uncompressed`` is asked."""
    with source.blob(desc) as raw:
        verifying = VerifyingReader(raw, desc.digest, desc.size, f"blob {desc.digest}")
        if not uncompressed:
            while verifying.read(1024 * 1024):
                pass
            return None
        digester = Digester()
        plain = decompressed(verifying, f"layer {desc.digest}")  # type: ignore[arg-type]
        while chunk := plain.read(1024 * 1024):
            digester.update(chunk)
        while verifying.read(1024 * 1024):
            pass
        return digester.digest()


def _check_single(source: ImageSource, manifest: ImageManifest | Schema1Manifest, report: ValidationReport) -> None:
    if isinstance(manifest, Schema1Manifest):
        for layer in manifest.layers:
            _check_blob(source, layer, uncompressed=False)
            report.blobs.append(layer.digest)
        return
    config_raw = source.blob_bytes(manifest.config, "config")
    report.blobs.append(manifest.config.digest)
    is_image = manifest.config.media_type in (mt.OCI_CONFIG, mt.DOCKER_CONFIG)
    for layer in manifest.layers:
        if manifest.is_oci != mt.is_oci(layer.media_type) and mt.is_layer(layer.media_type):
            raise InvalidManifestError(
                f"layer {layer.digest}: media type {layer.media_type} in a {manifest.media_type}"
            )
    if not is_image:  # artifacts: blobs only
        for layer in manifest.layers:
            _check_blob(source, layer, uncompressed=False)
            report.blobs.append(layer.digest)
        return
    config = parse_config(config_raw)
    diff_ids = config.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise InvalidManifestError(f"config lists {len(diff_ids)} diffIDs for {len(manifest.layers)} layers")
    for layer, diff_id in zip(manifest.layers, diff_ids, strict=True):
        actual = _check_blob(source, layer, uncompressed=mt.is_layer(layer.media_type))
        report.blobs.append(layer.digest)
        if actual is not None and actual != diff_id:
            raise DigestMismatchError(f"diffID of layer {layer.digest}", str(diff_id), str(actual))
    non_empty = [h for h in config.history if not h.get("empty_layer")]
    if config.history and len(non_empty) != len(diff_ids):
        raise InvalidManifestError(f"config history has {len(non_empty)} non-empty entries for {len(diff_ids)} layers")


def _check(source: ImageSource, raw: bytes, manifest: Manifest, report: ValidationReport) -> None:
    report.manifests.append(manifest_digest(raw))
    if not isinstance(manifest, Index):
        _check_single(source, manifest, report)
        return
    for desc in manifest.manifests:
        inst_raw, inst_type = source.manifest(desc.digest)
        if len(inst_raw) != desc.size:
            raise InvalidManifestError(f"instance {desc.digest}: list says {desc.size} bytes, got {len(inst_raw)}")
        if manifest_digest(inst_raw) != desc.digest:
            raise DigestMismatchError(f"instance {desc.digest}", str(desc.digest), str(manifest_digest(inst_raw)))
        _check(source, inst_raw, parse_manifest(inst_raw, inst_type or desc.media_type), report)


def check_source(source: ImageSource) -> ValidationReport:
    """Validate everything ``source``'s top-level manifest reaches."""
    raw, media_type = source.manifest()
    report = ValidationReport()
    _check(source, raw, parse_manifest(raw, media_type), report)
    return report


def check_image(name: str, options: TransportOptions | None = None) -> ValidationReport:
    """Validate the image or list named ``transport:rest``."""
    with parse_image_name(name).new_source(options) as source:
        return check_source(source)
