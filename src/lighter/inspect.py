"""Inspecting images: skopeo inspect's output, built from any ImageSource.

On a manifest list, ``Digest`` is the list's own digest while every other
field describes the instance chosen for the platform (as skopeo does);
``inspect_platforms`` lists every instance instead.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from lighter import mediatype as mt
from lighter.digest import Digest
from lighter.errors import InvalidManifestError
from lighter.manifest import (
    COMPRESSION_ANNOTATION,
    ImageConfig,
    ImageManifest,
    Index,
    Manifest,
    Schema1Manifest,
    manifest_digest,
    parse_config,
    parse_manifest,
)
from lighter.platform import Platform, host_platform
from lighter.transports import ImageReference, ImageSource, TransportOptions, parse_image_name

log = logging.getLogger(__name__)

_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def go_time(text: str | None) -> str | None:
    """A timestamp as Go's time.Time marshals it (RFC 3339, trailing fraction zeros dropped)."""
    if not text:
        return None
    match = _TIME.match(text)
    if not match:
        return text
    base, fraction, zone = match.groups()
    fraction = (fraction or "")[:9].rstrip("0")
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return f"{base}{'.' + fraction if fraction else ''}{zone}"


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """The top-level manifest and, for a list, the instance chosen."""

    top_raw: bytes
    top: Manifest
    image_raw: bytes
    image: ImageManifest | Schema1Manifest
    chosen: Digest | None


def resolve(source: ImageSource, platform: Platform | None = None) -> ResolvedImage:
    """Read the top-level manifest and pick the instance for ``platform`` when it is a list."""
    raw, media_type = source.manifest()
    top = parse_manifest(raw, media_type)
    if log.isEnabledFor(logging.DEBUG):  # the digest is worth computing only for the log
        log.debug(
            "%s: top-level manifest %s, %s, %d bytes", source.reference, manifest_digest(raw), top.media_type, len(raw)
        )
    if not isinstance(top, Index):
        return ResolvedImage(raw, top, raw, top, None)
    chosen = top.choose(platform or host_platform())
    log.debug("%s: chose instance %s (%s) of %d", source.reference, chosen.digest, chosen.platform, len(top.manifests))
    inst_raw, inst_type = source.manifest(chosen.digest)
    image = parse_manifest(inst_raw, inst_type or chosen.media_type)
    if isinstance(image, Index):
        raise InvalidManifestError(
            f"instance {chosen.digest} of the list is itself a manifest list, expected an image manifest"
        )
    return ResolvedImage(raw, top, inst_raw, image, chosen.digest)


def read_config(source: ImageSource, image: ImageManifest) -> ImageConfig:
    config = parse_config(source.blob_bytes(image.config, "config"))
    log.debug("%s: config %s, %d bytes, verified", source.reference, image.config.digest, len(config.raw))
    return config


def _layers_data(image: ImageManifest | Schema1Manifest) -> list[dict[str, Any]]:
    return [
        {
            "MIMEType": layer.media_type,
            "Digest": str(layer.digest),
            "Size": layer.size,
            "Annotations": dict(layer.annotations) if layer.annotations else None,
        }
        for layer in image.layers
    ]


def _fields_from_config(config: ImageConfig) -> dict[str, Any]:
    return {
        "Created": go_time(config.created),
        "DockerVersion": config.docker_version,
        "Labels": config.labels or None,
        "Architecture": config.architecture,
        "Variant": config.variant,
        "Os": config.os,
    }


def _fields_from_schema1(image: Schema1Manifest) -> dict[str, Any]:
    v1 = image.v1_compatibility()
    runtime = v1.get("config") if isinstance(v1.get("config"), dict) else {}
    return {
        "Created": go_time(v1.get("created")),
        "DockerVersion": v1.get("docker_version", ""),
        "Labels": (runtime or {}).get("Labels") or None,
        "Architecture": image.architecture or v1.get("architecture", ""),
        "Variant": v1.get("variant", ""),
        "Os": v1.get("os", ""),
        "Env": (runtime or {}).get("Env"),
    }


def inspect_source(source: ImageSource, platform: Platform | None = None, tags: bool = True) -> dict[str, Any]:
    """skopeo inspect's JSON object for what ``source`` names."""
    return inspect_resolved(source, resolve(source, platform), tags)


