"""What a layer records about one file-system entry, and the whiteout naming rules.

Shared by the tree scanner (commit), the base-image index (commit
``--from``) and the unpacker, so that all three agree on what "the same
file" means and which extended attributes travel in layers.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import Final, Literal

Kind = Literal["file", "dir", "symlink", "fifo", "char", "block"]

WHITEOUT_PREFIX: Final = ".wh."
OPAQUE_MARKER: Final = ".wh..wh..opq"

# Host-specific or build-overlay xattrs never go into a layer nor come out of
# one (umoci's list): SELinux labels, NFSv4 ACLs, overlayfs bookkeeping.
_IGNORED_XATTRS: Final = frozenset({"security.selinux", "system.nfs4_acl"})
_IGNORED_XATTR_PREFIXES: Final = ("trusted.overlay.",)


def is_ignored_xattr(name: str) -> bool:
    return name in _IGNORED_XATTRS or name.startswith(_IGNORED_XATTR_PREFIXES)


def kind_of_mode(mode: int) -> Kind | None:
    """The kind of an ``st_mode``; None for sockets and anything a layer cannot carry."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "char"
    if stat.S_ISBLK(mode):
        return "block"
    return None


@dataclass(frozen=True, slots=True)
class Meta:
    """The layer-visible metadata of an entry (as a tar header carries it)."""

    kind: Kind
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int = 0
    linkname: str = ""
    rdev: tuple[int, int] = (0, 0)
    xattrs: tuple[tuple[str, bytes], ...] = ()
    #: sha256 hex of a regular file's content, when known.
    content: str | None = field(default=None, compare=False)


@dataclass(slots=True)
class Node:
    """A directory tree of ``Meta`` (the merged file system of an image's layers)."""

    meta: Meta | None
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, parts: tuple[str, ...]) -> Node | None:
        node: Node | None = self
        for part in parts:
            if node is None:
                return None
            node = node.children.get(part)
        return node
