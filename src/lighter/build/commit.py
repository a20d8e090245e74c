"""``commit``: a root filesystem (and optionally a base image) into an image, written through any transport.

The operation is buildah's commit (the seed ``buildah-image.go.txt``):

1. With ``base``, the base image for the platform is resolved and its layers
   read once, verified, into an in-memory tree (``baseindex``).  Base
   layers are reused as they are: a destination that has the blob keeps it;
   one that lacks it gets the bytes of that same read, unchanged (verified
   by the destination against the base's descriptor; ``basecopy``), so a
   registry base is downloaded once.
2. The changes are applied to the base's runtime config (their variables
   come from its environment), before anything is written.
3. ROOTFS is scanned against that tree (``tree``): added and changed
   entries, ``.wh.`` whiteouts for deletions, ``.wh..wh..opq`` for
   directories whose old content is all gone.  The scan is lazy: it runs
   in the tar writer's thread as step 4 consumes it.
4. The new layer is tarred, hashed (diffID), compressed and hashed again
   (blob digest) in one streaming pass into ``put_blob`` (``rootfs``).  An
   empty diff adds no layer, only an ``empty_layer`` history entry.
5. Config (history checked against diffIDs) and manifest, OCI or Docker
   v2s2, are written, and the destination committed.

With the same tree, base and ``timestamp`` every byte is the same.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lighter import mediatype as mt
from lighter.build.basecopy import CopyingSource
from lighter.build.baseindex import index_image
from lighter.build.changes import Change, apply_changes, parse_change
from lighter.build.config import build_config, history_entry, rfc3339
from lighter.build.fsmeta import Node
from lighter.build.image import ResolvedImage, resolve_image
from lighter.build.layers import Limits
from lighter.build.rootfs import OwnerNames, stream_layer
from lighter.build.tree import Action, TreeScanner
from lighter.compression import Algorithm, check_level, parse_algorithm
from lighter.digest import Digest
from lighter.errors import InvalidInputError, UnsupportedCompressionError, UnsupportedMediaTypeError
from lighter.manifest import Descriptor, ImageConfig, ImageManifest, build_image_manifest
from lighter.platform import Platform, host_platform, parse_platform
from lighter.transports import ImageDestination, ImageReference, ImageSource, TransportOptions, parse_image_name

Format = Literal["oci", "docker"]


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What was written: the manifest (and its digest), the config digest, the new layer if any."""

    reference: str
    digest: Digest
    config_digest: Digest
    manifest: ImageManifest
    layer: Descriptor | None
    diff_id: Digest | None

    @property
    def media_type(self) -> str:
        return self.manifest.media_type


def _moment(timestamp: int | float | datetime | None) -> tuple[str, int | None]:
    """The ``created`` string and the mtime clamp for a timestamp (now, unclamped, without one)."""
    if timestamp is None:
        return rfc3339(datetime.now(UTC)), None
    if isinstance(timestamp, datetime):
        moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(int(timestamp), UTC)
    return rfc3339(moment), int(moment.timestamp())


def _layer_descriptor(layer: Descriptor, oci: bool) -> Descriptor:
    """A base layer's descriptor in the new manifest's flavour (same blob)."""
    if mt.is_oci(layer.media_type) == oci:
        return layer
    if not oci and mt.compression_of(layer.media_type) == "zstd":
        raise UnsupportedCompressionError(
            f"base layer {layer.digest} is zstd-compressed: Docker v2s2 manifests cannot carry zstd layers"
        )
    return layer.evolve(media_type=mt.convert_layer_type(layer.media_type, oci))


@dataclass(frozen=True, slots=True)
class _Base:
    """The base image: resolved, its file system indexed, its layers (in the new flavour) in the destination."""

    image: ResolvedImage
    tree: Node
    layers: list[Descriptor]


def _open_base(
    source: ImageSource, destination: ImageDestination, wanted: Platform | None, oci: bool, limits: Limits | None
) -> _Base:
    image = resolve_image(source, wanted)
    layers = [_layer_descriptor(layer, oci) for layer, _ in image.layers]  # refusals before any download
    missing = {layer.digest: layer for layer, _ in image.layers if destination.try_reuse_blob(layer) is None}
    tree = index_image(CopyingSource(source, destination, missing), image, limits)
    return _Base(image, tree, layers)


def _check_options(fmt: str, compression: str, level: int | None, dest: ImageDestination) -> tuple[bool, Algorithm]:
    if fmt not in ("oci", "docker"):
        raise InvalidInputError(f"unknown image format {fmt!r}: expected oci or docker")
    algorithm = parse_algorithm(compression)
    check_level(algorithm, level)
    oci = fmt == "oci"
    if algorithm == "zstd" and (not oci or not dest.capabilities.supports_zstd):
        where = "Docker v2s2 manifests" if not oci else f"{dest.reference}"
        raise UnsupportedCompressionError(f"zstd layers cannot be written to {where}: use gzip")
    wanted = mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST
    accepted = dest.capabilities.manifest_types
    if accepted and wanted not in accepted:
        raise UnsupportedMediaTypeError(
            f"{dest.reference} cannot store {wanted} manifests (it accepts {', '.join(accepted)})"
        )
    return oci, algorithm


