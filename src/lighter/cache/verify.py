"""Re-hashing every cache entry; corrupt ones are reported and removed.

An entry is filed under a digest, so it can always be checked against its
name alone: a list's bytes must hash to its key and be a list; an image's
config digest must be its key, and its config and layers must hash to the
digests and sizes its manifest gives them.  The key says nothing about an
image's manifest, so fetch recorded it as ``image/<hex>.manifest.json``
(see ``layout``): the record must hash to its name and ``manifest.json``
must be those bytes, and the config must list one diffID per layer.  An
image without exactly one record (filled by another tool, or by an older
lighter) cannot be vouched for, and is reported like a damaged one.
A removed entry is simply fetched again by the next ``fetch``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lighter import mediatype as mt
from lighter.cache.layout import RECORD_SUFFIX, Cache, Entry
from lighter.digest import Digest, VerifyingReader, parse_digest
from lighter.errors import DigestMismatchError, InvalidManifestError, LighterError
from lighter.localfs import CHUNK
from lighter.manifest import (
    ImageManifest,
    is_manifest_list,
    manifest_digest,
    parse_config,
    parse_manifest,
)
from lighter.transports import parse_image_name


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Entries found whole, and corrupt entries with what was wrong (removed unless asked not to)."""

    good: tuple[Entry, ...]
    corrupt: tuple[tuple[Entry, str], ...]
    removed: bool


def check_diff_ids(manifest: ImageManifest, config_raw: bytes, what: str) -> None:
    """An image config must list one diffID per layer of its manifest (artifacts' configs are not read)."""
    if manifest.config.media_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        return
    diff_ids = parse_config(config_raw).diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise InvalidManifestError(
            f"{what}: its config lists {len(diff_ids)} diffIDs for the {len(manifest.layers)} layers of its manifest"
        )


def _check_list(entry: Entry) -> None:
    with open(entry.path, "rb") as stream:
        raw = stream.read()
    actual = manifest_digest(raw)
    if actual != entry.key:
        raise DigestMismatchError(f"cached manifest list {entry.key}", str(entry.key), str(actual))
    if not is_manifest_list(json.loads(raw)):
        raise LighterError(f"cached item {entry.key} is not a manifest list")


def _recorded_digest(entry: Entry) -> Digest:
    """The manifest digest fetch recorded for an image entry, checked against the record's bytes."""
    records = sorted(n for n in os.listdir(entry.path) if n.endswith(RECORD_SUFFIX))
    if len(records) != 1:
        found = ", ".join(records) or "none"
        raise LighterError(
            f"cached image {entry.key}: expected one <hex>{RECORD_SUFFIX} recording its manifest, found {found}"
        )
    recorded = parse_digest("sha256:" + records[0].removesuffix(RECORD_SUFFIX))
    with open(os.path.join(entry.path, records[0]), "rb") as stream:
        actual = manifest_digest(stream.read())
    if actual != recorded:
        raise DigestMismatchError(f"recorded manifest of cached image {entry.key}", str(recorded), str(actual))
    return recorded


def _check_image(entry: Entry) -> None:
    recorded = _recorded_digest(entry)
    with parse_image_name(f"dir:{entry.path}").new_source() as source:
        raw, media_type = source.manifest()
        if manifest_digest(raw) != recorded:
            raise DigestMismatchError(
                f"manifest.json of cached image {entry.key}", str(recorded), str(manifest_digest(raw))
            )
        manifest = parse_manifest(raw, media_type)
        if not isinstance(manifest, ImageManifest):
            raise LighterError(f"cached image {entry.key} has a {manifest.media_type} manifest, not an image")
        if manifest.config.digest != entry.key:
            raise DigestMismatchError(
                f"image id of cached image {entry.key}", str(entry.key), str(manifest.config.digest)
            )
        check_diff_ids(manifest, source.blob_bytes(manifest.config, "config"), f"cached image {entry.key}")
        for desc in manifest.layers:
            with (
                source.blob(desc) as raw_stream,
                VerifyingReader(raw_stream, desc.digest, desc.size, f"blob {desc.digest}") as stream,
            ):
                while stream.read(CHUNK):
                    pass


def check_entry(entry: Entry) -> str | None:
    """None when the entry is whole, else what is wrong with it (one line)."""
    check: Callable[[Entry], None] = _check_list if entry.kind == "list" else _check_image
    try:
        check(entry)
    except Exception as exc:  # whatever a damaged entry makes a reader raise, it is damaged
        return str(exc) or type(exc).__name__
    return None


def verify(cache: Cache | str, remove: bool = True, workers: int = 4) -> VerifyReport:
    """Check every entry (``workers`` at a time); remove corrupt ones unless ``remove`` is False.

    Temporary directories left by killed fetches are swept as well.
    """
    store = cache if isinstance(cache, Cache) else Cache(cache)
    entries = store.entries()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lighter-verify") as pool:
        problems = list(pool.map(check_entry, entries))
    corrupt = tuple((e, p) for e, p in zip(entries, problems, strict=True) if p is not None)
    good = tuple(e for e, p in zip(entries, problems, strict=True) if p is None)
    if remove:
        for entry, _ in corrupt:
            store.remove(entry)
        store.sweep_temporaries()
    return VerifyReport(good=good, corrupt=corrupt, removed=remove)
