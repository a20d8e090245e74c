"""Pushing a stored list: every instance (or this machine's) to the destination, then the list.

Each instance is copied with the copy engine from where its bytes are (the
store, or its recorded location) into the destination *as an instance*
(nothing is tagged), converted when ``format`` asks; ``add_compression``
then copies an instance once more with recompressed layers for each
platform the written list lacks in that compression.  As containers/image
does, every instance written with zstd layers is marked with its
annotation and sorted after the others, so clients without zstd support
pick a gzip one.  The list is written last and only then
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
from lighter.lists.ops import zstd_last
from lighter.lists.records import ManifestList, load, open_store, with_store_root
from lighter.lists.sources import InstanceSource
from lighter.manifest import Descriptor, ImageManifest, Index, manifest_digest, mark_compression, parse_manifest
from lighter.platform import Platform, host_platform
from lighter.transports import Capabilities, ImageDestination, ImageReference, TransportOptions, parse_image_name


@dataclass(frozen=True, slots=True)
class PushOptions:
    """``manifest push``'s flags.  ``all=False`` pushes only this machine's instance, as a single image."""

    all: bool = True
    format: ManifestFormat | None = None
    add_compression: tuple[Algorithm, ...] = ()
    #: containers/image's ForceCompressionFormat: ``compression`` is used for every layer and no blob of
    #: another compression is reused.  lighter's copy never reuses one anyway, so this only needs (and
    #: refuses to go without) a ``compression``; podman turns it on whenever --compression-format is given.
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


@dataclass(frozen=True, slots=True)
class _Written:
    """An instance as the destination now holds it, and what its layers are compressed with."""

    desc: Descriptor
    compression: Algorithm


def _layer_compression(raw: bytes, media_type: str) -> Algorithm:
    """zstd when any layer is (a client then needs zstd), else gzip when any layer is, else none."""
    manifest = parse_manifest(raw, media_type)
    found = (
        {mt.compression_of(layer.media_type) for layer in manifest.layers}
        if isinstance(manifest, ImageManifest)
        else set()
    )
    for algorithm in ("zstd", "gzip"):
        if algorithm in found:
            return algorithm
    return "none"


def _copy_instance(source: InstanceSource, dest: ImageDestination, copy_options: CopyOptions) -> _Written:
    """Copy one instance as an instance of ``dest``; its descriptor as written, and its layers' compression."""
    sink = _InstanceSink(dest)
    copy_between(source, sink, copy_options)
    assert sink.written is not None  # copy_between always writes the top-level manifest
    raw, media_type = sink.written
    desc = source.desc.evolve(media_type=media_type, digest=manifest_digest(raw), size=len(raw))
    return _Written(desc, _layer_compression(raw, media_type))


def _variants(
    sources: list[InstanceSource], written: list[_Written], dest: ImageDestination, opts: PushOptions
) -> list[_Written]:
    """One more instance per (platform, algorithm) the pushed list does not have yet, as containers/image adds them.

    What the list has is judged by what was written, not by the sources: with
    ``--compression-format zstd`` the instances are zstd now, so
    ``--add-compression gzip`` must add gzip variants for them.
    """
    have = {(str(w.desc.platform), w.compression) for w in written}
    digests = {w.desc.digest for w in written}
    variants: list[_Written] = []
    for algorithm in dict.fromkeys(opts.add_compression):
        for source in sources:
            key = (str(source.desc.platform), algorithm)
            if key in have:
                continue
            fmt = opts.format or ("oci" if algorithm == "zstd" else None)
            variant = _copy_instance(source, dest, _copy_options(opts, algorithm, fmt))
            have.add(key)
            if variant.desc.digest not in digests:  # an image with no layers to recompress is its own variant
                variants.append(variant)
                digests.add(variant.desc.digest)
    return variants


def _final_index(lst: ManifestList, written: list[_Written], variants: list[_Written], opts: PushOptions) -> Index:
    """The list to write: instances as written (converted with the list when asked), marked, zstd ones last."""
    index = lst.index
    to_oci = index.is_oci if opts.format is None else opts.format == "oci"
    new = index.evolve(manifests=tuple(w.desc for w in written))
    if to_oci != index.is_oci:
        new = new.convert(to_oci)  # keeps the order; drops what the other flavour cannot carry
    if to_oci:
        manifests = [mark_compression(m, w.compression) for m, w in zip(new.manifests, written, strict=True)]
        extra = [mark_compression(w.desc, w.compression) for w in variants]
    else:  # a Docker list carries no annotations
        manifests = list(new.manifests)
        extra = [w.desc.evolve(annotations={}, artifact_type=None) for w in variants]
    if to_oci == index.is_oci and not extra and tuple(manifests) == index.manifests:
        return index  # nothing changed: the list's own bytes, so its digest stays what inspect showed
    return new.evolve(manifests=zstd_last(tuple(manifests) + tuple(extra)))


def _check_request(lst: ManifestList, opts: PushOptions) -> None:
    wants_docker = opts.format == "v2s2" or (opts.format is None and not lst.index.is_oci)
    if "zstd" in opts.add_compression and wants_docker:
        raise UnsupportedError(
            "--add-compression zstd needs an OCI index: Docker manifest lists cannot mark zstd variants "
            "(use --format oci)"
        )
    if opts.add_compression and not opts.all:
        raise UnsupportedError("--add-compression adds variants to a list: it needs --all")
    if opts.force_compression and opts.compression is None:
        # containers/image refuses ForceCompressionFormat without a compression format, for the same reason
        raise UnsupportedError(
            "--force-compression forces the compression --compression-format names: give one (gzip, zstd or none)"
        )


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
            rewrites = opts.compression is not None or bool(opts.add_compression) or opts.format is not None
            for source in sources:
                source.check_blobs(dst, rewrites)  # a vanished blob fails here, before anything is written
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
    written = [_copy_instance(s, dst, copy_options) for s in sources]
    variants = _variants(sources, written, dst, opts)
    final = _final_index(lst, written, variants, opts)
    dst.put_manifest(final.raw, final.media_type)
    dst.commit()
    return PushResult(final.digest, final.media_type, final.manifests)
