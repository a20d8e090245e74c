"""Doing a copy: streams blobs and manifests from an ImageSource to an ImageDestination.

Written only against the transport interfaces, so every pair of transports
works.  Blobs move on one bounded thread pool (hashlib, isal and zstd
release the GIL); instances of a list move on a second, small pool so that
an instance waiting for its blobs never starves the blob workers.  A blob
shared by several instances moves once.  The destination commits only after
every blob and manifest has been written and verified.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TypeVar

from lighter import mediatype as mt
from lighter.compression import compressed, decompressed
from lighter.copy.options import CopyOptions
from lighter.copy.plan import LayerAction, ListPlan, check_instances, image_actions, plan_list
from lighter.copy.progress import Progress
from lighter.digest import Digest, VerifyingReader, digest_bytes
from lighter.errors import InvalidManifestError, MissingInstancesError, NotFoundError, RegistryError
from lighter.manifest import (
    Descriptor,
    ImageConfig,
    ImageManifest,
    Index,
    Manifest,
    manifest_digest,
    mark_compression,
    parse_config,
    parse_manifest,
    to_oci_config,
)
from lighter.platform import host_platform
from lighter.transports import ImageDestination, ImageReference, ImageSource, TransportOptions, parse_image_name

_KEEP = LayerAction("keep")
#: levels of nested lists read ahead by ``read_instances``
_MAX_NESTING = 4
_T = TypeVar("_T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What was written at the destination's top level."""

    digest: Digest
    media_type: str
    blobs_copied: int = 0
    blobs_reused: int = 0


class _CountingReader:
    """Reports bytes read to the progress sink.

    It seeks when the stream does, so an upload resumed at the registry's
    offset can re-read its source; bytes read again after going back are not
    counted twice.
    """

    def __init__(self, raw: IO[bytes], digest: Digest, progress: Progress) -> None:
        self._raw = raw
        self._digest = digest
        self._progress = progress
        self._pos = 0
        self._counted = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._pos += len(data)
        if self._pos > self._counted:
            self._progress.blob_advanced(self._digest, self._pos - self._counted)
            self._counted = self._pos
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        start = self._raw.tell() - self._pos
        position = self._raw.seek(offset, whence)
        self._pos = position - start
        return position

    def close(self) -> None:
        self._raw.close()


def _drain(stream: IO[bytes]) -> None:
    """Read what a decoder left behind so that a VerifyingReader sees EOF and checks."""
    while stream.read(1024 * 1024):
        pass


