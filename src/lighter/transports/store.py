"""``store:`` — images in lighter's embedded local store.

Grammar (containers-storage's, with lighter's store)::

    store-name ::= [ "[" root "]" ] ( name [ ":" tag ] [ "@" digest ] | "@" id )

``name`` is normalised as podman does (``app`` is ``localhost/app:latest``).
``@id`` may be a unique prefix of an image id.  ``name@digest`` reads the
image of that repository with that digest (or that answers to it: the list
it was copied out of), or that instance of a list of that repository; an
image of another repository with that digest is not found, as in
containers-storage.  The store root is ``[root]`` when given, else
``TransportOptions.store_root``, else ``$LIGHTER_ROOT``, else
``$XDG_DATA_HOME/lighter``.

>>> str(parse("app"))
'store:localhost/app:latest'
>>> str(parse("[/tmp/s]@0123abcd"))
'store:[/tmp/s]@0123abcd'
"""

from __future__ import annotations

import contextlib
from typing import IO

from lighter.digest import Digest, digest_bytes, parse_digest
from lighter.errors import (
    ImageNotFoundError,
    InvalidImageNameError,
    LighterError,
    ManifestNotFoundError,
    StoreError,
)
from lighter.manifest import Descriptor, Index, guess_media_type, manifest_digest, parse_manifest
from lighter.reference import Reference
from lighter.store import ImageRecord, Store, normalize_name, parse_name, split_name, walk
from lighter.store.names import looks_like_id
from lighter.transports.base import ImageDestination, ImageReference, ImageSource, TransportOptions


class StoreReference(ImageReference):
    """A name, ``@id`` or ``name@digest`` in a local store.  No I/O."""

    transport = "store"

    def __init__(
        self, name: str | None, image_id: str | None = None, digest: Digest | None = None, root: str | None = None
    ) -> None:
        self.name = name
        self.image_id = image_id
        self.digest = digest
        self.root = root

    def __str__(self) -> str:
        text = f"[{self.root}]" if self.root else ""
        if self.image_id is not None:
            return f"store:{text}@{self.image_id}"
        text += self.name or ""
        if self.digest is not None:
            text += f"@{self.digest}"
        return f"store:{text}"

    def __repr__(self) -> str:
        return f"StoreReference({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreReference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def docker_reference(self) -> Reference | None:
        if self.name is None:
            return None
        ref = parse_name(self.name)
        return ref.with_digest(self.digest) if self.digest is not None else ref

    def store(self, options: TransportOptions | None = None) -> Store:
        return Store(self.root or (options.store_root if options else None))

    def new_source(self, options: TransportOptions | None = None) -> StoreSource:
        return StoreSource(self, self.store(options))

    def new_destination(self, options: TransportOptions | None = None) -> StoreDestination:
        if self.name is None:
            raise InvalidImageNameError(f"cannot write to {self}: a store destination needs NAME[:TAG]")
        if self.digest is not None:
            raise InvalidImageNameError(f"cannot write to {self}: a store destination takes NAME[:TAG], not a digest")
        return StoreDestination(self, self.store(options))

    def delete(self, options: TransportOptions | None = None) -> None:
        store = self.store(options)
        store.remove(self._lookup_text(), force=False)

    def _lookup_text(self) -> str:
        return self.image_id if self.image_id is not None else (self.name or "")


def parse(rest: str) -> StoreReference:
    """Parse what follows ``store:``."""
    root = None
    text = rest
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidImageNameError(f"invalid store image name {rest!r}: '[' without a closing ']'")
        root, text = text[1:end] or None, text[end + 1 :]
    if not text:
        raise InvalidImageNameError(f"invalid store image name {rest!r}: expected NAME[:TAG], NAME@DIGEST or @ID")
    if text.startswith("@"):
        image_id = text[1:].removeprefix("sha256:")
        if not looks_like_id(image_id):
            raise InvalidImageNameError(
                f"invalid store image name {rest!r}: expected @ID with 3 to 64 hex digits, got {text[1:]!r}"
            )
        return StoreReference(None, image_id=image_id, root=root)
    name_text, at, digest_text = text.partition("@")
    digest = None
    if at:
        try:
            digest = parse_digest(digest_text)
        except LighterError as exc:
            raise InvalidImageNameError(f"invalid store image name {rest!r}: {exc}") from None
    # NAME@DIGEST picks by digest within the repository; a tag there says nothing more
    name = normalize_name(name_text) if digest is None else parse_name(name_text).name
    return StoreReference(name, digest=digest, root=root)


