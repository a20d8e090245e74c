"""``docker-archive:`` — the ``docker save`` tar format, as skopeo reads and writes it.

Grammar (containers/image ``docker/archive``)::

    docker-archive-name ::= path [ ":" ( reference | "@" index ) ]

The path ends at the first colon.  ``reference`` is a docker reference
(normalised, ``latest`` when untagged; digests refused); ``@index`` picks
the N-th image of ``manifest.json`` when reading.  Reading an archive of
several images needs one or the other.

Reading serves what containers/image's docker-archive source serves, so
that digests equal skopeo's: a generated Docker v2s2 manifest whose layers
are named by their diffIDs (the digests of the *uncompressed* layer tars),
with uncompressed sizes and the media type containers/image uses there
(``…rootfs.diff.tar.gzip``, its ``DockerV2Schema2LayerMediaType``, although
the bytes served are uncompressed); a layer stored compressed in the
archive is decompressed on the fly.

Writing takes one single image (Docker v2s2, layers uncompressed: see
``capabilities``), stages its blobs beside the archive and writes the
archive at ``commit``: ``<hex>.tar`` layers, ``<hex>.json`` config, the
legacy per-layer directories, ``manifest.json`` and ``repositories``, as
skopeo does.  Like skopeo it refuses to modify an existing archive.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from typing import IO

from lighter import mediatype as mt
from lighter.compression import PeekableReader, decompressed, detect
from lighter.digest import Digest, digest_bytes
from lighter.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    InvalidImageNameError,
    InvalidReferenceError,
    LayoutError,
    ManifestNotFoundError,
    UnsupportedError,
    UnsupportedMediaTypeError,
)
from lighter.manifest import Descriptor, ImageManifest, build_image_manifest, go_dumps, parse_config, parse_manifest
from lighter.reference import Reference, parse_reference
from lighter.transports._files_common import MAX_CONFIG_SIZE, count_bytes, read_capped, store_blob
from lighter.transports._files_docker import (
    choose_item,
    item_json,
    legacy_metadata,
    parse_items,
    repositories_json,
)
from lighter.transports._files_tar import TarEntry, TarIndex, staging_dir, write_tar_atomic
from lighter.transports.base import Capabilities, ImageDestination, ImageReference, ImageSource, TransportOptions

MANIFEST_FILE = "manifest.json"
#: What containers/image's docker-archive source labels every layer with.
SOURCE_LAYER_TYPE = mt.DOCKER_LAYER_GZIP


class DockerArchiveReference(ImageReference):
    """``docker-archive:PATH[:NAME[:TAG]|:@N]``.  No I/O."""

    transport = "docker-archive"

    def __init__(self, path: str, tag: Reference | None = None, index: int | None = None) -> None:
        if tag is not None and index is not None:
            raise InvalidImageNameError(f"invalid docker-archive name {path}: cannot use both a tag and an @index")
        self.path = path
        self.tag = tag
        self.index = index

    def __str__(self) -> str:
        if self.tag is not None:
            return f"docker-archive:{self.path}:{self.tag}"
        if self.index is not None:
            return f"docker-archive:{self.path}:@{self.index}"
        return f"docker-archive:{self.path}"

    def __repr__(self) -> str:
        return f"DockerArchiveReference({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DockerArchiveReference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def docker_reference(self) -> Reference | None:
        return self.tag

    def new_source(self, options: TransportOptions | None = None) -> DockerArchiveSource:
        return DockerArchiveSource(self)

    def new_destination(self, options: TransportOptions | None = None) -> DockerArchiveDestination:
        return DockerArchiveDestination(self)


def parse(rest: str) -> DockerArchiveReference:
    """Parse what follows ``docker-archive:``."""
    path, sep, spec = rest.partition(":")
    if not path:
        raise InvalidImageNameError(
            f"invalid image name docker-archive:{rest}: expected docker-archive:PATH[:NAME:TAG|:@N]"
        )
    if not sep or not spec:
        return DockerArchiveReference(path)
    if spec.startswith("@"):
        if not spec[1:].isdigit():
            raise InvalidImageNameError(
                f"invalid image name docker-archive:{rest}: expected @N with N a non-negative integer, got {spec!r}"
            )
        return DockerArchiveReference(path, index=int(spec[1:]))
    try:
        tag = parse_reference(spec)
    except InvalidReferenceError as exc:
        raise InvalidImageNameError(f"invalid image name docker-archive:{rest}: {exc}") from None
    if tag.digest is not None:
        raise InvalidImageNameError(f"invalid image name docker-archive:{rest}: digest references are not supported")
    return DockerArchiveReference(path, tag=tag)


# -- reading -------------------------------------------------------------------


class DockerArchiveSource(ImageSource):
    """Reads one image of an archive in place; its manifest is generated as containers/image does."""

    def __init__(self, ref: DockerArchiveReference) -> None:
        self._ref = ref
        if not os.path.exists(ref.path):
            raise ImageNotFoundError(f"no docker archive at {ref.path}: the file does not exist")
        if os.path.isdir(ref.path):
            raise LayoutError(f"{ref.path} is a directory, not a docker archive")
        self._tar = TarIndex(ref.path)
        self._lock = threading.Lock()
        self._manifest: bytes | None = None
        try:
            self._load()
        except BaseException:
            self._tar.close()
            raise

    def _load(self) -> None:
        where = self._ref.path
        try:
            raw = read_capped(self._tar, MANIFEST_FILE, f"manifest.json of {where}")
        except FileNotFoundError:
            raise LayoutError(f"{where} is not a docker archive: it has no manifest.json") from None
        item = choose_item(parse_items(raw, where), self._ref.tag, self._ref.index, where)
        try:
            self._config = read_capped(self._tar, item.config, f"config {item.config} in {where}", MAX_CONFIG_SIZE)
        except FileNotFoundError:
            raise LayoutError(f"{where}: the config {item.config} named in manifest.json is missing") from None
        self._config_digest = digest_bytes(self._config)
        self._diff_ids = parse_config(self._config).diff_ids
        if len(self._diff_ids) != len(item.layers):
            raise LayoutError(
                f"{where}: manifest.json lists {len(item.layers)} layers, the config {len(self._diff_ids)} diffIDs"
            )
        self._layers: dict[Digest, str] = {}
        for diff_id, member in zip(self._diff_ids, item.layers, strict=True):
            self._layers.setdefault(diff_id, member)

    @property
    def reference(self) -> DockerArchiveReference:
        return self._ref

    def _layer_size(self, member: str) -> int:
        """The uncompressed size of a layer (reading it through when it is stored compressed)."""
        size = self._tar.size(member)
        if size is None:
            raise LayoutError(f"{self._ref.path}: the layer {member} named in manifest.json is missing")
        with self._tar.open(member) as raw:
            peekable = PeekableReader(raw)
            if detect(peekable.peek(6)) == "none":
                return size
            return count_bytes(decompressed(peekable, f"layer {member}"))  # type: ignore[arg-type]

    def _generated(self) -> bytes:
        with self._lock:
            if self._manifest is None:
                sizes = {diff_id: self._layer_size(member) for diff_id, member in self._layers.items()}
                config = Descriptor(mt.DOCKER_CONFIG, self._config_digest, len(self._config))
                layers = [Descriptor(SOURCE_LAYER_TYPE, d, sizes[d]) for d in self._diff_ids]
                self._manifest = build_image_manifest(config, layers, oci=False).raw
            return self._manifest

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        raw = self._generated()
        if instance is not None and instance != digest_bytes(raw):
            raise ManifestNotFoundError(f"{self._ref} holds a single image, not the manifest {instance}")
        return raw, mt.DOCKER_MANIFEST

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        if descriptor.digest == self._config_digest:
            return io.BytesIO(self._config)
        member = self._layers.get(descriptor.digest)
        if member is None:
            raise BlobNotFoundError(f"blob {descriptor.digest} is not in {self._ref}")
        try:
            stream = self._tar.open(member)
        except FileNotFoundError:
            raise BlobNotFoundError(f"layer {member} ({descriptor.digest}) is missing from {self._ref.path}") from None
        # Layers are addressed by diffID, so a compressed one is served decompressed.
        return decompressed(stream, f"layer {member}")

    def close(self) -> None:
        self._tar.close()


# -- writing -------------------------------------------------------------------


class DockerArchiveDestination(ImageDestination):
    """Stages one image's blobs beside the archive; the archive appears, whole, at ``commit``."""

    def __init__(self, ref: DockerArchiveReference) -> None:
        self._ref = ref
        if ref.index is not None:
            raise InvalidImageNameError(f"cannot write to {ref}: a destination must not name an image @index")
        parent = os.path.dirname(os.path.abspath(ref.path))
        if not os.path.isdir(parent):
            raise LayoutError(f"cannot write to {ref}: the directory {parent} does not exist")
        if os.path.isdir(ref.path):
            raise LayoutError(f"cannot write to {ref}: {ref.path} is a directory")
        if os.path.isfile(ref.path) and os.path.getsize(ref.path) > 0:
            raise UnsupportedError(
                f"cannot write to {ref}: {ref.path} exists and docker-archive does not support modifying "
                "existing images"
            )
        self._staging = staging_dir(ref.path, ".lighter-docker-archive-")
        self._blobs: dict[Digest, int] = {}
        self._lock = threading.Lock()
        self._image: ImageManifest | None = None

    @property
    def reference(self) -> DockerArchiveReference:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        # As containers/image's docker-archive destination: v2s2 only, uncompressed layers, no lists.
        return Capabilities(
            manifest_types=(mt.DOCKER_MANIFEST,),
            accepts_lists=False,
            layer_compression="decompress",
            supports_zstd=False,
        )

    def _path(self, digest: Digest) -> str:
        return os.path.join(self._staging, f"{digest.algorithm}-{digest.hex}")

    def has_blob(self, descriptor: Descriptor) -> bool:
        with self._lock:
            size = self._blobs.get(descriptor.digest)
        return size is not None and (descriptor.size < 0 or size == descriptor.size)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        stored = store_blob(stream, descriptor, media_type, self._staging, self._path)
        with self._lock:
            self._blobs[stored.digest] = os.path.getsize(self._path(stored.digest))
        return stored

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        if instance is not None:
            raise UnsupportedError(f"{self._ref}: docker-archive cannot store manifest lists or their instances")
        image = parse_manifest(raw, media_type)
        if not isinstance(image, ImageManifest) or image.media_type != mt.DOCKER_MANIFEST:
            raise UnsupportedMediaTypeError(
                f"{self._ref}: docker-archive stores Docker v2s2 images, got {getattr(image, 'media_type', media_type)}"
            )
        for desc in (image.config, *image.layers):
            if not self.has_blob(desc):
                raise BlobNotFoundError(f"{self._ref}: blob {desc.digest} of the manifest was not written first")
        self._image = image

    def _entries(self, image: ImageManifest) -> Iterator[TarEntry]:
        tags = [self._ref.tag] if self._ref.tag is not None else []
        layer_digests = [layer.digest for layer in image.layers]
        for digest in dict.fromkeys(layer_digests):
            yield TarEntry(f"{digest.hex}.tar", path=self._path(digest), mode=0o444)
        config_name = f"{image.config.digest.hex}.json"
        yield TarEntry(config_name, path=self._path(image.config.digest), mode=0o444)
        with open(self._path(image.config.digest), "rb") as f:
            legacy = legacy_metadata(layer_digests, f.read())
        seen: set[str] = set()
        for layer in legacy:
            if layer.layer_id in seen:
                continue
            seen.add(layer.layer_id)
            yield TarEntry(f"{layer.layer_id}/layer.tar", "symlink", linkname=f"../{layer.layer_file}", mode=0)
            yield TarEntry(f"{layer.layer_id}/VERSION", data=b"1.0", mode=0o444)
            yield TarEntry(f"{layer.layer_id}/json", data=layer.json, mode=0o444)
        item = item_json(config_name, tags, [f"{d.hex}.tar" for d in layer_digests])
        yield TarEntry(MANIFEST_FILE, data=go_dumps([item]), mode=0o444)
        top = legacy[-1].layer_id if legacy else None
        yield TarEntry("repositories", data=repositories_json(tags, top), mode=0o444)

    def commit(self) -> None:
        if self._image is None:
            raise LayoutError(f"nothing to commit to {self._ref}: no manifest was written")
        write_tar_atomic(self._ref.path, self._entries(self._image))

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)