class _Copier:
    def __init__(self, source: ImageSource, dest: ImageDestination, options: CopyOptions) -> None:
        self.source = source
        self.dest = dest
        self.options = options
        self.caps = dest.capabilities
        self.blob_pool = ThreadPoolExecutor(max_workers=max(1, options.parallel), thread_name_prefix="lighter-blob")
        self._blobs: dict[tuple[Digest, LayerAction], Future[Descriptor]] = {}
        self._lock = threading.Lock()
        self.copied = 0
        self.reused = 0
        #: instances of a list that neither the source nor the destination holds
        self.absent: set[Digest] = set()
        self._read_cache: dict[Digest, tuple[bytes, Manifest] | None] = {}

    def close(self) -> None:
        self.blob_pool.shutdown(wait=True, cancel_futures=True)

    # -- blobs ---------------------------------------------------------------

    def blob(self, desc: Descriptor, action: LayerAction, what: str) -> Future[Descriptor]:
        """The future of one blob's move, shared by every image that needs it."""
        key = (desc.digest, action)
        with self._lock:
            future = self._blobs.get(key)
            if future is None:
                future = self.blob_pool.submit(self._move_blob, desc, action, what)
                self._blobs[key] = future
        return future

    def _move_blob(self, desc: Descriptor, action: LayerAction, what: str) -> Descriptor:
        progress = self.options.progress
        if action.kind == "keep":
            reused = self.dest.try_reuse_blob(desc)
            if reused is not None:
                log.debug("%s %s already at the destination", what, desc.digest)
                with self._lock:
                    self.reused += 1
                if progress:
                    progress.blob_finished(desc.digest, skipped=True)
                return desc
        log.debug("copying %s %s (%d bytes, %s)", what, desc.digest, desc.size, action.kind)
        if progress:
            progress.blob_started(desc.digest, desc.size, what)
        stream = self.source.blob(desc)
        try:
            counted: IO[bytes] = _CountingReader(stream, desc.digest, progress) if progress else stream  # type: ignore[assignment]
            if action.kind == "keep":
                stored = self.dest.put_blob(counted, desc)
                result = desc.evolve(digest=stored.digest, size=stored.size)
            else:
                result = self._reencode(counted, desc, action, what)
        finally:
            stream.close()
        with self._lock:
            self.copied += 1
        if progress:
            progress.blob_finished(desc.digest, skipped=False)
        return result

    def _reencode(self, stream: IO[bytes], desc: Descriptor, action: LayerAction, what: str) -> Descriptor:
        verifying = VerifyingReader(stream, desc.digest, desc.size, f"{what} {desc.digest}")
        plain = decompressed(verifying, f"{what} {desc.digest}")  # type: ignore[arg-type]
        algorithm = action.algorithm if action.kind == "recompress" else "none"
        encoded = compressed(plain, algorithm, self.options.compression_level)
        media_type = mt.with_compression(desc.media_type, algorithm)
        stored = self.dest.put_blob(encoded, None, media_type=media_type)
        _drain(verifying)  # type: ignore[arg-type]
        if stored.digest == desc.digest:
            # The bytes were already what was asked for (a docker archive's plain layer labelled
            # tar.gzip, as every docker-archive reader labels them): keep the descriptor, and so the
            # manifest's digest, as skopeo does when it finds nothing to decompress.
            return desc
        return desc.evolve(media_type=media_type, digest=stored.digest, size=stored.size)

    # -- images --------------------------------------------------------------

    def image(self, raw: bytes, manifest: Manifest, instance: bool) -> tuple[bytes, str]:
        """Copy one image's blobs, then its (possibly rewritten) manifest; returns what was written."""
        if isinstance(manifest, Index):
            raise InvalidManifestError("expected a single image manifest, got a manifest list")
        to_oci, actions = image_actions(manifest, self.options, self.caps)
        layers = [self.blob(layer, action, "layer") for layer, action in zip(manifest.layers, actions, strict=True)]
        out_raw, out_type = raw, manifest.media_type
        if isinstance(manifest, ImageManifest):
            docker_config = self._config_for_oci(manifest) if to_oci else None
            if docker_config is None:
                self.blob(manifest.config, _KEEP, "config").result()
            new_layers = tuple(f.result() for f in layers)
            new: ImageManifest = manifest
            if any(a.kind != "keep" for a in actions):
                new = manifest.evolve(layers=new_layers)
            if to_oci is not None:
                new = new.convert(to_oci, config=docker_config)
            if new is not manifest:
                out_raw, out_type = new.raw, new.media_type
        else:
            for future in layers:
                future.result()
        written = manifest_digest(out_raw)
        log.debug("writing manifest %s (%s)", written, out_type)
        self.dest.put_manifest(out_raw, out_type, instance=written if instance else None)
        return out_raw, out_type

    def _config_for_oci(self, manifest: ImageManifest) -> ImageConfig | None:
        """Going Docker → OCI, skopeo rewrites the config as an OCI config; store that one instead."""
        if manifest.config.media_type != mt.DOCKER_CONFIG:
            return None
        docker_config = parse_config(self.source.blob_bytes(manifest.config, "config"))
        oci_config = to_oci_config(docker_config)
        self.dest.put_blob(
            io.BytesIO(oci_config.raw), Descriptor(mt.OCI_CONFIG, oci_config.digest, len(oci_config.raw))
        )
        return docker_config

    def read_instances(self, descs: tuple[Descriptor, ...]) -> list[Manifest]:
        """Read every instance manifest of a list, nested lists' too, before any blob moves.

        The plan decides from them whether the copy may go ahead at all
        (``--preserve-digests``, layers the destination cannot take), and the
        instances the source lacks are looked up at the destination: a copy
        refused for either reason then writes nothing.  What is read is kept
        for the copy itself.
        """
        found: list[Manifest] = []
        level = descs
        for _ in range(_MAX_NESTING):  # deeper lists are read when their turn comes
            read = [got for got in _map_parallel(self._read, level, self.options.parallel) if got is not None]
            found.extend(manifest for _, manifest in read)
            level = tuple(d for _, manifest in read if isinstance(manifest, Index) for d in manifest.manifests)
            if not level:
                break
        return found

    def _read(self, desc: Descriptor) -> tuple[bytes, Manifest] | None:
        """One instance's manifest, read once; None when the source lacks it.

        An instance the source lacks (a sparse list, such as a merged ``dir:``)
        is kept as it is when the destination holds it already; otherwise it is
        noted in ``absent``, and the list is not written.
        """
        with self._lock:
            if desc.digest in self._read_cache:
                return self._read_cache[desc.digest]
        got: tuple[bytes, Manifest] | None = None
        try:
            raw, media_type = self.source.manifest(desc.digest)
            got = raw, parse_manifest(raw, media_type or desc.media_type)
        except NotFoundError:
            if not self.dest.has_manifest(desc.digest):
                with self._lock:
                    self.absent.add(desc.digest)
        with self._lock:
            self._read_cache[desc.digest] = got
        return got

    def instance(self, desc: Descriptor) -> Descriptor:
        """Copy one instance of a list (an image, or a nested list) and describe what was written."""
        got = self._read(desc)
        if got is None:
            return desc
        raw, manifest = got
        if isinstance(manifest, Index):
            plan = ListPlan(instances=manifest.manifests, list_mode="keep", to_oci=None)
            out_raw, out_type = self.write_list(manifest, plan, instance=True)
        else:
            out_raw, out_type = self.image(raw, manifest, instance=True)
        written = desc.evolve(media_type=out_type, digest=manifest_digest(out_raw), size=len(out_raw))
        if self.options.compression is not None and not isinstance(manifest, Index):
            # recompressed: marked as containers/image marks zstd instances (unchanged copies keep the list bytes)
            written = mark_compression(written, self.options.compression)
        return written

    def refuse_absent(self, index: Index, instances: tuple[Descriptor, ...]) -> None:
        """Raise MissingInstancesError if the list names instances neither side holds."""
        absent = tuple(str(m.digest) for m in instances if m.digest in self.absent)
        if absent:
            raise MissingInstancesError(
                f"not writing the manifest list {index.digest}: the source lacks its instances "
                f"{', '.join(absent)} and the destination does not hold them",
                absent,
            )

    # -- lists ---------------------------------------------------------------

    def write_list(self, index: Index, plan: ListPlan, instance: bool) -> tuple[bytes, str]:
        copied = _map_parallel(self.instance, plan.instances, self.options.parallel)
        self.refuse_absent(index, plan.instances)
        changed = {old.digest: new for old, new in zip(plan.instances, copied, strict=True) if new != old}
        out = index
        if plan.list_mode == "strip":
            out = index.evolve(manifests=tuple(copied))
        elif changed:
            out = index.evolve(manifests=tuple(changed.get(m.digest, m) for m in index.manifests))
        if plan.to_oci is not None:
            out = out.convert(plan.to_oci)
        written = digest_bytes(out.raw)
        try:
            self.dest.put_manifest(out.raw, out.media_type, instance=written if instance else None)
        except RegistryError as exc:
            hint = _sparse_hint(plan, exc)
            if hint is None:
                raise
            raise RegistryError(f"{exc} ({hint})", exc.status) from None
        return out.raw, out.media_type


