"""Keeping the list digest an image was pinned by, and opening images for a pipeline step.

A ``dir:`` image copied out of a list is only the instance: its list's
digest, which users pinned, is gone (skopeo issue 1935).  ``merge_manifest``
puts the list back: the image's own manifest moves to ``<hex>.manifest.json``
(where a ``dir:`` image keeps the instances of a list) and the list becomes
``manifest.json``.  The result is a sparse list in ``dir`` form holding one
instance; copied into the local store it answers to both digests, copied
with ``--all`` to a registry that holds the other instances it is served
under the original list digest.

``container_source`` yields ``(name, transport-string)`` for an image of a
pipeline input, merging its list into a private copy first when it has one,
so the cache itself is never changed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator

from lighter.cache.inputs import ContainerImage
from lighter.digest import Digest
from lighter.errors import CacheError
from lighter.localfs import atomic_write
from lighter.manifest import Index, manifest_digest, parse_manifest

#: ioctl number of FICLONE (share the file's extents, copy-on-write), as ``cp --reflink`` uses.
_FICLONE = 0x40049409


def merge_manifest(list_file: str, dir_path: str) -> Digest:
    """Make the ``dir:`` image at ``dir_path`` carry the list in ``list_file``; returns the image's digest.

    The list must name the image.  Each file is replaced atomically, and the
    image's manifest is saved before ``manifest.json`` changes, so an
    interruption leaves either the plain image or the merged one.
    """
    top = os.path.join(dir_path, "manifest.json")
    try:
        with open(top, "rb") as stream:
            image_raw = stream.read()
    except FileNotFoundError:
        raise CacheError(f"{dir_path} is not a dir image: it has no manifest.json") from None
    with open(list_file, "rb") as stream:
        list_raw = stream.read()
    image = parse_manifest(image_raw)
    if isinstance(image, Index):
        raise CacheError(f"{dir_path} holds a manifest list already ({manifest_digest(image_raw)}), not an image")
    index = parse_manifest(list_raw)
    if not isinstance(index, Index):
        raise CacheError(f"{list_file} is not a manifest list (it is {index.media_type})")
    digest = manifest_digest(image_raw)
    if index.find(digest) is None:
        raise CacheError(
            f"the manifest list {manifest_digest(list_raw)} in {list_file} does not name the image {digest}"
        )
    atomic_write(os.path.join(dir_path, f"{digest.hex}.manifest.json"), image_raw)
    atomic_write(top, list_raw)
    return digest


def _clone_file(src: str, dst: str) -> None:
    """Copy a file sharing its extents when the file system can (``cp --reflink=auto``)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.EBADF):
                raise
            shutil.copyfileobj(fin, fout, 1024 * 1024)
    shutil.copystat(src, dst)


@contextlib.contextmanager
def container_source(image: ContainerImage) -> Iterator[tuple[str, str]]:
    """``(name, transport-string)`` to copy ``image`` from, valid inside the block.

    ``dir`` and ``oci-archive`` images are reached through a link with a
    plain name (a path with ``:`` would be read as ``path:reference`` by
    ``oci-archive:``); a ``dir`` image with a matched manifest list is
    cloned and merged; a ``store`` image is named by id in its store.
    """
    if image.format == "store":
        yield image.name, f"store:[{image.path}]@{image.ref.removeprefix('sha256:')}"
        return
    if image.format not in ("dir", "oci-archive"):
        raise CacheError(f"unknown container format {image.format!r} (expected dir, oci-archive or store)")
    with tempfile.TemporaryDirectory(prefix="lighter-input-") as tmp:
        source = os.path.join(tmp, "image")
        if image.format == "dir" and image.manifest_list:
            shutil.copytree(image.path, source, copy_function=_clone_file)
            merge_manifest(image.manifest_list, source)
        else:
            os.symlink(os.path.abspath(image.path), source)
        yield image.name, f"{image.format}:{source}"
