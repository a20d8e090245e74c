"""``oci:`` — an OCI image layout directory, as skopeo reads and writes it.

Grammar (containers/image ``oci/layout``)::

    oci-name ::= path [ ":" [ ref ] ]
    ref      ::= component ( "/" component )*
    component::= alnum+ ( ( [-._:@+] | "--" ) alnum+ )*

The path ends at the first colon, so it cannot contain one.  ``ref`` is the
``org.opencontainers.image.ref.name`` annotation of an ``index.json``
entry.  Reading without a ref needs a layout holding exactly one entry.

Writing stores blobs (and manifests, as blobs) under ``blobs/<alg>/<hex>``
as they arrive, each verified before its rename; only ``commit`` touches
``index.json``, under an ``fcntl`` lock on ``.index.json.lock`` in the
layout and by an atomic replace, re-reading the index inside the lock so
that writers in several processes never drop each other's entries.  The
entry is added the way containers/image's ``addManifest`` does it: the ref
name moves from any older entry to the new one (the older entry stays,
unnamed), and an unnamed entry with the same digest is replaced.

>>> str(parse("/srv/layout:app/v1"))
'oci:/srv/layout:app/v1'
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import IO, Final

from lighter import mediatype as mt
from lighter.digest import Digest
from lighter.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    InvalidImageNameError,
    InvalidManifestError,
    LayoutError,
    ManifestNotFoundError,
    UnsupportedMediaTypeError,
)
from lighter.localfs import atomic_write, fsync_dir, locked, write_stream
from lighter.manifest import Descriptor, Index, guess_media_type, manifest_digest
from lighter.transports._files_common import DirTree, FileTree, read_capped, store_blob, verify_manifest
from lighter.transports.base import Capabilities, ImageDestination, ImageReference, ImageSource, TransportOptions

log = logging.getLogger(__name__)

REF_NAME: Final = "org.opencontainers.image.ref.name"
LAYOUT_FILE: Final = "oci-layout"
INDEX_FILE: Final = "index.json"
LOCK_FILE: Final = ".index.json.lock"
#: What containers/image writes as ``oci-layout``, byte for byte.
LAYOUT_CONTENT: Final = b'{"imageLayoutVersion": "1.0.0"}'

_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")


def split_name(rest: str, transport: str) -> tuple[str, str]:
    """``path[:ref]`` → (path, ref), validated as containers/image validates it."""
    path, _, ref = rest.partition(":")
    if not path:
        raise InvalidImageNameError(f"invalid image name {transport}:{rest}: expected {transport}:PATH[:REF]")
    if ref and not _REF.fullmatch(ref):
        raise InvalidImageNameError(
            f"invalid image name {transport}:{rest}: reference {ref!r} is not a valid OCI ref name "
            "(letters, digits and separators . _ - : @ + /)"
        )
    return path, ref


def blob_path(digest: Digest) -> str:
    """Where a blob lives, relative to the layout root."""
    return f"blobs/{digest.algorithm}/{digest.hex}"


class PathRefReference(ImageReference):
    """What ``oci:`` and ``oci-archive:`` names share: ``PATH[:REF]``.  No I/O."""

    def __init__(self, path: str, ref_name: str = "") -> None:
        self.path = path
        self.ref_name = ref_name

    def __str__(self) -> str:
        return f"{self.transport}:{self.path}" + (f":{self.ref_name}" if self.ref_name else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class OCIReference(PathRefReference):
    """``oci:PATH[:REF]``.  No I/O."""

    transport = "oci"

    def new_source(self, options: TransportOptions | None = None) -> OCISource:
        if not os.path.exists(self.path):
            raise ImageNotFoundError(f"no OCI layout at {self.path}: the directory does not exist")
        return OCISource(self, DirTree(self.path))

    def new_destination(self, options: TransportOptions | None = None) -> OCIDestination:
        return OCIDestination(self)


def parse(rest: str) -> OCIReference:
    """Parse what follows ``oci:``."""
    return OCIReference(*split_name(rest, "oci"))


# -- reading -------------------------------------------------------------------


def load_index(tree: FileTree) -> Index:
    """The layout's ``index.json``; LayoutError when it is missing or not an index."""
    where = tree.describe()
    try:
        raw = read_capped(tree, INDEX_FILE, f"{INDEX_FILE} of {where}")
    except FileNotFoundError:
        raise LayoutError(f"{where} is not an OCI image layout: it has no {INDEX_FILE}") from None
    return parse_index(raw, where)