def _sparse_hint(plan: ListPlan, exc: RegistryError) -> str | None:
    """What to do when a registry refused a sparse list for naming instances it lacks; None otherwise.

    Any other refusal (401, 403, a 5xx after the retries, a full copy's
    failure) says nothing about sparseness: a hint there would send the user
    the wrong way.
    """
    text = str(exc)
    if not plan.sparse or not ("MANIFEST_BLOB_UNKNOWN" in text or "blob unknown" in text.lower()):
        return None
    if not plan.instances:
        return "index-only: the destination must already hold every instance of the list; copy them first with --all"
    return (
        "the list still names instances that were not copied; some registries reject such sparse lists "
        "with 'blob unknown': use --strip-removed-platforms"
    )


def _map_parallel(fn: Callable[[Descriptor], _T], items: tuple[Descriptor, ...], parallel: int) -> list[_T]:
    if len(items) <= 1:
        return [fn(item) for item in items]
    workers = max(1, min(len(items), max(2, parallel // 2)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lighter-instance") as pool:
        return list(pool.map(fn, items))


def copy_between(source: ImageSource, dest: ImageDestination, options: CopyOptions | None = None) -> CopyResult:
    """Copy what ``source`` names into ``dest`` and commit it."""
    opts = options or CopyOptions()
    copier = _Copier(source, dest, opts)
    try:
        raw, media_type = source.manifest()
        manifest = parse_manifest(raw, media_type)
        if isinstance(manifest, Index):
            plan = plan_list(manifest, opts, copier.caps, opts.system_platform or host_platform())
            if isinstance(plan, Descriptor):
                inst_raw, inst_type = source.manifest(plan.digest)
                out_raw, out_type = copier.image(inst_raw, parse_manifest(inst_raw, inst_type), instance=False)
                dest.note_toplevel_list(raw, media_type)
            else:
                # decide before anything moves: every instance's manifest is read and judged first
                check_instances(copier.read_instances(plan.instances), opts, copier.caps)
                copier.refuse_absent(manifest, plan.instances)
                out_raw, out_type = copier.write_list(manifest, plan, instance=False)
        else:
            out_raw, out_type = copier.image(raw, manifest, instance=False)
        dest.commit()
    finally:
        copier.close()
    return CopyResult(manifest_digest(out_raw), out_type, copier.copied, copier.reused)


def copy_image(
    src: str | ImageReference,
    dst: str | ImageReference,
    options: CopyOptions | None = None,
    *,
    src_options: TransportOptions | None = None,
    dst_options: TransportOptions | None = None,
) -> CopyResult:
    """Copy an image or a list between any two transports, like ``skopeo copy``.

    >>> copy_image("oci:/tmp/in:1", "dir:/tmp/out")  # doctest: +SKIP
    CopyResult(digest=Digest('sha256:...'), media_type='application/vnd.oci.image.manifest.v1+json', ...)
    """
    src_ref = parse_image_name(src) if isinstance(src, str) else src
    dst_ref = parse_image_name(dst) if isinstance(dst, str) else dst
    source = src_ref.new_source(src_options)
    try:
        dest = dst_ref.new_destination(dst_options)
        try:
            return copy_between(source, dest, options)
        finally:
            dest.close()
    finally:
        source.close()
