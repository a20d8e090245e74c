"""Helpers shared by the file transports (dir, OCI layout, the two archives).

``FileTree`` is the little read-only view the OCI layout source needs: a
directory on disk (``DirTree``) or the members of a tar archive
(``_files_tar.TarIndex``) answer the same three calls, so ``oci:`` and
``oci-archive:`` share one reader and an archive is never unpacked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import IO, Protocol

from lighter.digest import Digest
from lighter.errors import DigestMismatchError, ManifestTooLargeError
from lighter.localfs import CHUNK, write_stream
from lighter.manifest import MAX_MANIFEST_SIZE, Descriptor, manifest_digest

log = logging.getLogger(__name__)

#: Image configs are read whole; they are bigger than manifests at most by their history.
MAX_CONFIG_SIZE = 32 * 1024 * 1024


class FileTree(Protocol):
    """Read-only access to the files of a layout, by relative POSIX path."""

    def describe(self) -> str:
        """How to name the tree in error messages (its path)."""
        ...

    def size(self, rel: str) -> int | None:
        """The size of a regular file, or None when there is none at ``rel``."""
        ...

    def open(self, rel: str) -> IO[bytes]:
        """A stream of the file's bytes; FileNotFoundError when it is missing."""
        ...


class DirTree:
    """A ``FileTree`` over a directory."""

    def __init__(self, root: str) -> None:
        self.root = root

    def describe(self) -> str:
        return self.root

    def path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def size(self, rel: str) -> int | None:
        try:
            st = os.stat(self.path(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if os.path.isfile(self.path(rel)) else None

    def open(self, rel: str) -> IO[bytes]:
        try:
            return open(self.path(rel), "rb")
        except NotADirectoryError:
            raise FileNotFoundError(self.path(rel)) from None


def read_capped(tree: FileTree, rel: str, what: str, cap: int = MAX_MANIFEST_SIZE) -> bytes:
    """A small file read whole, refused before reading when over ``cap`` (DESIGN.md rule 4)."""
    size = tree.size(rel)
    if size is None:
        raise FileNotFoundError(rel)
    if size > cap:
        raise ManifestTooLargeError(f"{what} is {size} bytes, over the {cap} byte limit")
    with tree.open(rel) as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:  # grew while we looked
        raise ManifestTooLargeError(f"{what} is over the {cap} byte limit")
    log.debug("read %s: %d bytes from %s", what, len(data), tree.describe())
    return data


def verify_manifest(raw: bytes, instance: Digest, what: str) -> None:
    """The manifest asked for by digest must have that digest (base.py's contract)."""
    actual = manifest_digest(raw)
    if actual != instance:
        raise DigestMismatchError(what, str(instance), str(actual))


def store_blob(
    stream: IO[bytes],
    descriptor: Descriptor | None,
    media_type: str,
    directory: str,
    final_path: Callable[[Digest], str],
) -> Descriptor:
    """Write a blob through ``localfs.write_stream``: hashed while written, renamed only when verified.

    The directory is not fsynced here: the destination does it once, at commit, before it writes
    the manifest or index that names the blob.
    """
    if descriptor is None:
        digest, size = write_stream(stream, directory, final_path, what="blob", sync_dir=False)
        log.debug("wrote blob %s: %d bytes (digest computed while writing) in %s", digest, size, directory)
        return Descriptor(media_type, digest, size)
    size_wanted = descriptor.size if descriptor.size >= 0 else -1
    _, size = write_stream(stream, directory, final_path, descriptor.digest, size_wanted, what="blob", sync_dir=False)
    log.debug("wrote blob %s: %d bytes, verified, in %s", descriptor.digest, size, directory)
    return descriptor


def count_bytes(stream: IO[bytes]) -> int:
    """Read ``stream`` to its end and return how many bytes it had."""
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
    return total
