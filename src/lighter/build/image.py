"""Resolving an image for commit and unpack: the manifest for a platform, its config, its layers."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

from lighter import mediatype as mt
from lighter.build.fsmeta import Kind, Meta, is_ignored_xattr
from lighter.digest import Digest
from lighter.errors import InvalidManifestError, UnsupportedMediaTypeError
from lighter.manifest import (
    Descriptor,
    ImageConfig,
    ImageManifest,
    Index,
    manifest_digest,
    parse_config,
    parse_manifest,
)
from lighter.platform import Platform, host_platform
from lighter.transports import ImageSource

_XATTR: str = "SCHILY.xattr."
_KINDS: dict[bytes, Kind] = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
}


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """One single-platform image: its manifest (and digest), config, and (layer, diffID) pairs."""

    manifest: ImageManifest
    digest: Digest
    config: ImageConfig
    layers: tuple[tuple[Descriptor, Digest], ...]


def resolve_image(source: ImageSource, platform: Platform | None) -> ResolvedImage:
    """The image ``source`` names, choosing from a list by ``platform`` (default: this machine's)."""
    raw, media_type = source.manifest()
    parsed = parse_manifest(raw, media_type)
    if isinstance(parsed, Index):
        chosen = parsed.choose(platform or host_platform())
        raw, media_type = source.manifest(chosen.digest)
        parsed = parse_manifest(raw, media_type or chosen.media_type)
    if not isinstance(parsed, ImageManifest):
        raise UnsupportedMediaTypeError(
            f"cannot use a {parsed.media_type} image here: expected an OCI or Docker v2s2 image manifest"
        )
    if parsed.config.media_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        raise UnsupportedMediaTypeError(
            f"config media type is {parsed.config.media_type!r}: expected an image config (an artifact, not an image)"
        )
    config = parse_config(source.blob_bytes(parsed.config, "config"))
    diff_ids = config.diff_ids
    if len(diff_ids) != len(parsed.layers):
        raise InvalidManifestError(f"config lists {len(diff_ids)} diffIDs for {len(parsed.layers)} layers")
    for layer in parsed.layers:
        if not mt.is_layer(layer.media_type):
            raise UnsupportedMediaTypeError(f"layer {layer.digest}: unsupported media type {layer.media_type!r}")
    return ResolvedImage(parsed, manifest_digest(raw), config, tuple(zip(parsed.layers, diff_ids, strict=True)))


def member_xattrs(info: tarfile.TarInfo) -> tuple[tuple[str, bytes], ...]:
    """The xattrs a tar member carries (``SCHILY.xattr.`` records), sorted, without ignored ones."""
    out = []
    for key, value in info.pax_headers.items():
        if key.startswith(_XATTR) and value:
            name = key[len(_XATTR) :]
            if not is_ignored_xattr(name):
                out.append((name, value.encode("utf-8", "surrogateescape")))
    return tuple(sorted(out))


def member_kind(info: tarfile.TarInfo) -> Kind | None:
    """The kind of a non-hardlink member; None for types a file system cannot hold."""
    return _KINDS.get(info.type)


def member_meta(info: tarfile.TarInfo, kind: Kind, content: str | None = None) -> Meta:
    return Meta(
        kind=kind,
        mode=info.mode & 0o7777,
        uid=info.uid,
        gid=info.gid,
        mtime=int(info.mtime // 1),
        size=info.size if kind == "file" else 0,
        linkname=info.linkname if kind == "symlink" else "",
        rdev=(info.devmajor, info.devminor) if kind in ("char", "block") else (0, 0),
        xattrs=member_xattrs(info),
        content=content,
    )
