"""Garbage collection: remove the blobs no record reaches.

Runs under the store's exclusive ``collecting`` lock, so no writer is
between storing blobs and committing the record that will reach them;
temporary files left by killed writers are removed too.
"""

from __future__ import annotations

from dataclasses import dataclass

from lighter.digest import Digest
from lighter.store.store import Store
from lighter.store.walk import Reach, walk


@dataclass(frozen=True, slots=True)
class GcResult:
    removed: tuple[Digest, ...]
    bytes_freed: int
    temporaries: int


def reachable(store: Store) -> set[Digest]:
    """Every blob some record reaches (manifests, configs, layers, stored instances)."""
    reach = Reach()
    for record in store.catalog.all():
        walk(store.blobs, record.digest, record.media_type, reach)
        for digest in record.extra_digests:  # lists the image was copied out of
            walk(store.blobs, digest, "", reach)
    return reach.present


def collect_garbage(store: Store, dry_run: bool = False) -> GcResult:
    """Delete unreachable blobs; with ``dry_run`` only say which."""
    with store.collecting():
        keep = reachable(store)
        removed = [d for d in store.blobs.digests() if d not in keep]
        freed = 0
        temporaries = 0
        if not dry_run:
            for digest in removed:
                freed += store.blobs.remove(digest)
            temporaries = store.blobs.remove_stale_temporaries()
        else:
            freed = sum(max(store.blobs.size(d), 0) for d in removed)
    return GcResult(removed=tuple(removed), bytes_freed=freed, temporaries=temporaries)
