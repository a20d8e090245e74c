"""Scanning a root filesystem into the ordered entries of a layer, against a base tree or not.

The order is the one ``tar --sort=name`` gives, depth first with names
sorted as bytes, and inside each directory its deletions first (an opaque
marker, or ``.wh.NAME`` whiteouts) as the OCI layer spec recommends.  A
directory is emitted when its own metadata changed or anything inside it
did, as containers-storage does, so that extracting the layer restores the
parents' permissions.  Against a base, a file is unchanged when kind, mode,
owner, mtime, xattrs, link target or device and, for regular files, size
and content digest all match.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from lighter.build.fsmeta import WHITEOUT_PREFIX, Kind, Meta, Node, is_ignored_xattr, kind_of_mode
from lighter.errors import RootfsError

log = logging.getLogger(__name__)
_CHUNK = 1024 * 1024


@dataclass(slots=True)
class TreeEntry:
    """A file to put in the layer: its path inside the root and what lstat said."""

    path: str
    abspath: str
    st: os.stat_result
    kind: Kind
    xattrs: tuple[tuple[str, bytes], ...]
    linkname: str = ""


@dataclass(frozen=True, slots=True)
class Whiteout:
    """``path`` was deleted from the base."""

    path: str


@dataclass(frozen=True, slots=True)
class Opaque:
    """Directory ``path`` replaces everything the base had under it."""

    path: str


Action = TreeEntry | Whiteout | Opaque


def read_xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    """The xattrs that travel in layers, sorted by name (empty values cannot be carried by PAX)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    out = []
    for name in sorted(names):
        if is_ignored_xattr(name):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        if value:
            out.append((name, value))
    return tuple(out)


def clamp_mtime(st: os.stat_result, clamp: int | None) -> int:
    seconds = st.st_mtime_ns // 1_000_000_000
    return seconds if clamp is None else min(seconds, clamp)


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _unchanged(entry: TreeEntry, base: Meta | None, clamp: int | None) -> bool:
    if base is None or base.kind != entry.kind:
        return False
    st = entry.st
    same = (
        base.mode == stat.S_IMODE(st.st_mode)
        and base.uid == st.st_uid
        and base.gid == st.st_gid
        and base.mtime == clamp_mtime(st, clamp)
        and base.xattrs == entry.xattrs
    )
    if not same:
        return False
    if entry.kind == "symlink":
        return base.linkname == entry.linkname
    if entry.kind in ("char", "block"):
        return base.rdev == (os.major(st.st_rdev), os.minor(st.st_rdev))
    if entry.kind == "file":
        return base.size == st.st_size and base.content == _file_digest(entry.abspath)
    return True


class TreeScanner:
    """Walks a root filesystem and yields the actions of its layer against ``base``."""

    def __init__(self, root: str, *, base: Node | None, clamp: int | None, devices: bool) -> None:
        if not os.path.isdir(root) or os.path.islink(root):
            raise RootfsError(f"root filesystem {root!r}: expected a directory")
        self.root = os.path.abspath(root)
        self.base = base
        self.clamp = clamp
        self.devices = devices

    def scan(self) -> list[Action]:
        return list(self.actions())

    def actions(self) -> Iterator[Action]:
        """The actions, found as they are taken: a directory is listed when its turn comes.

        ``commit`` iterates this in the thread that writes the tar, so that the
        walk overlaps the compression instead of preceding it; an error (an
        unreadable directory, a ``.wh.`` name) then ends the layer's stream.
        """
        return self._dir("", self.root, self.base)

    def _entry(self, rel: str, path: str) -> TreeEntry | None:
        st = os.lstat(path)
        kind = kind_of_mode(st.st_mode)
        if kind is None:
            log.warning("skipping %s: sockets and other special files cannot be put in a layer", rel)
            return None
        if kind in ("char", "block") and not self.devices:
            log.warning("skipping device %s: device nodes are committed only when asked for (--devices)", rel)
            return None
        linkname = os.readlink(path) if kind == "symlink" else ""
        return TreeEntry(rel, path, st, kind, read_xattrs(path), linkname)

    def _dir(self, rel: str, path: str, base: Node | None) -> Iterator[Action]:
        try:
            names = sorted(os.listdir(path), key=os.fsencode)
        except OSError as exc:
            raise RootfsError(f"cannot read directory {path!r}: {exc.strerror}") from None
        base_children = base.children if base is not None else {}
        present = set(names)
        deleted = sorted((n for n in base_children if n not in present), key=os.fsencode)
        if deleted and len(deleted) == len(base_children):
            yield Opaque(rel)
            base_children = {}
        else:
            yield from (Whiteout(_join(rel, name)) for name in deleted)
        for name in names:
            if name.startswith(WHITEOUT_PREFIX):
                raise RootfsError(
                    f"{_join(rel, name)!r}: names starting with {WHITEOUT_PREFIX!r} cannot be stored in a layer"
                )
            yield from self._child(_join(rel, name), os.path.join(path, name), base_children.get(name))

    def _child(self, rel: str, path: str, base: Node | None) -> Iterator[Action]:
        try:
            entry = self._entry(rel, path)
        except OSError as exc:
            raise RootfsError(f"cannot read {path!r}: {exc.strerror}") from None
        if entry is None:
            return
        base_meta = base.meta if base is not None else None
        same = _unchanged(entry, base_meta, self.clamp)
        if entry.kind != "dir":
            if not same:
                yield entry
            return
        inner = self._dir(rel, path, base if base_meta is None or base_meta.kind == "dir" else None)
        if same:  # an unchanged directory is emitted only when something inside it is
            first = next(inner, None)
            if first is None:
                return
            yield entry
            yield first
        else:
            yield entry
        yield from inner


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
