"""Deciding what a sync copies, and where: pure, no I/O.

A sync is a list of independent units, one per source image, each naming
its source and destination image.  Destination names are skopeo sync's
(cmd/skopeo/sync.go): the source's *suffix* — the full docker reference
(``registry.example.com/busybox:1.36``) for a registry source, the path
below the source directory for a ``dir`` source — is cut to its last path
element unless ``--scoped``, joined below the destination as Go's
``path.Join`` does, and followed by ``--append-suffix``::

    --src docker --dest dir   reg.io/a/busybox:1  /media/usb  -> dir:/media/usb/busybox:1
    --scoped                                                  -> dir:/media/usb/reg.io/a/busybox:1
    --src docker --dest docker reg.io/a/busybox:1 mirror:5000 -> docker://mirror:5000/busybox:1

Because units are independent, a job runner can shard them
(``select_shard``): each unit goes to the shard chosen by a stable hash of
its destination, so every destination has exactly one writer however the
shards' tag listings are ordered.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lighter.errors import InvalidInputError, InvalidReferenceError
from lighter.reference import parse_reference
from lighter.transports import TransportOptions

SourceKind = Literal["docker", "dir", "yaml"]
DestKind = Literal["docker", "dir"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("docker", "dir", "yaml")
DEST_KINDS: tuple[DestKind, ...] = ("docker", "dir")


@dataclass(frozen=True, slots=True)
class SourceImage:
    """One image found at the source.

    ``name`` is a lighter image name (``docker://...`` or ``dir:...``);
    ``suffix`` is what skopeo appends below the destination before
    ``--scoped`` is applied; ``options`` are the source's transport options
    (a YAML registry entry may carry its own credentials and TLS settings).
    """

    name: str
    suffix: str
    options: TransportOptions = field(default_factory=TransportOptions)


@dataclass(frozen=True, slots=True)
class SyncUnit:
    """One independent piece of a sync: copy ``source`` to ``destination``.

    ``tag`` is the destination's tag (None when it is pinned by digest);
    ``pinned`` destinations are content-addressed and so never change once
    present.
    """

    source: str
    destination: str
    source_options: TransportOptions = field(default_factory=TransportOptions, compare=False)
    tag: str | None = None
    pinned: bool = False


def check_kinds(source: str, dest: str) -> tuple[SourceKind, DestKind]:
    """Validate ``--src``/``--dest`` as skopeo does."""
    if source not in SOURCE_KINDS:
        raise InvalidInputError(f"{source!r} is not a valid source transport (expected one of: docker, dir, yaml)")
    if dest not in DEST_KINDS:
        raise InvalidInputError(f"{dest!r} is not a valid destination transport (expected one of: docker, dir)")
    if source == "dir" and dest == "dir":
        raise InvalidInputError("sync from 'dir' to 'dir' not implemented, consider using rsync instead")
    return source, dest


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: like normpath, but '//x' becomes '/x' and '' becomes '.'."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def go_join(*parts: str) -> str:
    """Go's ``path.Join``: join the non-empty parts with '/' and clean (an absolute part does not reset)."""
    kept = [p for p in parts if p]
    return go_clean("/".join(kept)) if kept else ""


def go_base(path: str) -> str:
    """Go's ``path.Base``: the last element, trailing slashes ignored; '' gives '.', '/' gives '/'."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def dir_suffix(image_dir: str, base: str) -> str:
    """skopeo's suffix for an image found at ``image_dir`` while walking the source directory ``base``."""
    suffix = image_dir.removeprefix(base)
    return suffix if suffix else go_base(base)


def _tag_of(dest_kind: DestKind, path: str) -> tuple[str | None, bool]:
    if dest_kind == "docker":
        try:
            ref = parse_reference(path)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(f"invalid destination {path!r}: {exc}") from None
        return (None, True) if ref.digest is not None and ref.tag is None else (ref.tag, False)
    name = go_base(path)
    if "@" in name:
        return None, True
    before, sep, tag = name.rpartition(":")
    return (tag, False) if sep and before else (None, False)


def plan_units(
    images: Iterable[SourceImage],
    dest_kind: DestKind,
    destination: str,
    *,
    scoped: bool = False,
    append_suffix: str = "",
) -> list[SyncUnit]:
    """One unit per source image, in the order found; a repeated (source, destination) pair is kept once."""
    units: list[SyncUnit] = []
    seen: set[tuple[str, str]] = set()
    for image in images:
        suffix = image.suffix if scoped else go_base(image.suffix)
        path = go_join(destination, suffix) + append_suffix
        dest_name = f"docker://{path}" if dest_kind == "docker" else f"dir:{path}"
        if (image.name, dest_name) in seen:
            continue
        seen.add((image.name, dest_name))
        tag, pinned = _tag_of(dest_kind, path)
        units.append(SyncUnit(image.name, dest_name, image.options, tag, pinned))
    return units


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (0 <= I < N) as given to ``--shard``."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise InvalidInputError(f"invalid shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return i, n


def shard_of(unit: SyncUnit, count: int) -> int:
    """The shard a unit belongs to: a stable hash of its destination (the same in every process and run)."""
    digest = hashlib.sha256(unit.destination.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def select_shard(units: Sequence[SyncUnit], index: int, count: int) -> list[SyncUnit]:
    """The units of shard ``index`` of ``count``, in their original order."""
    return [unit for unit in units if shard_of(unit, count) == index]
