"""The merged file system of a base image, in memory: what ``commit --from`` diffs against.

Every base layer is streamed once (verified like any unpack: blob digest,
diffID, safe names, limits) and its headers applied to a ``Node`` tree,
whiteouts and opaque directories included; regular files keep the sha256
of their content, so a file is "unchanged" only if its bytes are.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile

from lighter.build.fsmeta import Meta, Node
from lighter.build.image import ResolvedImage, member_kind, member_meta
from lighter.build.layers import Budget, Limits, Member, normalise_name, read_layer
from lighter.errors import InvalidLayerError
from lighter.transports import ImageSource

log = logging.getLogger(__name__)


def _with_ancestors(parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [parts[:i] for i in range(1, len(parts) + 1)]


class _Applier:
    """Applies one layer's members to the tree."""

    def __init__(self, root: Node, what: str) -> None:
        self.root = root
        self.what = what
        self.written: set[tuple[str, ...]] = set()

    def _parent(self, parts: tuple[str, ...]) -> Node:
        node = self.root
        for part in parts:
            child = node.children.get(part)
            if child is None or (child.meta is not None and child.meta.kind != "dir"):
                child = node.children[part] = Node(None)
            node = child
        return node

    def apply(self, member: Member) -> None:
        parts = member.parts
        if member.kind == "whiteout":
            parent = self.root.child(parts[:-1])
            if parent is not None and parts not in self.written:
                parent.children.pop(parts[-1], None)
            return
        if member.kind == "opaque":
            node = self.root.child(parts)
            if node is not None:
                node.children = {k: v for k, v in node.children.items() if (*parts, k) in self.written}
            return
        meta = self._meta(member)
        if meta is None:
            return
        self.written.update(_with_ancestors(parts))
        if not parts:
            if meta.kind == "dir":
                self.root.meta = meta
            return
        parent = self._parent(parts[:-1])
        existing = parent.children.get(parts[-1])
        if meta.kind == "dir" and existing is not None and (existing.meta is None or existing.meta.kind == "dir"):
            existing.meta = meta
        else:
            parent.children[parts[-1]] = Node(meta)

    def _meta(self, member: Member) -> Meta | None:
        info = member.info
        if info.type == tarfile.LNKTYPE:
            target = self.root.child(normalise_name(info.linkname, self.what))
            if target is None or target.meta is None or target.meta.kind == "dir":
                raise InvalidLayerError(f"{self.what}: hardlink {info.name!r} to missing {info.linkname!r}")
            return target.meta
        kind = member_kind(info)
        if kind is None:
            log.warning("%s: skipping %r of unsupported tar type %r", self.what, info.name, info.type)
            return None
        content = None
        if kind == "file":
            digest = hashlib.sha256()
            for chunk in member.chunks():
                digest.update(chunk)
            content = digest.hexdigest()
        return member_meta(info, kind, content)


def index_image(source: ImageSource, image: ResolvedImage, limits: Limits | None = None) -> Node:
    """The file system ``image``'s layers make, as a tree of metadata."""
    root = Node(None)
    budget = Budget(limits or Limits())
    for descriptor, diff_id in image.layers:
        applier = _Applier(root, f"base layer {descriptor.digest}")
        for member in read_layer(source, descriptor, diff_id, budget):
            applier.apply(member)
    return root