class StoreSource(ImageSource):
    """Reads one record; its top-level manifest is pinned when the source opens."""

    def __init__(self, ref: StoreReference, store: Store) -> None:
        self._ref = ref
        self.store = store
        self.record, self._top_digest = _resolve(ref, store)
        self._top = store.blobs.read(self._top_digest, "manifest")
        self._top_type = self.record.media_type if self._top_digest == self.record.digest else ""
        if not self._top_type:
            self._top_type = guess_media_type(self._top)

    @property
    def reference(self) -> StoreReference:
        return self._ref

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is None or instance == self._top_digest:
            return self._top, self._top_type
        if not self.store.blobs.has(instance):
            raise ManifestNotFoundError(f"instance {instance} of {self._ref} is not in the local store")
        raw = self.store.blobs.read(instance, "manifest")
        return raw, guess_media_type(raw)

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        return self.store.blobs.open(descriptor.digest)

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self.store.blobs.has(descriptor.digest)

    def top_digest(self) -> Digest:
        return self._top_digest


def _resolve(ref: StoreReference, store: Store) -> tuple[ImageRecord, Digest]:
    """The record a reference names, and the digest of the manifest it serves at the top."""
    if ref.image_id is not None:
        record = store.find_id(ref.image_id)
        if record is None:
            raise ImageNotFoundError(f"no image with id {ref.image_id} in the local store {store.root}")
        return record, record.digest
    assert ref.name is not None
    if ref.digest is None:
        record = store.catalog.by_name(ref.name)
        if record is None:
            raise ImageNotFoundError(f"image {ref.name} is not in the local store {store.root}")
        return record, record.digest
    return _by_digest(ref.name, ref.digest, store)


def _by_digest(repo: str, digest: Digest, store: Store) -> tuple[ImageRecord, Digest]:
    """``name@digest``: a record of that repository with (or answering to) that digest, or a list of it holding it.

    As containers/image's storage transport (``imageMatchesRepo``), the
    repository must be one of the record's names: an image stored as
    ``other:1`` is not ``app@its-digest``.
    """
    candidates = store.catalog.by_digest(digest)
    for record in candidates:
        if _in_repo(record, repo):
            return record, digest
    for record in store.catalog.all():
        if not record.is_list or not _in_repo(record, repo):
            continue
        with contextlib.suppress(LighterError):
            index = parse_manifest(store.manifest(record), record.media_type)
            if isinstance(index, Index) and index.find(digest) is not None and store.blobs.has(digest):
                return record, digest
    elsewhere = ""
    if candidates:
        names = [n for r in candidates for n in r.names] or [f"@{r.id[:12]}" for r in candidates]
        elsewhere = f": that digest is stored as {', '.join(names[:3])}, not in repository {repo}"
    raise ImageNotFoundError(f"no image {repo}@{digest} in the local store {store.root}{elsewhere}")


def _in_repo(record: ImageRecord, repo: str) -> bool:
    return any(split_name(n)[0] == repo for n in record.names)


class StoreDestination(ImageDestination):
    """Writes blobs into the blob area at once; the record appears only at ``commit``."""

    def __init__(self, ref: StoreReference, store: Store) -> None:
        self._ref = ref
        self.store = store
        self._top: tuple[bytes, str] | None = None
        self._written: set[Digest] = set()
        self._lists: list[Digest] = []
        self._stack = contextlib.ExitStack()
        # gc must not take blobs that are written but not yet reached by a record
        self._stack.enter_context(store.writing())

    @property
    def reference(self) -> StoreReference:
        return self._ref

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self.store.blobs.has(descriptor.digest)

    def has_manifest(self, digest: Digest) -> bool:
        """Held means whole: a list's instance manifests are kept here even when their blobs live elsewhere."""
        return self.store.blobs.has(digest) and not walk(self.store.blobs, digest).missing

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        # one directory fsync at commit covers every blob, before the catalogue names them
        if descriptor is not None:
            self.store.blobs.put(
                stream, descriptor.digest, descriptor.size, f"blob {descriptor.digest}", sync_dir=False
            )
            return descriptor
        digest = self.store.blobs.put(stream, sync_dir=False)
        return Descriptor(media_type, digest, self.store.blobs.size(digest))

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        if instance is not None:
            actual = manifest_digest(raw)
            if actual != instance:
                raise StoreError(f"manifest written as instance {instance} has digest {actual}")
            self.store.blobs.put_bytes(raw, what="manifest")
            self._written.add(digest_bytes(raw))
            return
        self._top = (raw, media_type)

    def note_toplevel_list(self, raw: bytes, media_type: str) -> None:
        """Keep the list the image was chosen from: the record answers to its digest too."""
        self._lists.append(self.store.blobs.put_bytes(raw, what="manifest list"))

    def commit(self) -> None:
        if self._top is None:
            raise StoreError(f"nothing to commit to {self._ref}: no top-level manifest was written")
        raw, media_type = self._top
        assert self._ref.name is not None
        self.store.blobs.sync()
        self.store.commit_manifest(
            raw,
            media_type or guess_media_type(raw),
            names=[self._ref.name],
            written=self._written,
            extra_digests=self._lists,
        )

    def close(self) -> None:
        self._stack.close()
