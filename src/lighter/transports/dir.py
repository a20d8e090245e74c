"""``dir:`` — skopeo's directory layout: one image or list per directory.

Layout (containers/image ``directory``)::

    PATH/version                  "Directory Transport Version: 1.1\\n"
    PATH/manifest.json            the top-level manifest or list, bytes as received
    PATH/<hex>.manifest.json      each instance of a list, named by its digest
    PATH/<hex>                    each blob (sha256; other algorithms are "<alg>-<hex>")

Writing refuses a non-empty directory that is not already a ``dir:`` image
(its ``version`` file says so), as skopeo does, so that a typo never wipes
a directory of data.  Into an existing image it writes beside the old
files: blobs and instance manifests are named by digest, so they cannot
clash with the old image's, and ``manifest.json`` is replaced last, by an
atomic rename.  Only then are the old image's leftovers removed.  The
directory therefore always holds the old image or the new one, never a mix;
``close`` without ``commit`` removes what this destination added.

>>> str(parse("/tmp/img"))
'dir:/tmp/img'
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from typing import IO, Final

from lighter.digest import Digest
from lighter.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    InvalidImageNameError,
    LayoutError,
    ManifestNotFoundError,
)
from lighter.localfs import atomic_write, fsync_dir
from lighter.manifest import Descriptor, guess_media_type, manifest_digest
from lighter.transports._files_common import DirTree, read_capped, store_blob, verify_manifest
from lighter.transports.base import ImageDestination, ImageReference, ImageSource, TransportOptions

log = logging.getLogger(__name__)

VERSION: Final = b"Directory Transport Version: 1.1\n"
VERSION_FILE: Final = "version"
MANIFEST_FILE: Final = "manifest.json"


def blob_name(digest: Digest) -> str:
    """The file name of a blob: the bare hex for sha256, as containers/image names it."""
    return digest.hex if digest.algorithm == "sha256" else f"{digest.algorithm}-{digest.hex}"


def manifest_name(digest: Digest) -> str:
    """The file name of a list's instance manifest."""
    return f"{blob_name(digest)}.manifest.json"


class DirReference(ImageReference):
    """``dir:PATH``.  No I/O."""

    transport = "dir"

    def __init__(self, path: str) -> None:
        self.path = path

    def __str__(self) -> str:
        return f"dir:{self.path}"

    def __repr__(self) -> str:
        return f"DirReference({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DirReference) and self.path == other.path

    def __hash__(self) -> int:
        return hash(("dir", self.path))

    def new_source(self, options: TransportOptions | None = None) -> DirSource:
        return DirSource(self)

    def new_destination(self, options: TransportOptions | None = None) -> DirDestination:
        return DirDestination(self)


def parse(rest: str) -> DirReference:
    """Parse what follows ``dir:`` (a path, which may contain colons)."""
    if not rest:
        raise InvalidImageNameError("invalid image name 'dir:': expected dir:PATH")
    return DirReference(rest)


class DirSource(ImageSource):
    """Reads the image or list in a directory; ``manifest.json`` is read when the source opens."""

    def __init__(self, ref: DirReference) -> None:
        self._ref = ref
        self._tree = DirTree(ref.path)
        if not os.path.isdir(ref.path):
            raise ImageNotFoundError(f"no image at {ref}: {ref.path} is not a directory")
        try:
            self._top = read_capped(self._tree, MANIFEST_FILE, f"{ref.path}/{MANIFEST_FILE}")
        except FileNotFoundError:
            raise ImageNotFoundError(f"no image at {ref}: {ref.path}/{MANIFEST_FILE} does not exist") from None
        self._top_type = guess_media_type(self._top)

    @property
    def reference(self) -> DirReference:
        return self._ref

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is None:
            return self._top, self._top_type
        what = f"manifest {instance} in {self._ref.path}"
        try:
            raw = read_capped(self._tree, manifest_name(instance), what)
        except FileNotFoundError:
            if manifest_digest(self._top) == instance:
                return self._top, self._top_type
            raise ManifestNotFoundError(f"{what}: {manifest_name(instance)} does not exist") from None
        verify_manifest(raw, instance, what)
        return raw, guess_media_type(raw)

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        try:
            stream = self._tree.open(blob_name(descriptor.digest))
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {descriptor.digest} is missing from {self._ref.path}") from None
        log.debug("reading blob %s (%d bytes) from %s", descriptor.digest, descriptor.size, self._ref.path)
        return stream


