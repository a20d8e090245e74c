"""Creating and editing manifest lists in the local store (podman's ``manifest`` verbs, push aside)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lighter.digest import Digest, parse_digest
from lighter.errors import LighterError, ListNotFoundError, NotAManifestListError, StoreError
from lighter.lists.ops import (
    AddInstance,
    Annotate,
    ListState,
    PlatformChange,
    RemoveInstance,
    apply,
    is_zstd_variant,
    new_index,
)
from lighter.lists.records import ManifestList, edit, edit_held, find_list, load, open_store, with_store_root
from lighter.lists.sources import InstanceSource, fetch_manifest
from lighter.manifest import COMPRESSION_ANNOTATION, Descriptor, ImageManifest, Index, parse_config, parse_manifest
from lighter.platform import Platform, host_platform, parse_platform
from lighter.store import ImageRecord, Store, new_id, normalize_name
from lighter.transports import ImageReference, ImageSource, TransportOptions, parse_image_name


@dataclass(frozen=True, slots=True)
class _Found:
    """An instance about to be added: its descriptor and manifest bytes."""

    descriptor: Descriptor
    raw: bytes


def wanted_platform(change: PlatformChange | None) -> Platform:
    """This machine's platform, with ``--os/--arch/--variant`` replacing its parts (podman's choice rule)."""
    host = host_platform()
    if change is None or not (change.os or change.architecture or change.variant):
        return host
    os_name = change.os or host.os
    if change.architecture:
        parsed = parse_platform(f"{os_name}/{change.architecture}")
        return Platform(parsed.os, parsed.architecture, change.variant or parsed.variant)
    return Platform(os_name, host.architecture, change.variant if change.variant is not None else host.variant)


def create(
    name: str,
    images: Sequence[str | ImageReference] = (),
    *,
    all: bool = False,
    amend: bool = False,
    oci: bool = True,
    annotations: Mapping[str, str] | None = None,
    root: str | None = None,
    options: TransportOptions | None = None,
) -> ManifestList:
    """A new list named ``name`` (an OCI index unless ``oci=False``) holding ``images``.

    Every image is read before anything is written, and the list is saved
    once with all of them: when one cannot be added, the store is left as
    it was (no half-built list).  With ``amend`` an existing list of that
    name gets the images instead of being refused.
    """
    store = open_store(root, options)
    normalized = normalize_name(name)
    name_lock = "name-" + hashlib.sha256(normalized.encode()).hexdigest()
    _check_new_name(store, normalized, amend)  # fail before reading any image
    refs = [parse_image_name(i) if isinstance(i, str) else i for i in images]
    with store.editing_lists():
        prepared = [_prepare(store, ref, all, None, None, options) for ref in refs]
        with store.writing(), store.catalog.locked(name_lock):
            existing = _check_new_name(store, normalized, amend)  # again, now that no one else can create it
            _save_manifests(store, prepared)
            ops = [op for item in prepared for op in item.ops]
            if existing is not None:
                return edit_held(store, existing.id, ops) if ops else load(existing.id, root=store.root)
            index = new_index(oci)
            if annotations:
                index = index.evolve(annotations=dict(annotations))
            state = ListState(index)
            for op in ops:
                state = apply(state, op)
            saved = store.commit_manifest(
                state.index.raw,
                state.index.media_type,
                names=[normalized],
                image_id=new_id(),
                instances=state.locations,
            )
    return load(saved.id, root=store.root)


def _check_new_name(store: Store, normalized: str, amend: bool) -> ImageRecord | None:
    """The list to amend, if any; StoreError when the name is taken otherwise."""
    existing = store.catalog.by_name(normalized)
    if existing is not None and not (amend and existing.is_list):
        kind = "a manifest list" if existing.is_list else "an image"
        hint = ": use --amend to add to it" if existing.is_list else ""
        raise StoreError(f"{normalized} already names {kind} ({existing.id[:12]}) in the local store{hint}")
    return existing


def _platform_from_config(source: ImageSource, raw: bytes, media_type: str) -> Platform | None:
    manifest = parse_manifest(raw, media_type)
    if not isinstance(manifest, ImageManifest):
        return None
    return parse_config(source.blob_bytes(manifest.config, "config")).platform


def _from_list(source: ImageSource, index: Index, all: bool, wanted: Platform) -> list[_Found]:
    chosen = list(index.manifests) if all else [index.choose(wanted)]
    found = []
    for desc in chosen:
        raw, media_type = fetch_manifest(source, desc.digest)
        # keep the platform the list gives; of its annotations, only the compression marker matters to a list
        keep = {COMPRESSION_ANNOTATION: "true"} if is_zstd_variant(desc) else {}
        found.append(
            _Found(Descriptor(media_type, desc.digest, len(raw), platform=desc.platform, annotations=keep), raw)
        )
    return found


def _instances(source: ImageSource, all: bool, change: PlatformChange | None) -> list[_Found]:
    raw, media_type = source.manifest()
    manifest = parse_manifest(raw, media_type)
    if isinstance(manifest, Index):
        found = _from_list(source, manifest, all, wanted_platform(change))
    else:
        found = [_Found(Descriptor(manifest.media_type, manifest.digest, len(raw)), raw)]
    out = []
    for item in found:
        desc = item.descriptor
        if desc.platform is None or not desc.platform.os or not desc.platform.architecture:
            from_config = _platform_from_config(source, item.raw, desc.media_type)
            if from_config is not None:
                desc = desc.evolve(platform=_fill(desc.platform, from_config))
        out.append(_Found(desc, item.raw))
    return out


def _fill(given: Platform | None, config: Platform) -> Platform:
    """Missing os / architecture come from the config, each with the fields that go with it (libimage)."""
    if given is None:
        return config
    os_part = (
        (given.os, given.os_version, given.os_features)
        if given.os
        else (config.os, config.os_version, config.os_features)
    )
    arch_part = (given.architecture, given.variant) if given.architecture else (config.architecture, config.variant)
    return Platform(
        os=os_part[0],
        architecture=arch_part[0],
        variant=arch_part[1],
        os_version=os_part[1],
        os_features=os_part[2],
        features=given.features,
    )


def add(
    list_name: str,
    image: str | ImageReference,
    *,
    all: bool = False,
    platform: PlatformChange | None = None,
    annotations: Mapping[str, str] | None = None,
    root: str | None = None,
    options: TransportOptions | None = None,
) -> list[Digest]:
    """Add ``image`` (any transport) to the list; returns the instance digests added.

    When ``image`` is itself a list: every instance with ``all``, else the one
    for this machine, or for ``platform``'s os/architecture/variant.  The
    platform is read from the image's config when the list does not give it;
    ``platform`` and ``annotations`` then apply to what a single add added.
    The image's name is recorded as the instance's location, so a push can
    fetch its blobs later; its manifest is saved in the store now.
    """
    store = open_store(root, options)
    find_list(store, list_name)  # fail before reading the image when the list does not exist
    ref = parse_image_name(image) if isinstance(image, str) else image
    # From reading the image to recording it: an ``rmi`` of it waits, then sees the list that needs it.
    with store.editing_lists():
        prepared = _prepare(store, ref, all, platform, annotations, options)
        with store.writing():
            _save_manifests(store, [prepared])
            edit_held(store, list_name, prepared.ops)
    return [item.descriptor.digest for item in prepared.found]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One image read for adding: its instances and the edits that record them."""

    found: list[_Found]
    ops: list[AddInstance]