def parse_index(raw: bytes, where: str) -> Index:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{INDEX_FILE} of {where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LayoutError(f"{INDEX_FILE} of {where} must be a JSON object, got {type(data).__name__}")
    try:
        return Index.from_json(data, raw, mt.OCI_INDEX)
    except InvalidManifestError as exc:
        raise LayoutError(f"{INDEX_FILE} of {where} is not an image index: {exc}") from None


def _entry_names(index: Index) -> str:
    names = [m.annotations.get(REF_NAME) or f"<unnamed {m.digest}>" for m in index.manifests]
    return ", ".join(names) if names else "none"


def select_entry(index: Index, ref_name: str, where: str) -> Descriptor:
    """The ``index.json`` entry a reference names (skopeo's rules)."""
    if not ref_name:
        if len(index.manifests) == 1:
            return index.manifests[0]
        if not index.manifests:
            raise ImageNotFoundError(f"the OCI layout {where} holds no image")
        raise InvalidImageNameError(
            f"the OCI layout {where} holds {len(index.manifests)} images: choose one with :REF "
            f"(refs: {_entry_names(index)})"
        )
    for entry in index.manifests:
        if entry.annotations.get(REF_NAME) == ref_name:
            if entry.media_type and entry.media_type not in mt.MANIFEST_TYPES:
                raise UnsupportedMediaTypeError(
                    f"{where}:{ref_name} is a {entry.media_type}, expected an image manifest or index"
                )
            return entry
    raise ImageNotFoundError(f"no image {ref_name!r} in the OCI layout {where} (refs: {_entry_names(index)})")


class OCISource(ImageSource):
    """Reads one image or list of a layout; the ``index.json`` entry is chosen when the source opens."""

    def __init__(self, ref: PathRefReference, tree: FileTree, on_close: Callable[[], None] = lambda: None) -> None:
        self._ref = ref
        self._tree = tree
        self._on_close = on_close
        self.entry = select_entry(load_index(tree), ref.ref_name, tree.describe())

    @property
    def reference(self) -> PathRefReference:
        return self._ref

    def _read_manifest(self, digest: Digest) -> bytes:
        try:
            raw = read_capped(self._tree, blob_path(digest), f"manifest {digest}")
        except FileNotFoundError:
            raise ManifestNotFoundError(
                f"manifest {digest} is missing from the OCI layout {self._tree.describe()}"
            ) from None
        verify_manifest(raw, digest, f"manifest {digest} in {self._tree.describe()}")
        return raw

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is None:
            raw = self._read_manifest(self.entry.digest)
            return raw, self.entry.media_type or guess_media_type(raw)
        raw = self._read_manifest(instance)
        return raw, guess_media_type(raw)

    def top_digest(self) -> Digest:
        return self.entry.digest

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        try:
            stream = self._tree.open(blob_path(descriptor.digest))
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"blob {descriptor.digest} is missing from the OCI layout {self._tree.describe()}"
            ) from None
        log.debug("reading blob %s (%d bytes) from %s", descriptor.digest, descriptor.size, self._tree.describe())
        return stream

    def close(self) -> None:
        self._on_close()


# -- writing -------------------------------------------------------------------


def add_entry(manifests: list[Descriptor], new: Descriptor) -> list[Descriptor]:
    """containers/image's ``addManifest``: move the ref name to ``new``, replace an unnamed twin."""
    out = list(manifests)
    name = new.annotations.get(REF_NAME)
    if name:
        for i, entry in enumerate(out):
            if entry.annotations.get(REF_NAME) == name:
                kept = {k: v for k, v in entry.annotations.items() if k != REF_NAME}
                out[i] = dataclasses.replace(entry, annotations=kept)
                break
    for i, entry in enumerate(out):
        if entry.digest == new.digest and not entry.annotations.get(REF_NAME):
            out[i] = new
            return out
    out.append(new)
    return out


def empty_index() -> Index:
    return Index(media_type=mt.OCI_INDEX, manifests=(), explicit_media_type=False)


