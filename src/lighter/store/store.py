"""The local store: a blob area and a catalogue under one root directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from lighter import mediatype as mt
from lighter.digest import Digest
from lighter.errors import ImageInUseError, ImageNotFoundError, LighterError, StoreError
from lighter.manifest import ImageManifest, parse_config, parse_manifest
from lighter.store.blobs import BlobStore
from lighter.store.catalog import Catalog, ImageRecord
from lighter.store.names import looks_like_id, normalize_name
from lighter.store.walk import walk

ROOT_ENV = "LIGHTER_ROOT"


def default_root() -> str:
    """``$LIGHTER_ROOT``, else ``$XDG_DATA_HOME/lighter``, else ``~/.local/share/lighter``."""
    explicit = os.environ.get(ROOT_ENV)
    if explicit:
        return explicit
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "lighter")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A random record id, for lists (whose digest changes with every edit)."""
    return secrets.token_hex(32)


class Store:
    """One local store.  Cheap to construct; every operation opens what it needs."""

    def __init__(self, root: str | None = None) -> None:
        self.root = os.path.abspath(root or default_root())
        self.blobs = BlobStore(self.root)
        self.catalog = Catalog(self.root)

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    # -- the writers / collector lock --------------------------------------------

    @contextlib.contextmanager
    def _flock(self, shared: bool, name: str = "gc.lock") -> Iterator[None]:
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(os.path.join(self.root, name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) while blobs are written that no record reaches yet, so gc leaves them alone."""
        return self._flock(shared=True)

    def collecting(self) -> contextlib.AbstractContextManager[None]:
        """Held (exclusive) by gc: no writer is between writing blobs and committing a record."""
        return self._flock(shared=False)

    # -- the list editors / remover lock ------------------------------------------

    def editing_lists(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) while a list is edited; editors of one list still serialise on its record lock."""
        return self._flock(shared=True, name="lists.lock")

    def removing(self) -> contextlib.AbstractContextManager[None]:
        """Held (exclusive) by ``remove``: no list edit runs between its "needed by a list?" check and the delete."""
        return self._flock(shared=False, name="lists.lock")

    # -- finding records -----------------------------------------------------------

    def find_id(self, prefix: str) -> ImageRecord | None:
        """The record whose id is ``prefix`` or starts with it (which must then be unique)."""
        bare = prefix.removeprefix("sha256:")
        if not looks_like_id(bare):
            return None
        if len(bare) == 64:
            return self.catalog.get(bare)
        matches = self.catalog.by_id_prefix(bare)
        if len(matches) > 1:
            raise StoreError(f"image id prefix {bare!r} is ambiguous: it matches {len(matches)} images")
        return matches[0] if matches else None

    def find(self, text: str) -> ImageRecord | None:
        """The record named ``text``: a full id, a name (normalised), or a unique id prefix, in that order."""
        bare = text.removeprefix("sha256:")
        if len(bare) == 64 and looks_like_id(bare):
            by_id = self.catalog.get(bare)
            if by_id is not None:
                return by_id
        with contextlib.suppress(LighterError):
            by_name = self.catalog.by_name(normalize_name(text))
            if by_name is not None:
                return by_name
        return self.find_id(bare)

    def resolve(self, text: str) -> ImageRecord:
        found = self.find(text)
        if found is None:
            raise ImageNotFoundError(f"image {text!r} is not in the local store {self.root}")
        return found

    def manifest(self, record: ImageRecord) -> bytes:
        """The record's top-level manifest bytes, verified."""
        return self.blobs.read(record.digest, "manifest")

    # -- writing records -------------------------------------------------------------

    def _image_id_and_created(self, raw: bytes, digest: Digest, media_type: str) -> tuple[str, str]:
        """podman's id for an image is its config digest; a list's is its digest when first stored."""
        created = now_rfc3339()
        image_id = digest.hex
        manifest = parse_manifest(raw, media_type)
        if isinstance(manifest, ImageManifest):
            image_id = manifest.config.digest.hex
            with contextlib.suppress(LighterError):
                created = parse_config(self.blobs.read(manifest.config.digest, "config")).created or created
            existing = self.catalog.get(image_id)
            if existing is not None and existing.digest != digest:
                image_id = digest.hex  # same config, other manifest bytes (recompressed): keep both
        return image_id, created

    def commit_manifest(
        self,
        raw: bytes,
        media_type: str,
        names: Iterable[str] = (),
        image_id: str | None = None,
        instances: Mapping[Digest, str] | None = None,
        written: Iterable[Digest] = (),
        extra_digests: Iterable[Digest] = (),
    ) -> ImageRecord:
        """Make a record point at manifest bytes (stored here) and give it ``names``.

        The top manifest, when it is an image, and every manifest in
        ``written`` (the instances a destination wrote) must have all their
        blobs stored, or StoreError is raised and nothing changes: no record
        ever points at what is not there.  Instances of a list that were not
        written with it may live elsewhere (a list being assembled, an
        index-only copy).  ``extra_digests`` are stored lists the image was
        copied out of; the record answers to their digests too.
        """
        extra = tuple(extra_digests)
        with self.writing():
            digest = self.blobs.put_bytes(raw, what="manifest")
            reach = walk(self.blobs, digest, media_type)
            required = {digest, *written}
            missing = [d for m, blobs in reach.missing_by.items() if m in required for d in blobs]
            missing += [d for d in reach.absent if d in required]
            missing += [d for d in extra if not self.blobs.has(d)]
            if missing:
                shown = ", ".join(str(d) for d in missing[:3])
                raise StoreError(f"cannot commit {digest} to the local store: missing blobs {shown}")
            return self._save(digest, raw, media_type, names, image_id, instances, reach.size(self.blobs), extra)

    def _save(
        self,
        digest: Digest,
        raw: bytes,
        media_type: str,
        names: Iterable[str],
        image_id: str | None,
        instances: Mapping[Digest, str] | None,
        size: int,
        extra_digests: tuple[Digest, ...] = (),
    ) -> ImageRecord:
        is_list = mt.is_index(media_type)
        # A caller that names the id (a list edit) holds the record's lock already; a destination's
        # commit takes it here, so it never interleaves with an edit or a removal of the same record.
        take_lock = image_id is None
        if image_id is None:
            image_id, created = self._image_id_and_created(raw, digest, media_type)
        else:
            created = now_rfc3339()
        with self.catalog.locked(image_id) if take_lock else contextlib.nullcontext():
            return self._write(digest, media_type, names, image_id, created, instances, size, extra_digests, is_list)

    def _write(
        self,
        digest: Digest,
        media_type: str,
        names: Iterable[str],
        image_id: str,
        created: str,
        instances: Mapping[Digest, str] | None,
        size: int,
        extra_digests: tuple[Digest, ...],
        is_list: bool,
    ) -> ImageRecord:
        record = ImageRecord(
            id=image_id,
            digest=digest,
            media_type=media_type,
            created=created,
            size=size,
            is_list=is_list,
            instances=dict(instances or {}),
            extra_digests=tuple(d for d in extra_digests if d != digest),
        )
        normalized = [normalize_name(n) for n in names]
        self.catalog.save(record, normalized, replace_instances=instances is not None)
        saved = self.catalog.get(image_id)
        assert saved is not None  # written in the transaction above
        return saved

    # -- removing --------------------------------------------------------------------

    def needed_by(self, record: ImageRecord) -> list[ImageRecord]:
        """Lists that recorded this image, as it lives in this store, as one of their instances."""
        return [
            lst
            for lst in self.catalog.lists_with_instance(record.digest)
            if lst.id != record.id and self._is_here(lst.instances.get(record.digest, ""))
        ]

    def _is_here(self, location: str) -> bool:
        """Whether a recorded location names this store: ``store:NAME`` (the list's own) or ``store:[ROOT]NAME``."""
        rest = location.removeprefix("store:")
        if rest == location:
            return False  # another transport
        if not rest.startswith("["):
            return True
        root = rest[1 : rest.find("]")] if "]" in rest else ""
        return not root or os.path.realpath(root) == os.path.realpath(self.root)

    def remove(self, text: str, force: bool = False) -> tuple[ImageRecord, str]:
        """``rmi``: untag a name, or delete a record.  Returns the record and "untagged" or "deleted".

        A name of an image that has other names is only untagged.  Deleting
        an image that a list still needs is refused unless ``force``; so is
        deleting by id an image with several names.  Blobs stay until gc.
        The check and the delete hold ``removing`` and the record's lock, so
        no list edit (``manifest add``) lands between them.
        """
        with self.removing():
            record = self.resolve(text)
            with self.catalog.locked(record.id):
                fresh = self.catalog.get(record.id)
                if fresh is None:
                    raise ImageNotFoundError(f"image {text!r} was removed from the local store {self.root}")
                return fresh, self._remove_locked(text, fresh, force)

    def _remove_locked(self, text: str, record: ImageRecord, force: bool) -> str:
        name = self._name_of(text, record)
        if name is not None and len(record.names) > 1:
            self.catalog.remove_name(name)
            return "untagged"
        if name is None and len(record.names) > 1 and not force:
            raise StoreError(
                f"image {record.id[:12]} has several names ({', '.join(record.names)}): "
                "remove them one by one or use --force"
            )
        users = [] if force else self.needed_by(record)
        if users:
            shown = users[0].names[0] if users[0].names else users[0].id[:12]
            raise ImageInUseError(
                f"image {text!r} ({record.id[:12]}) is needed by the manifest list {shown}: "
                "remove it from the list first, or use --force"
            )
        self.catalog.remove(record.id)
        return "deleted"

    def _name_of(self, text: str, record: ImageRecord) -> str | None:
        """The name ``text`` spells, when it named the record by name rather than by id."""
        with contextlib.suppress(LighterError):
            name = normalize_name(text)
            if name in record.names:
                return name
        return None