@dataclass(frozen=True, slots=True)
class _Meta:
    """What the config records beside the layers: time, platform, author, history entry, runtime config."""

    created: str
    platform: Platform
    author: str | None
    message: str | None
    created_by: str | None
    runtime: Mapping[str, Any]


def _new_layer(
    destination: ImageDestination,
    actions: Iterator[Action],
    root: str,
    clamp: int | None,
    media_type: str,
    algorithm: Algorithm,
    level: int | None,
) -> tuple[Descriptor, Digest] | None:
    """The new layer's blob descriptor and diffID; None when the tree did not change.

    The walk goes on while the layer is written (``TreeScanner.actions``):
    only its first action is looked for here, to know whether there is a layer.
    """
    first = next(actions, None)
    if first is None:
        return None
    result = stream_layer(
        itertools.chain((first,), actions),
        lambda stream: destination.put_blob(stream, None, media_type),
        names=OwnerNames.from_root(root),
        clamp=clamp,
        compression=algorithm,
        level=level,
    )
    return Descriptor(media_type, result.descriptor.digest, result.descriptor.size), result.diff_id


def _write_image(
    destination: ImageDestination, base: _Base | None, new: tuple[Descriptor, Digest] | None, meta: _Meta, oci: bool
) -> tuple[ImageManifest, ImageConfig]:
    """Config and manifest (base layers first), written and committed."""
    layers = list(base.layers) if base is not None else []
    diff_ids = [diff_id for _, diff_id in base.image.layers] if base is not None else []
    if new is not None:
        layers.append(new[0])
        diff_ids.append(new[1])
    entry = history_entry(
        meta.created, created_by=meta.created_by, author=meta.author, comment=meta.message, empty_layer=new is None
    )
    config = build_config(
        base=base.image.config if base is not None else None,
        platform=meta.platform,
        created=meta.created,
        author=meta.author,
        runtime=meta.runtime,
        diff_ids=diff_ids,
        entry=entry,
        oci=oci,
    )
    config_desc = Descriptor(mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, config.digest, len(config.raw))
    destination.put_blob(io.BytesIO(config.raw), config_desc)
    manifest = build_image_manifest(config_desc, layers, oci=oci)
    destination.put_manifest(manifest.raw, manifest.media_type)
    destination.commit()
    return manifest, config


def commit(
    rootfs: str | os.PathLike[str],
    dest: str | ImageReference,
    *,
    base: str | ImageReference | None = None,
    format: Format = "oci",
    compression: str = "gzip",
    compression_level: int | None = None,
    author: str | None = None,
    message: str | None = None,
    created_by: str | None = None,
    changes: Iterable[str | Change] = (),
    platform: str | Platform | None = None,
    timestamp: int | float | datetime | None = None,
    devices: bool = False,
    dest_options: TransportOptions | None = None,
    base_options: TransportOptions | None = None,
    limits: Limits | None = None,
) -> CommitResult:
    """Commit ``rootfs`` to ``dest`` (``transport:name``), as a new layer on ``base`` when given.

    ``timestamp`` (seconds since the epoch, or a datetime) fixes the created
    time and clamps file mtimes, making the result reproducible.

    The config's platform is the base image's (``platform`` then chooses it
    from a list); without a base it is ``platform``, and without that the
    host's: give ``platform`` for digests that are the same on any machine.
    """
    parsed_changes = [c if isinstance(c, Change) else parse_change(c) for c in changes]
    created, clamp = _moment(timestamp)
    wanted = parse_platform(platform) if isinstance(platform, str) else platform
    root = os.fspath(rootfs)
    dest_ref = parse_image_name(dest) if isinstance(dest, str) else dest
    base_ref = parse_image_name(base) if isinstance(base, str) else base
    with ExitStack() as stack:
        destination = stack.enter_context(dest_ref.new_destination(dest_options))
        oci, algorithm = _check_options(format, compression, compression_level, destination)
        based = None
        if base_ref is not None:
            base_source = stack.enter_context(base_ref.new_source(base_options))
            based = _open_base(base_source, destination, wanted, oci, limits)
        base_config = based.image.config if based is not None else None
        meta = _Meta(
            created=created,
            platform=base_config.platform if base_config is not None else (wanted or host_platform()),
            author=author,
            message=message,
            created_by=created_by,
            # before anything is written: variables in the changes come from the base's environment
            runtime=apply_changes(base_config.runtime if base_config is not None else {}, parsed_changes),
        )
        actions = TreeScanner(root, base=based.tree if based else None, clamp=clamp, devices=devices).actions()
        media_type = mt.layer_type(oci, algorithm)
        new = _new_layer(destination, actions, root, clamp, media_type, algorithm, compression_level)
        manifest, config = _write_image(destination, based, new, meta, oci)
    layer, diff_id = new if new is not None else (None, None)
    return CommitResult(str(dest_ref), manifest.digest, config.digest, manifest, layer, diff_id)