def _missing_dirs(path: str) -> list[str]:
    """The directories ``os.makedirs(path)`` would create, deepest first."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return missing


class OCIDestination(ImageDestination):
    """Writes into a layout; the image becomes visible in ``index.json`` at ``commit``.

    ``oci-layout`` and ``index.json`` are written only by ``commit``, so a
    failed copy into a new path leaves no layout behind: ``close`` without a
    commit removes the blobs this destination wrote and the directories it
    created.  Into an existing layout, verified blobs may stay (DESIGN.md
    rule 3 allows them; a retry reuses them) but ``index.json`` is untouched.
    """

    def __init__(self, ref: PathRefReference, root: str | None = None) -> None:
        self._ref = ref
        self.root = root if root is not None else ref.path
        self._top: Descriptor | None = None
        self._committed = False
        self._lock = threading.Lock()
        self._written: list[str] = []
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise LayoutError(f"cannot write to {ref}: {self.root} exists and is not a directory")
        self._created_dirs = _missing_dirs(self.root)
        os.makedirs(self.root, exist_ok=True)

    @property
    def reference(self) -> PathRefReference:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        # As containers/image's oci_dest: OCI manifests and indexes only; the copy converts Docker ones.
        return Capabilities(manifest_types=(mt.OCI_MANIFEST, mt.OCI_INDEX))

    def _path(self, digest: Digest) -> str:
        return os.path.join(self.root, "blobs", digest.algorithm, digest.hex)

    def _written_path(self, digest: Digest) -> str:
        """``_path``, remembered: asked for just before the verified file is renamed there."""
        path = self._path(digest)
        with self._lock:
            self._written.append(path)
        return path

    def _blob_dir(self, algorithm: str) -> str:
        directory = os.path.join(self.root, "blobs", algorithm)
        os.makedirs(directory, exist_ok=True)
        return directory

    def has_blob(self, descriptor: Descriptor) -> bool:
        try:
            size = os.stat(self._path(descriptor.digest)).st_size
        except FileNotFoundError:
            return False
        return descriptor.size < 0 or size == descriptor.size

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        algorithm = descriptor.digest.algorithm if descriptor is not None else "sha256"
        return store_blob(stream, descriptor, media_type, self._blob_dir(algorithm), self._written_path)

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        digest = manifest_digest(raw)
        if instance is not None:
            verify_manifest(raw, instance, f"manifest written as instance {instance}")
        directory = self._blob_dir(digest.algorithm)
        write_stream(
            io.BytesIO(raw), directory, lambda _computed: self._written_path(digest), what="manifest", sync_dir=False
        )
        log.debug(
            "wrote manifest %s (%d bytes%s) in %s", digest, len(raw), "" if instance else ", top level", self.root
        )
        if instance is None:
            annotations = {REF_NAME: self._ref.ref_name} if self._ref.ref_name else {}
            self._top = Descriptor(media_type or guess_media_type(raw), digest, len(raw), annotations=annotations)

    def has_manifest(self, digest: Digest) -> bool:
        return os.path.isfile(self._path(digest))

    def commit(self) -> None:
        if self._top is None:
            raise LayoutError(f"nothing to commit to {self._ref}: no top-level manifest was written")
        index_path = os.path.join(self.root, INDEX_FILE)
        self._sync_blob_dirs()
        with locked(os.path.join(self.root, LOCK_FILE)):
            # Re-read inside the lock: another process may have added an entry since we started.
            index = load_index(DirTree(self.root)) if os.path.exists(index_path) else empty_index()
            manifests = add_entry(list(index.manifests), self._top)
            atomic_write(index_path, dataclasses.replace(index, manifests=tuple(manifests), raw=b"").raw)
            if not os.path.exists(os.path.join(self.root, LAYOUT_FILE)):
                atomic_write(os.path.join(self.root, LAYOUT_FILE), LAYOUT_CONTENT)
        self._committed = True
        log.debug("committed %s: %s of %s lists %d entries", self._top.digest, INDEX_FILE, self.root, len(manifests))

    def _sync_blob_dirs(self) -> None:
        """Make the renames of blobs and manifests durable before ``index.json`` names them.

        Every ``blobs/<alg>`` (not only those written to: a reused blob may have been renamed
        by an earlier run that never synced), ``blobs`` and the root, whose new entries those
        are; three fsyncs for a usual layout, whatever the number of blobs.
        """
        blobs = os.path.join(self.root, "blobs")
        with contextlib.suppress(FileNotFoundError):
            for name in sorted(os.listdir(blobs)):
                if os.path.isdir(os.path.join(blobs, name)):
                    fsync_dir(os.path.join(blobs, name))
            fsync_dir(blobs)
        fsync_dir(self.root)

    def close(self) -> None:
        if self._committed or not self._created_dirs:
            return
        if os.path.exists(os.path.join(self.root, INDEX_FILE)):
            return  # another writer committed into the new layout meanwhile: its image may use our blobs
        with self._lock:
            written, self._written = self._written, []
        log.debug("nothing committed to the new layout %s: removing the %d files written", self.root, len(written))
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        # blobs/<alg>, blobs, then the directories makedirs made; rmdir leaves one another writer is filling
        inner = [top for top, _dirs, _files in os.walk(self.root, topdown=False) if top != self.root]
        for directory in [*inner, *self._created_dirs]:
            with contextlib.suppress(OSError):
                os.rmdir(directory)