def list_note(resolved: ResolvedImage) -> str | None:
    """For a list, the sentence saying which fields are the list's and which the chosen instance's."""
    if resolved.chosen is None or not isinstance(resolved.top, Index):
        return None
    platform = next((str(d.platform) for d in resolved.top.manifests if d.digest == resolved.chosen and d.platform), "")
    chosen = f"the {platform} instance {resolved.chosen}" if platform else f"the instance {resolved.chosen}"
    return (
        f"note: this is a manifest list of {len(resolved.top.manifests)} instances: Digest is the list's, "
        f"the other fields describe {chosen} (--all-platforms lists them all)"
    )


def inspect_resolved(source: ImageSource, resolved: ResolvedImage, tags: bool = True) -> dict[str, Any]:
    """skopeo inspect's JSON object for an image already resolved by :func:`resolve`."""
    ref = source.reference
    out: dict[str, Any] = {}
    name = docker_name(ref)
    if name:
        out["Name"] = name
    out["Digest"] = str(manifest_digest(resolved.top_raw))
    out["RepoTags"] = source.repo_tags() if tags else []
    image = resolved.image
    if isinstance(image, ImageManifest):
        config = read_config(source, image)
        fields = _fields_from_config(config)
        env = config.env or None
    else:
        fields = _fields_from_schema1(image)
        env = fields.pop("Env")
    variant = fields.pop("Variant")
    out.update(fields)
    if variant:
        out["Variant"] = variant
    out["Layers"] = [str(layer.digest) for layer in image.layers]
    out["LayersData"] = _layers_data(image)
    out["Env"] = env
    # skopeo orders Variant after Architecture; rebuild in its order.
    order = ["Name", "Digest", "RepoTags", "Created", "DockerVersion", "Labels", "Architecture", "Variant", "Os"]
    order += ["Layers", "LayersData", "Env"]
    return {key: out[key] for key in order if key in out}


def docker_name(ref: ImageReference) -> str | None:
    """The repository name skopeo shows as ``Name`` (only transports with docker references have one)."""
    docker_ref = ref.docker_reference
    return docker_ref.name if docker_ref is not None else None


def inspect_platforms(source: ImageSource) -> list[dict[str, Any]]:
    """One row per instance of a list: platform, digest, size, media type, compression."""
    raw, media_type = source.manifest()
    top = parse_manifest(raw, media_type)
    if not isinstance(top, Index):
        image = top
        platform = ""
        if isinstance(image, ImageManifest):
            platform = str(read_config(source, image).platform)
        return [_platform_row(platform, manifest_digest(raw), len(raw), top.media_type, image)]
    rows = []
    for desc in top.manifests:
        inst_raw, inst_type = source.manifest(desc.digest)
        inst = parse_manifest(inst_raw, inst_type or desc.media_type)
        platform = str(desc.platform) if desc.platform else ""
        row = _platform_row(platform, desc.digest, desc.size, desc.media_type, inst)
        if COMPRESSION_ANNOTATION in desc.annotations:
            row["Variant of"] = "zstd"
        rows.append(row)
    return rows


def _platform_row(platform: str, digest: Digest, size: int, media_type: str, image: Manifest) -> dict[str, Any]:
    compressions: list[str] = []
    if not isinstance(image, Index):
        for layer in image.layers:
            kind = mt.compression_of(layer.media_type) or "unknown"
            if kind not in compressions:
                compressions.append(kind)
    return {
        "Platform": platform,
        "Digest": str(digest),
        "Size": size,
        "MediaType": media_type,
        "Compression": ",".join(compressions),
    }


def inspect_image(
    name: str | ImageReference,
    options: TransportOptions | None = None,
    platform: Platform | None = None,
    tags: bool = True,
) -> dict[str, Any]:
    """``skopeo inspect NAME`` as a dict."""
    ref = parse_image_name(name) if isinstance(name, str) else name
    with ref.new_source(options) as source:
        return inspect_source(source, platform, tags)


def config_json(source: ImageSource, platform: Platform | None = None) -> tuple[bytes, dict[str, Any]]:
    """The raw config bytes and the parsed object of the chosen image."""
    resolved = resolve(source, platform)
    if not isinstance(resolved.image, ImageManifest):
        v1 = resolved.image.v1_compatibility()
        return json.dumps(v1).encode(), v1
    config = read_config(source, resolved.image)
    return config.raw, dict(config.data)
