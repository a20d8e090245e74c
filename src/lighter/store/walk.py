"""What a record reaches: the blobs under a manifest, for commit checks, sizes and gc."""

from __future__ import annotations

from dataclasses import dataclass, field

from lighter.digest import Digest
from lighter.errors import LighterError
from lighter.manifest import ImageManifest, Index, Schema1Manifest, parse_manifest
from lighter.store.blobs import BlobStore


@dataclass
class Reach:
    """Blobs found under a manifest (``present``) and those an image needs but the store lacks."""

    present: set[Digest] = field(default_factory=set)
    #: image manifest → the blobs it names that the store lacks
    missing_by: dict[Digest, list[Digest]] = field(default_factory=dict)
    #: manifests named (by a list, or as the top) that the store lacks
    absent: list[Digest] = field(default_factory=list)

    @property
    def missing(self) -> list[Digest]:
        """Everything the store lacks: absent manifests, then blobs of stored images."""
        out = list(self.absent)
        for blobs in self.missing_by.values():
            out.extend(d for d in blobs if d not in out)
        return out

    def size(self, blobs: BlobStore) -> int:
        return sum(max(blobs.size(d), 0) for d in self.present)


def walk(blobs: BlobStore, top: Digest, media_type: str = "", reach: Reach | None = None) -> Reach:
    """Every stored blob ``top`` reaches, and the blobs a single image needs that are not stored.

    Instances of a list that are not stored are allowed (a list whose
    instances live elsewhere, or an index-only copy); an image that is
    stored must be whole.
    """
    reach = reach if reach is not None else Reach()
    if top in reach.present:
        return reach
    if not blobs.has(top):
        if top not in reach.absent:
            reach.absent.append(top)
        return reach
    reach.present.add(top)
    try:
        manifest = parse_manifest(blobs.read(top, "manifest"), media_type or None)
    except LighterError:
        return reach  # not a manifest we can read: nothing below it
    if isinstance(manifest, Index):
        for desc in manifest.manifests:
            if blobs.has(desc.digest):
                walk(blobs, desc.digest, desc.media_type, reach)
        return reach
    needed: list[Digest] = []
    if isinstance(manifest, ImageManifest):
        needed.append(manifest.config.digest)
        needed.extend(layer.digest for layer in manifest.layers)
    elif isinstance(manifest, Schema1Manifest):
        needed.extend(layer.digest for layer in manifest.layers)
    for digest in needed:
        if blobs.has(digest):
            reach.present.add(digest)
        else:
            reach.missing_by.setdefault(top, []).append(digest)
    return reach
