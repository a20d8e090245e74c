"""Pushing a stored list: every instance (or this machine's) to the destination, then the list.

Each instance is copied with the copy engine from where its bytes are (the
store, or its recorded location) into the destination *as an instance*
(nothing is tagged), converted when ``format`` asks; ``add_compression``
then copies each instance once more with recompressed layers, and those
variants join the list after the originals, the zstd ones marked with
containers/image's annotation.  The list is written last and only then
committed, so the destination never names an instance it does not hold.
When nothing changed, the list's own bytes are pushed and its digest kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from lighter import mediatype as mt
from lighter.compression import Algorithm
from lighter.copy import CopyOptions, ManifestFormat, Progress, copy_between
from lighter.digest import Digest
from lighter.errors import UnsupportedError
from lighter.lists.edit import rm
from lighter.lists.ops import is_zstd_variant, zstd_last
from lighter.lists.records import ManifestList, load, open_store, with_store_root
from lighter.lists.sources import InstanceSource
from lighter.manifest import COMPRESSION_ANNOTATION, Descriptor, ImageManifest, Index, manifest_digest, parse_manifest
from lighter.platform import Platform, host_platform
from lighter.transports import Capabilities, ImageDestination, ImageReference, TransportOptions, parse_image_name


@dataclass(frozen=True, slots=True)
class PushOptions:
    """``manifest push``'s flags.  ``all=False`` pushes only this machine's instance, as a single image."""

    all: bool = True
    format: ManifestFormat | None = None
    add_compression: tuple[Algorithm, ...] = ()
    #: Accepted for podman's sake: lighter never reuses a blob of another compression when it recompresses.
    force_compression: bool = False
    compression: Algorithm | None = None
    compression_level: int | None = None
    remove: bool = False
    parallel: int = 6
    system_platform: Platform | None = None
    progress: Progress | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    """What was written at the destination's top level."""

    digest: Digest
    media_type: str
    manifests: tuple[Descriptor, ...] = ()


class _InstanceSink(ImageDestination):
    """Passes blobs to the real destination and turns its top-level manifest into an instance; never commits."""

    def __init__(self, dest: ImageDestination) -> None:
        self._dest = dest
        self.written: tuple[bytes, str] | None = None

    @property
    def reference(self) -> ImageReference:
        return self._dest.reference

    @property
    def capabilities(self) -> Capabilities:
        return self._dest.capabilities

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self._dest.has_blob(descriptor)

    def try_reuse_blob(self, descriptor: Descriptor) -> Descriptor | None:
        return self._dest.try_reuse_blob(descriptor)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        return self._dest.put_blob(stream, descriptor, media_type)

    def has_manifest(self, digest: Digest) -> bool:
        return self._dest.has_manifest(digest)

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        self._dest.put_manifest(raw, media_type, instance=instance or manifest_digest(raw))
        if instance is None:
            self.written = (raw, media_type)

    def commit(self) -> None:
        """The list's push commits, once, after the list itself is written."""


def _copy_options(opts: PushOptions, compression: Algorithm | None, fmt: ManifestFormat | None) -> CopyOptions:
    return CopyOptions(
        multi_arch="all",
        format=fmt,
        compression=compression,
        compression_level=opts.compression_level,
        parallel=opts.parallel,
        progress=opts.progress,
    )


def _copy_instance(source: InstanceSource, dest: ImageDestination, copy_options: CopyOptions) -> Descriptor:
    """Copy one instance as an instance of ``dest``; its descriptor as written."""
    sink = _InstanceSink(dest)
    copy_between(source, sink, copy_options)
    assert sink.written is not None  # copy_between always writes the top-level manifest
    raw, media_type = sink.written
    return source.desc.evolve(media_type=media_type, digest=manifest_digest(raw), size=len(raw))


def _compression(source: InstanceSource) -> Algorithm:
    """What an instance's layers are compressed with: zstd when marked or when its layers are, else gzip."""
    if is_zstd_variant(source.desc):
        return "zstd"
    manifest = parse_manifest(*source.manifest())
    if isinstance(manifest, ImageManifest):
        for layer in manifest.layers:
            found = mt.compression_of(layer.media_type)
            if found in ("zstd", "none"):
                return found
            if found == "gzip":
                break
    return "gzip"


