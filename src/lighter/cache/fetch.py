"""Fetching source items into the cache: by digest, verified, in parallel, atomically.

What osbuild's skopeo sources do with ``skopeo copy``, done with lighter's
copy engine.  For each item not cached yet, in a bounded thread pool:

* read the top-level manifest by digest and check its digest is the one asked;
* a **list** item must be a manifest list (a single image there is an
  error saying so); it is copied ``index-only`` and filed as its bytes;
* an **image** item is copied whole into a ``dir:`` image (a list's
  instance for this machine's platform when the digest names a list), and
  its image id (the digest of its config) must be the key it is filed under,
  and its manifest is recorded under its own digest for ``verify``;
* everything happens in a workspace inside the cache and becomes visible
  by one rename (``Cache.install``), so a failed or interrupted fetch leaves
  no entry, and two processes fetching at once both succeed with one copy.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from lighter.cache.layout import Cache, record_name
from lighter.cache.schema import SourceItem
from lighter.cache.verify import check_diff_ids
from lighter.copy import CopyOptions, copy_between
from lighter.errors import DigestMismatchError, InvalidManifestError, NotAManifestListError
from lighter.localfs import atomic_write
from lighter.manifest import ImageManifest, is_manifest_list, manifest_digest, parse_manifest
from lighter.transports import ImageSource, parse_image_name

log = logging.getLogger(__name__)

#: Blob streams a whole fetch may have open at once, shared out among the items fetched together.
BLOB_STREAMS: Final = 8


def blob_streams_per_item(workers: int) -> int:
    """Blob streams of one image when ``workers`` items are fetched at once (the total stays bounded)."""
    return max(1, BLOB_STREAMS // max(1, workers))


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What a fetch did: items fetched now, items found in the cache already, and items
    another process put in place while this one was fetching them (``elsewhere``)."""

    fetched: tuple[SourceItem, ...] = ()
    cached: tuple[SourceItem, ...] = ()
    elsewhere: tuple[SourceItem, ...] = ()


def _checked_top(source: ImageSource, item: SourceItem) -> tuple[bytes, str]:
    """The top-level manifest, checked to have the digest the description pins."""
    raw, media_type = source.manifest()
    actual = manifest_digest(raw)
    if actual != item.digest:
        raise DigestMismatchError(f"manifest of {item.display}", str(item.digest), str(actual))
    return raw, media_type


def _fetch_list(item: SourceItem, staging: str) -> str:
    """Copy a list index-only into ``staging/index``; returns the path of its bytes."""
    with parse_image_name(item.image_name).new_source(item.transport_options()) as source:
        raw, media_type = _checked_top(source, item)
        parse_manifest(raw, media_type)  # a malformed manifest is refused here, with lighter's message
        if not is_manifest_list(json.loads(raw)):
            raise NotAManifestListError(
                f"{item.display} is a single image ({media_type or 'no media type'}), not a manifest list"
            )
        with parse_image_name(f"dir:{staging}/index").new_destination() as dest:
            copy_between(source, dest, CopyOptions(multi_arch="index-only"))
    path = os.path.join(staging, "index", "manifest.json")
    with open(path, "rb") as stream:
        written = manifest_digest(stream.read())
    if written != item.digest:  # the copy must have kept the list's bytes
        raise DigestMismatchError(f"manifest list {item.display} as stored", str(item.digest), str(written))
    return path


def _fetch_image(item: SourceItem, staging: str, parallel: int) -> str:
    """Copy an image into ``staging/entry/image``; returns ``staging/entry``."""
    entry = os.path.join(staging, "entry")
    image_dir = os.path.join(entry, "image")
    os.makedirs(entry)
    with parse_image_name(item.image_name).new_source(item.transport_options()) as source:
        _checked_top(source, item)
        with parse_image_name(f"dir:{image_dir}").new_destination() as dest:
            copy_between(source, dest, CopyOptions(parallel=parallel))
    with open(os.path.join(image_dir, "manifest.json"), "rb") as stream:
        raw = stream.read()
    manifest = parse_manifest(raw)
    if not isinstance(manifest, ImageManifest):
        raise InvalidManifestError(f"{item.display}: expected an image with a config, got {manifest.media_type}")
    if manifest.config.digest != item.key:
        raise DigestMismatchError(f"image id of {item.display}", str(item.key), str(manifest.config.digest))
    with open(os.path.join(image_dir, manifest.config.digest.hex), "rb") as stream:
        check_diff_ids(manifest, stream.read(), item.display)  # what verify would remove at once
    # the key is the config's digest: only this record lets verify tell an edited manifest.json
    atomic_write(os.path.join(image_dir, record_name(manifest_digest(raw))), raw)
    return entry


def fetch_item(cache: Cache, item: SourceItem, parallel: int = 4) -> bool:
    """Fetch one item unless cached; True when this call put it in place (False: already there)."""
    if cache.has(item.kind, item.key):
        return False
    with cache.workspace() as space:
        if item.kind == "list":
            staged = _fetch_list(item, space.path)
        else:
            staged = _fetch_image(item, space.path, parallel)
        won = cache.install(item.kind, item.key, staged)
    log.debug("%s %s %s", item.kind, item.key, "fetched" if won else "fetched by another process meanwhile")
    return won


def fetch(cache: Cache | str, items: Sequence[SourceItem], workers: int = 4) -> FetchReport:
    """Fetch every item the cache lacks, ``workers`` at a time.

    Every item is attempted; when some fail, the first failure (in the
    order of ``items``) is raised after the others have finished, so what
    could be fetched is cached.
    """
    store = cache if isinstance(cache, Cache) else Cache(cache)
    store.sweep_temporaries()  # what killed fetches left; live writers' workspaces are locked
    cached: list[SourceItem] = []
    wanted: list[SourceItem] = []
    for item in items:  # one look each: another process may be installing them right now
        (cached if store.has(item.kind, item.key) else wanted).append(item)
    parallel = blob_streams_per_item(workers)
    won: list[SourceItem] = []
    lost: list[SourceItem] = []
    failed: list[tuple[SourceItem, Exception]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lighter-fetch") as pool:
        futures = [(item, pool.submit(fetch_item, store, item, parallel)) for item in wanted]
        for item, future in futures:
            exc = future.exception()
            if exc is None:
                # False: another process installed it first (or had, by the time this item's turn came)
                (won if future.result() else lost).append(item)
            elif isinstance(exc, Exception):
                failed.append((item, exc))
            else:
                raise exc  # KeyboardInterrupt and the like are not an item's failure
    for item, exc in failed[1:]:
        log.warning("fetching %s failed too: %s", item.display, exc)
    if failed:
        raise failed[0][1]
    return FetchReport(fetched=tuple(won), cached=tuple(cached), elsewhere=tuple(lost))