def _is_dir_image(path: str) -> bool:
    try:
        with open(os.path.join(path, VERSION_FILE), "rb") as f:
            return f.read(len(VERSION) + 1) == VERSION
    except (FileNotFoundError, IsADirectoryError):
        return False


class DirDestination(ImageDestination):
    """Writes one image or list into a directory; ``manifest.json`` appears at ``commit``."""

    def __init__(self, ref: DirReference) -> None:
        self._ref = ref
        self.root = ref.path
        self._created = False
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise LayoutError(f"cannot write to {ref}: {self.root} exists and is not a directory")
        if not os.path.exists(self.root):
            os.makedirs(self.root)
            self._created = True
        self._before = frozenset(os.listdir(self.root))
        if self._before and not _is_dir_image(self.root):
            raise LayoutError(
                f"cannot write to {ref}: {self.root} is not empty and is not a dir: image "
                f"(no {VERSION_FILE!r} file saying {VERSION.decode().strip()!r}); refusing to overwrite it"
            )
        if not self._before:
            # As skopeo: mark the directory as ours at once, so that an interrupted write can be redone.
            atomic_write(os.path.join(self.root, VERSION_FILE), VERSION)
        self._lock = threading.Lock()
        self._kept: set[str] = {VERSION_FILE, MANIFEST_FILE}
        self._top: bytes | None = None
        self._committed = False

    @property
    def reference(self) -> DirReference:
        return self._ref

    def _keep(self, name: str) -> None:
        with self._lock:
            self._kept.add(name)

    def has_blob(self, descriptor: Descriptor) -> bool:
        name = blob_name(descriptor.digest)
        try:
            size = os.stat(os.path.join(self.root, name)).st_size
        except FileNotFoundError:
            return False
        if descriptor.size >= 0 and size != descriptor.size:
            return False
        self._keep(name)  # the new image reuses a blob of the old one
        return True

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        stored = store_blob(stream, descriptor, media_type, self.root, lambda d: os.path.join(self.root, blob_name(d)))
        self._keep(blob_name(stored.digest))
        return stored

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        if instance is None:
            self._top = raw
            return
        verify_manifest(raw, instance, f"manifest written as instance {instance}")
        atomic_write(os.path.join(self.root, manifest_name(instance)), raw)
        self._keep(manifest_name(instance))
        log.debug("wrote manifest %s (%d bytes) as %s in %s", instance, len(raw), manifest_name(instance), self.root)

    def has_manifest(self, digest: Digest) -> bool:
        name = manifest_name(digest)
        if not os.path.isfile(os.path.join(self.root, name)):
            return False
        self._keep(name)  # an instance the old list had and the new one names again
        return True

    def commit(self) -> None:
        if self._top is None:
            raise LayoutError(f"nothing to commit to {self._ref}: no top-level manifest was written")
        if not _is_dir_image(self.root):
            atomic_write(os.path.join(self.root, VERSION_FILE), VERSION)
        fsync_dir(self.root)  # the blobs' renames (not synced one by one) are durable before manifest.json's
        atomic_write(os.path.join(self.root, MANIFEST_FILE), self._top)
        self._committed = True
        if log.isEnabledFor(logging.DEBUG):  # the digest is worth computing only for the log
            log.debug(
                "committed %s (%d bytes) as %s in %s",
                manifest_digest(self._top),
                len(self._top),
                MANIFEST_FILE,
                self.root,
            )
        # The new image is complete and visible; what is left of the old one goes now.
        for name in os.listdir(self.root):
            if name not in self._kept:
                _remove(os.path.join(self.root, name))

    def close(self) -> None:
        if self._committed:
            return
        with self._lock:
            added = [name for name in self._kept if name not in self._before]
        for name in added:
            _remove(os.path.join(self.root, name))
        if self._created:
            with contextlib.suppress(OSError):
                os.rmdir(self.root)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