def _prepare(
    store: Store,
    ref: ImageReference,
    all: bool,
    platform: PlatformChange | None,
    annotations: Mapping[str, str] | None,
    options: TransportOptions | None,
) -> _Prepared:
    """Read ``ref`` and say what adding it means; nothing is written."""
    with ref.new_source(with_store_root(options, store)) as source:
        found = _instances(source, all, platform)
    if all and len(found) > 1 and platform:
        raise StoreError("--arch/--os/--variant and the other platform options apply to one image: drop --all")
    ops = []
    for item in found:
        desc = item.descriptor
        if platform:
            desc = desc.evolve(platform=platform.applied_to(desc.platform))
        if annotations:
            desc = desc.evolve(annotations={**desc.annotations, **annotations})
        ops.append(AddInstance(desc, str(ref)))
    return _Prepared(found, ops)


def _save_manifests(store: Store, prepared: Sequence[_Prepared]) -> None:
    """The instances' manifests, kept in the store so that the list can be inspected and pushed."""
    for item in prepared:
        for found in item.found:
            store.blobs.put_bytes(found.raw, found.descriptor.digest, "manifest")


def remove(list_name: str, digest: str | Digest, *, root: str | None = None) -> ManifestList:
    """Remove an instance; InstanceNotInListError when the list does not have it."""
    instance = parse_digest(digest) if isinstance(digest, str) else digest
    return edit(open_store(root), list_name, [RemoveInstance(instance)])


def annotate(
    list_name: str,
    digest: str | Digest | None,
    *,
    annotations: Mapping[str, str] | None = None,
    platform: PlatformChange | None = None,
    root: str | None = None,
) -> ManifestList:
    """Set an instance's annotations and platform fields, or (``digest=None``) the index's annotations."""
    instance = parse_digest(digest) if isinstance(digest, str) else digest
    op = Annotate(instance, dict(annotations or {}), platform or PlatformChange())
    return edit(open_store(root), list_name, [op])


def exists(list_name: str, *, root: str | None = None) -> bool:
    try:
        find_list(open_store(root), list_name)
    except (ListNotFoundError, NotAManifestListError):
        return False
    return True


def rm(list_name: str, *, root: str | None = None) -> ManifestList:
    """Delete the list's record (the images it names stay; their blobs until gc)."""
    store = open_store(root)
    lst = load(list_name, root=store.root)
    with store.catalog.locked(lst.id):
        store.catalog.remove(lst.id)
    return lst


def inspect(
    list_name: str, *, verbose: bool = False, root: str | None = None, options: TransportOptions | None = None
) -> Any:
    """The list as JSON; ``verbose`` adds each instance's manifest and recorded location."""
    store = open_store(root, options)
    record = find_list(store, list_name)
    lst = load(record.id, root=store.root)
    document = json.loads(lst.index.raw)
    if not verbose:
        return document
    return {
        "manifestList": document,
        "instances": [_instance_entry(store, lst, d, options) for d in lst.index.manifests],
    }


def _instance_entry(
    store: Store, lst: ManifestList, desc: Descriptor, options: TransportOptions | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"digest": str(desc.digest), "location": lst.locations.get(desc.digest, "")}
    try:
        with InstanceSource(store, lst, desc, with_store_root(options, store)) as source:
            entry["manifest"] = json.loads(source.manifest()[0])
    except LighterError as exc:
        entry["manifest"] = None
        entry["error"] = str(exc)
    return entry
