"""Deciding what a copy does, separately from doing it.  Pure: no I/O.

Given the source's top-level manifest, the options and the destination's
capabilities, the plan says which instances move, whether the list is kept
byte-for-byte, stripped or not written, which manifest flavour is written,
and what happens to each layer.  ``--preserve-digests`` is checked here,
before anything is written: for a list, ``check_instances`` judges every
instance's manifest, which the executor reads before any blob moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lighter import mediatype as mt
from lighter.compression import Algorithm
from lighter.copy.options import CopyOptions
from lighter.errors import (
    DigestChangeError,
    ManifestNotFoundError,
    UnsupportedError,
)
from lighter.manifest import Descriptor, ImageManifest, Index, Manifest, Schema1Manifest
from lighter.platform import Platform
from lighter.transports.base import Capabilities

ListMode = Literal["none", "keep", "strip"]


@dataclass(frozen=True, slots=True)
class LayerAction:
    """``keep`` moves the blob as it is; the others re-encode it (its digest changes)."""

    kind: Literal["keep", "recompress", "decompress"]
    algorithm: Algorithm = "none"


KEEP = LayerAction("keep")


@dataclass(frozen=True, slots=True)
class ListPlan:
    """What to do with a manifest list at the top level.

    ``sparse`` is true when the list is kept byte-for-byte but this copy
    writes only some of its instances (``--platform``, ``--instance``,
    ``index-only``): a registry may then refuse the list with "blob unknown",
    and only then is ``--strip-removed-platforms`` (or ``--all``) the cure.
    """

    instances: tuple[Descriptor, ...]
    list_mode: ListMode
    to_oci: bool | None
    sparse: bool = False


def target_flavour(media_type: str, options: CopyOptions, caps: Capabilities) -> bool | None:
    """True/False to convert to OCI/Docker, None to keep the source's flavour."""
    if options.format is not None:
        want_oci = options.format == "oci"
    elif caps.manifest_types and media_type not in caps.manifest_types:
        want_oci = mt.OCI_MANIFEST in caps.manifest_types or mt.OCI_INDEX in caps.manifest_types
    else:
        return None
    is_oci = media_type in (mt.OCI_MANIFEST, mt.OCI_INDEX)
    return None if want_oci == is_oci else want_oci


def layer_action(layer: Descriptor, options: CopyOptions, caps: Capabilities, to_docker: bool) -> LayerAction:
    """How one layer is moved."""
    current = mt.compression_of(layer.media_type)
    if current is None:  # not a layer lighter understands (artifacts, foreign data): move as is
        return KEEP
    if caps.layer_compression == "decompress":
        return KEEP if current == "none" else LayerAction("decompress")
    wanted = options.compression
    if wanted is None and current == "zstd" and (to_docker or not caps.supports_zstd):
        raise UnsupportedError(
            f"layer {layer.digest} is zstd-compressed and the destination format cannot carry zstd: "
            "use --dest-compress-format gzip"
        )
    if wanted == "zstd" and to_docker:
        raise UnsupportedError("zstd-compressed layers need an OCI manifest: use --format oci")
    if wanted is None or wanted == current:
        return KEEP
    if wanted == "none":
        return LayerAction("decompress")
    return LayerAction("recompress", wanted)


def image_actions(
    manifest: Manifest, options: CopyOptions, caps: Capabilities
) -> tuple[bool | None, list[LayerAction]]:
    """Conversion target and per-layer actions for one image; raises DigestChangeError when refused."""
    if isinstance(manifest, Index):
        raise UnsupportedError("expected a single image, got a manifest list")
    to_oci = target_flavour(manifest.media_type, options, caps)
    if isinstance(manifest, Schema1Manifest):
        if to_oci is not None or options.compression is not None or caps.layer_compression == "decompress":
            raise UnsupportedError("converting or recompressing Docker schema 1 images is not supported")
        return None, [KEEP for _ in manifest.layers]
    to_docker = to_oci is False or (to_oci is None and not manifest.is_oci)
    actions = [layer_action(layer, options, caps, to_docker) for layer in manifest.layers]
    if options.preserve_digests:
        _refuse_changes(manifest, to_oci, actions)
    return to_oci, actions


def _refuse_changes(manifest: ImageManifest, to_oci: bool | None, actions: list[LayerAction]) -> None:
    if to_oci is not None:
        target = "OCI" if to_oci else "Docker v2s2"
        raise DigestChangeError(
            f"--preserve-digests: the destination needs a {target} manifest, "
            f"which would change the digest of {manifest.digest}"
        )
    for layer, action in zip(manifest.layers, actions, strict=True):
        if action.kind != "keep":
            raise DigestChangeError(
                f"--preserve-digests: layer {layer.digest} would be {action.kind}ed, changing the image digest"
            )


def check_instances(manifests: Iterable[Manifest], options: CopyOptions, caps: Capabilities) -> None:
    """Refuse a list copy if copying any of its instances would be refused.

    Instances are copied in parallel; judged one by one, an instance already
    in the wanted form would have its blobs written before another one is
    refused (``--preserve-digests`` with recompression, a zstd layer for a
    Docker destination).  Raises DigestChangeError or UnsupportedError.
    """
    for manifest in manifests:
        if not isinstance(manifest, Index):
            image_actions(manifest, options, caps)


def plan_list(index: Index, options: CopyOptions, caps: Capabilities, system: Platform) -> ListPlan | Descriptor:
    """For a list: the one instance to copy as a single image (a Descriptor), or a ListPlan."""
    if options.instances or options.platforms:
        chosen = _selected(index, options)
        mode: ListMode = "strip" if options.strip_removed_platforms else "keep"
    elif options.multi_arch == "system":
        return index.choose(system)
    elif options.multi_arch == "index-only":
        chosen, mode = (), "keep"
    else:
        chosen, mode = index.manifests, "keep"
    if not caps.accepts_lists:
        raise UnsupportedError(
            "the destination cannot store a manifest list: copy one image (--multi-arch system or --platform)"
        )
    to_oci = target_flavour(index.media_type, options, caps)
    if options.preserve_digests and (to_oci is not None or mode == "strip"):
        raise DigestChangeError(f"--preserve-digests: the copy would rewrite the manifest list {index.digest}")
    sparse = mode == "keep" and {d.digest for d in chosen} != {m.digest for m in index.manifests}
    return ListPlan(instances=tuple(chosen), list_mode=mode, to_oci=to_oci, sparse=sparse)


def _selected(index: Index, options: CopyOptions) -> tuple[Descriptor, ...]:
    chosen: list[Descriptor] = []
    for digest in options.instances:
        found = index.find(digest)
        if found is None:
            raise ManifestNotFoundError(f"instance {digest} is not in the manifest list {index.digest}")
        chosen.append(found)
    for platform in options.platforms:
        chosen.append(index.choose(platform))
    unique: dict[str, Descriptor] = {}
    for desc in chosen:
        unique.setdefault(str(desc.digest), desc)
    return tuple(unique.values())