def _variants(
    lst: ManifestList, sources: list[InstanceSource], dest: ImageDestination, opts: PushOptions
) -> list[Descriptor]:
    """One more instance per (instance, algorithm) the list does not already have, as containers/image adds them."""
    have = {(str(s.desc.platform), _compression(s)) for s in sources}
    have |= {(str(d.platform), "zstd") for d in lst.index.manifests if is_zstd_variant(d)}
    variants: list[Descriptor] = []
    for algorithm in dict.fromkeys(opts.add_compression):
        for source in sources:
            key = (str(source.desc.platform), algorithm)
            if is_zstd_variant(source.desc) or key in have:
                continue
            fmt = opts.format or ("oci" if algorithm == "zstd" else None)
            desc = _copy_instance(source, dest, _copy_options(opts, algorithm, fmt))
            annotations = {k: v for k, v in source.desc.annotations.items() if k != COMPRESSION_ANNOTATION}
            if algorithm == "zstd":
                annotations[COMPRESSION_ANNOTATION] = "true"
            variants.append(desc.evolve(annotations=annotations))
            have.add(key)
    return variants


def _final_index(
    lst: ManifestList, copied: dict[Digest, Descriptor], variants: list[Descriptor], opts: PushOptions
) -> Index:
    index = lst.index
    to_oci = None if opts.format is None else opts.format == "oci"
    unchanged = all(copied[d.digest] == d for d in index.manifests if d.digest in copied)
    if unchanged and not variants and (to_oci is None or to_oci == index.is_oci):
        return index  # the list's own bytes: its digest stays what inspect showed
    manifests = tuple(copied.get(d.digest, d) for d in index.manifests)
    index = index.evolve(manifests=manifests)
    if to_oci is not None:
        index = index.convert(to_oci)
    if variants:
        index = index.evolve(manifests=zstd_last(index.manifests + tuple(variants)))
    return index


def _check_request(lst: ManifestList, opts: PushOptions) -> None:
    wants_docker = opts.format == "v2s2" or (opts.format is None and not lst.index.is_oci)
    if "zstd" in opts.add_compression and wants_docker:
        raise UnsupportedError(
            "--add-compression zstd needs an OCI index: Docker manifest lists cannot mark zstd variants "
            "(use --format oci)"
        )
    if opts.add_compression and not opts.all:
        raise UnsupportedError("--add-compression adds variants to a list: it needs --all")


def push(
    list_name: str,
    dest: str | ImageReference,
    options: PushOptions | None = None,
    *,
    root: str | None = None,
    src_options: TransportOptions | None = None,
    dst_options: TransportOptions | None = None,
) -> PushResult:
    """Push the list ``list_name`` and its instances to ``dest`` (any transport)."""
    opts = options or PushOptions()
    store = open_store(root, src_options)
    lst = load(list_name, root=store.root)
    _check_request(lst, opts)
    source_options = with_store_root(src_options, store)
    if opts.all:
        chosen: tuple[Descriptor, ...] = lst.index.manifests
    else:
        chosen = (lst.index.choose(opts.system_platform or host_platform()),)
    sources: list[InstanceSource] = []
    try:
        for desc in chosen:
            sources.append(InstanceSource(store, lst, desc, source_options))
            sources[-1].check()  # every instance readable before anything is written
        dst_ref = parse_image_name(dest) if isinstance(dest, str) else dest
        with dst_ref.new_destination(with_store_root(dst_options, store)) as dst:
            result = _push_to(lst, sources, dst, opts)
    finally:
        for source in sources:
            source.close()
    if opts.remove:
        rm(lst.id, root=store.root)
    return result


def _push_to(lst: ManifestList, sources: list[InstanceSource], dst: ImageDestination, opts: PushOptions) -> PushResult:
    if not opts.all:
        single = copy_between(sources[0], dst, _copy_options(opts, opts.compression, opts.format))
        return PushResult(single.digest, single.media_type)
    copy_options = _copy_options(opts, opts.compression, opts.format)
    copied = {s.desc.digest: _copy_instance(s, dst, copy_options) for s in sources}
    variants = _variants(lst, sources, dst, opts)
    final = _final_index(lst, copied, variants, opts)
    dst.put_manifest(final.raw, final.media_type)
    dst.commit()
    return PushResult(final.digest, final.media_type, final.manifests)
