"""``oci-archive:`` — an OCI image layout in a tar file, as skopeo reads and writes it.

Grammar: the same as ``oci:`` (``path[:ref]``, the path ending at the first
colon).

Reading never unpacks the archive: the layout reader of ``oci:`` runs on
the archive's members in place (``_files_tar.TarIndex``).  Writing stages
a layout in a hidden directory beside the archive and, at ``commit``, tars
it into a temporary file in the same directory, fsyncs and renames it over
the archive.  As with skopeo, the archive written holds only the image
written: an existing archive at the path is replaced whole.  Members are
named as containers/storage names them (``blobs``, ``blobs/sha256``,
``blobs/sha256/<hex>``, ``index.json``, ``oci-layout``).

>>> str(parse("/tmp/a.tar:v1"))
'oci-archive:/tmp/a.tar:v1'
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import IO

from lighter.digest import Digest
from lighter.errors import ImageNotFoundError, LayoutError
from lighter.manifest import Descriptor
from lighter.transports._files_tar import TarEntry, TarIndex, staging_dir, write_tar_atomic
from lighter.transports.base import Capabilities, ImageDestination, TransportOptions
from lighter.transports.oci_layout import (
    INDEX_FILE,
    LAYOUT_FILE,
    OCIDestination,
    OCISource,
    PathRefReference,
    split_name,
)


class OCIArchiveReference(PathRefReference):
    """``oci-archive:PATH[:REF]``.  No I/O."""

    transport = "oci-archive"

    def new_source(self, options: TransportOptions | None = None) -> OCISource:
        if not os.path.exists(self.path):
            raise ImageNotFoundError(f"no OCI archive at {self.path}: the file does not exist")
        if os.path.isdir(self.path):
            raise LayoutError(f"{self.path} is a directory, not an OCI archive (use oci:{self.path})")
        tree = TarIndex(self.path)
        try:
            return OCISource(self, tree, on_close=tree.close)
        except BaseException:
            tree.close()
            raise

    def new_destination(self, options: TransportOptions | None = None) -> OCIArchiveDestination:
        return OCIArchiveDestination(self)


def parse(rest: str) -> OCIArchiveReference:
    """Parse what follows ``oci-archive:``."""
    return OCIArchiveReference(*split_name(rest, "oci-archive"))


def layout_entries(root: str) -> Iterator[TarEntry]:
    """The members of a staged layout, in containers/storage's order; lock and temp files left out."""
    blobs = os.path.join(root, "blobs")
    yield TarEntry("blobs", "dir", mode=0o755)
    for algorithm in sorted(os.listdir(blobs)):
        if algorithm.startswith("."):
            continue
        yield TarEntry(f"blobs/{algorithm}", "dir", mode=0o755)
        for name in sorted(os.listdir(os.path.join(blobs, algorithm))):
            if not name.startswith("."):
                yield TarEntry(f"blobs/{algorithm}/{name}", path=os.path.join(blobs, algorithm, name))
    yield TarEntry(INDEX_FILE, path=os.path.join(root, INDEX_FILE))
    yield TarEntry(LAYOUT_FILE, path=os.path.join(root, LAYOUT_FILE))


class OCIArchiveDestination(ImageDestination):
    """Stages a layout beside the archive; the archive appears, whole, at ``commit``."""

    def __init__(self, ref: OCIArchiveReference) -> None:
        self._ref = ref
        parent = os.path.dirname(os.path.abspath(ref.path))
        if not os.path.isdir(parent):
            raise LayoutError(f"cannot write to {ref}: the directory {parent} does not exist")
        if os.path.isdir(ref.path):
            raise LayoutError(f"cannot write to {ref}: {ref.path} is a directory")
        self._staging = staging_dir(ref.path, ".lighter-oci-archive-")
        try:
            # The staged layout carries the archive's own name, so index.json gets its ref name.
            self._layout = OCIDestination(ref, root=self._staging)
        except BaseException:
            shutil.rmtree(self._staging, ignore_errors=True)
            raise

    @property
    def reference(self) -> OCIArchiveReference:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return self._layout.capabilities

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self._layout.has_blob(descriptor)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        return self._layout.put_blob(stream, descriptor, media_type)

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        self._layout.put_manifest(raw, media_type, instance)

    def has_manifest(self, digest: Digest) -> bool:
        return self._layout.has_manifest(digest)

    def commit(self) -> None:
        self._layout.commit()
        write_tar_atomic(self._ref.path, layout_entries(self._staging))

    def close(self) -> None:
        self._layout.close()
        shutil.rmtree(self._staging, ignore_errors=True)
