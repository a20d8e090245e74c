"""Lists as records of the local store: find, load, and edit under the record's lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from lighter.digest import Digest
from lighter.errors import InstanceNotInListError, ListNotFoundError, NotAManifestListError, UnsupportedError
from lighter.lists.ops import ListState, Op, apply
from lighter.manifest import Index, parse_manifest
from lighter.store import ImageRecord, Store
from lighter.transports import TransportOptions


@dataclass(frozen=True, slots=True)
class ManifestList:
    """A manifest list in the local store, as loaded."""

    id: str
    names: tuple[str, ...]
    index: Index
    #: instance digest → image name it was added from ("" for instances that live in the store)
    locations: Mapping[Digest, str] = field(default_factory=dict, hash=False)

    @property
    def digest(self) -> Digest:
        return self.index.digest

    @property
    def name(self) -> str:
        return self.names[0] if self.names else self.id[:12]


def open_store(root: str | None = None, options: TransportOptions | None = None) -> Store:
    """The store a list lives in: ``root``, else the options' store root, else the default."""
    return Store(root or (options.store_root if options else None))


def with_store_root(options: TransportOptions | None, store: Store) -> TransportOptions:
    """Options for reading or writing images, where ``store:`` names mean the list's own store by default."""
    if options is None:
        return TransportOptions(store_root=store.root)
    return options if options.store_root else replace(options, store_root=store.root)


def find_list(store: Store, name: str) -> ImageRecord:
    """The record of the list ``name`` (a name or an id); exit-1 errors when absent or not a list."""
    record = store.find(name)
    if record is None:
        raise ListNotFoundError(f"manifest list {name!r} is not in the local store {store.root}")
    if not record.is_list:
        raise NotAManifestListError(f"{name!r} is an image, not a manifest list ({record.media_type})")
    return record


def load_state(store: Store, record: ImageRecord) -> ListState:
    manifest = parse_manifest(store.manifest(record), record.media_type)
    if not isinstance(manifest, Index):
        raise NotAManifestListError(f"record {record.id[:12]} holds a {record.media_type}, not a manifest list")
    return ListState(manifest, dict(record.instances))


def to_list(record: ImageRecord, state: ListState) -> ManifestList:
    return ManifestList(record.id, record.names, state.index, dict(state.locations))


def save_state(store: Store, record: ImageRecord, state: ListState, names: Sequence[str] = ()) -> ManifestList:
    saved = store.commit_manifest(
        state.index.raw, state.index.media_type, names=names, image_id=record.id, instances=state.locations
    )
    return to_list(saved, state)


def edit(store: Store, name: str, ops: Sequence[Op]) -> ManifestList:
    """Apply ``ops`` to the list ``name``: read, change and write back under the record's lock.

    The lock is what makes two processes adding to the same list at once
    both land: the second reads the list only after the first has written it.
    ``editing_lists`` keeps ``rmi`` from deleting an image between its check
    that no list needs it and the delete.
    """
    with store.editing_lists(), store.writing():
        return edit_held(store, name, ops)


def edit_held(store: Store, name: str, ops: Sequence[Op]) -> ManifestList:
    """``edit`` for a caller that holds ``store.editing_lists()`` and ``store.writing()`` already."""
    record = find_list(store, name)
    with store.catalog.locked(record.id):
        fresh = store.catalog.get(record.id)
        if fresh is None:
            raise ListNotFoundError(f"manifest list {name!r} was removed from the local store {store.root}")
        state = load_state(store, fresh)
        try:
            for op in ops:
                state = apply(state, op)
        except (InstanceNotInListError, UnsupportedError) as exc:
            raise type(exc)(f"manifest list {name!r}: {exc}") from None
        return save_state(store, fresh, state)


def load(name: str, *, root: str | None = None, options: TransportOptions | None = None) -> ManifestList:
    """The list ``name`` from the local store."""
    store = open_store(root, options)
    record = find_list(store, name)
    return to_list(record, load_state(store, record))
