"""Applying an image's layers to a directory, safely, as ``lighter unpack`` does.

Layers are applied in order into a private temporary directory beside
ROOTFS, which is renamed to ROOTFS only when every layer was applied and
verified: a failed unpack leaves nothing at ROOTFS's final path.

Safety does not rest on ``tarfile``'s extraction: every path is resolved
here, component by component with ``lstat``, inside the root:

* names that are absolute or contain ``..`` are refused (``layers.py``);
* symlinks met in a parent path are followed with chroot semantics (an
  absolute target restarts at the root), and one whose resolution would
  climb above the root raises ``UnsafeLayerError``; the final component is
  never followed: an existing entry is removed and the new one created with
  ``O_EXCL | O_NOFOLLOW``;
* hardlink targets are member names, resolved the same way, and must exist;
* device nodes are created only when running as root and asked to;
* ownership is applied only as root (as umoci does rootless).

Directory metadata (owner, mode, xattrs, mtime) is applied at the end of
each layer, deepest first, so that read-only directories can still be
filled.  By then a later entry of the layer may have replaced a parent with
a symlink, so the deferred metadata is never applied by path: each
directory is reopened from the root one component at a time with
``O_DIRECTORY | O_NOFOLLOW`` (``dir_fd``) and changed through that file
descriptor; one whose path no longer leads to a directory inside the root
was replaced, and its metadata is dropped.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Final

from lighter.build.fsmeta import Kind, is_ignored_xattr
from lighter.build.image import member_kind, member_xattrs, resolve_image
from lighter.build.layers import Budget, Limits, Member, normalise_name, read_layer
from lighter.digest import Digest
from lighter.errors import InvalidLayerError, LayerError, RootfsError, UnsafeLayerError, UnsupportedError
from lighter.platform import Platform, parse_platform
from lighter.transports import ImageReference, TransportOptions, parse_image_name

log = logging.getLogger(__name__)

_MAX_SYMLINK_HOPS: Final = 255
_OPEN_NEW: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIR: Final = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: What opening a path component answers when it is no longer a directory (gone, a symlink, a file).
_REPLACED: Final = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


@dataclass(frozen=True, slots=True)
class UnpackResult:
    """What was unpacked: the image manifest and config digests, and how much."""

    rootfs: str
    digest: Digest
    config_digest: Digest
    layers: int
    entries: int


def _ancestors(parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [parts[:i] for i in range(1, len(parts) + 1)]


class LayerApplier:
    """Applies the members of one layer under ``root``."""

    def __init__(self, root: str, what: str, *, devices: bool, as_root: bool) -> None:
        self.root = root
        self.what = what
        self.devices = devices
        self.as_root = as_root
        self._cache: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._written: set[tuple[str, ...]] = set()
        #: Deferred directory metadata by real path inside the root (a later entry for the same directory wins).
        self._dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}
        self.root_meta = False

    def _path(self, parts: tuple[str, ...]) -> str:
        return os.path.join(self.root, *parts)

    def resolve(self, parts: tuple[str, ...], name: str, *, create: bool) -> tuple[str, ...] | None:
        """The real (symlink-free) path of directory ``parts`` inside the root; None if missing."""
        cached = self._cache.get(parts)
        if cached is not None:
            return cached
        resolved: list[str] = []
        pending = list(reversed(parts))
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise UnsafeLayerError(f"{self.what}: entry {name!r} resolves outside the root through a symlink")
                resolved.pop()
                continue
            path = os.path.join(self.root, *resolved, part)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    return None
                os.mkdir(path, 0o755)
                resolved.append(part)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise UnsafeLayerError(f"{self.what}: entry {name!r}: too many levels of symlinks")
                target = os.readlink(path)
                if target.startswith("/"):
                    resolved = []  # chroot semantics: absolute targets are relative to the root
                pending.extend(reversed(target.split("/")))
                continue
            if not stat.S_ISDIR(st.st_mode):
                where = "/".join([*resolved, part])
                raise InvalidLayerError(f"{self.what}: entry {name!r}: {where} is not a directory")
            resolved.append(part)
        result = tuple(resolved)
        self._cache[parts] = result
        return result

    def _clear(self, path: str, keep_dir: bool) -> bool:
        """Remove what is at ``path`` (never following it); True if a directory was kept."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(path)
        else:
            os.unlink(path)
        self._cache.clear()
        return False

    def apply(self, member: Member) -> None:
        try:
            if member.kind == "whiteout":
                self._whiteout(member.parts)
            elif member.kind == "opaque":
                self._opaque(member.parts)
            else:
                self._entry(member)
        except OSError as exc:
            raise LayerError(f"{self.what}: cannot apply {member.info.name!r}: {exc.strerror or exc}") from None

    def _whiteout(self, parts: tuple[str, ...]) -> None:
        parent = self.resolve(parts[:-1], "/".join(parts), create=False)
        if parent is None or (*parent, parts[-1]) in self._written:
            return  # whiteouts hide lower layers only
        self._clear(self._path((*parent, parts[-1])), keep_dir=False)

    def _opaque(self, parts: tuple[str, ...]) -> None:
        real = self.resolve(parts, "/".join(parts), create=False)
        if real is None or not os.path.isdir(self._path(real)) or os.path.islink(self._path(real)):
            return
        for child in os.listdir(self._path(real)):
            if (*real, child) not in self._written:
                self._clear(self._path((*real, child)), keep_dir=False)

    def _entry(self, member: Member) -> None:
        info, parts = member.info, member.parts
        if not parts:
            if not info.isdir():
                raise InvalidLayerError(f"{self.what}: entry {info.name!r} for the root is not a directory")
            self._dirs[()] = info
            self.root_meta = True
            return
        parent = self.resolve(parts[:-1], info.name, create=True)
        assert parent is not None  # create=True never answers None
        real = (*parent, parts[-1])
        path = self._path(real)
        self._written.update(_ancestors(real))
        if info.type == tarfile.LNKTYPE:
            self._hardlink(info, path)
            return
        kind = member_kind(info)
        if kind is None:
            log.warning("%s: skipping %r of unsupported tar type %r", self.what, info.name, info.type)
            return
        if kind == "dir":
            if not self._clear(path, keep_dir=True):
                os.mkdir(path, 0o700)
            self._dirs[real] = info
        elif kind == "file":
            self._clear(path, keep_dir=False)
            self._file(member, path)
        else:
            self._special(info, kind, path)

    def _file(self, member: Member, path: str) -> None:
        fd = os.open(path, _OPEN_NEW, 0o600)
        try:
            for chunk in member.chunks():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            self._meta(fd, member.info, symlink=False)
        finally:
            os.close(fd)

    def _special(self, info: tarfile.TarInfo, kind: Kind, path: str) -> None:
        if kind in ("char", "block") and not self.devices:
            log.warning("%s: skipping device %r (created only as root with --devices)", self.what, info.name)
            return
        self._clear(path, keep_dir=False)
        if kind == "symlink":
            os.symlink(info.linkname, path)
            self._cache.clear()
        elif kind == "fifo":
            os.mkfifo(path, 0o600)
        else:
            kind_bits = stat.S_IFCHR if kind == "char" else stat.S_IFBLK
            os.mknod(path, 0o600 | kind_bits, os.makedev(info.devmajor, info.devminor))
        self._meta(path, info, symlink=kind == "symlink")

    def _hardlink(self, info: tarfile.TarInfo, path: str) -> None:
        target_parts = normalise_name(info.linkname, self.what)
        if not target_parts:
            raise InvalidLayerError(f"{self.what}: hardlink {info.name!r} points at the root")
        parent = self.resolve(target_parts[:-1], info.name, create=False)
        source = self._path((*parent, target_parts[-1])) if parent is not None else ""
        if not source or not os.path.lexists(source) or (os.path.isdir(source) and not os.path.islink(source)):
            raise InvalidLayerError(f"{self.what}: hardlink {info.name!r} to {info.linkname!r}, which does not exist")
        if source == path:
            return
        self._clear(path, keep_dir=False)
        os.link(source, path, follow_symlinks=False)

    def _meta(self, target: str | int, info: tarfile.TarInfo, *, symlink: bool, follow: bool = False) -> None:
        """Owner, mode, xattrs and mtime, in that order (chown clears set-id bits).

        ``target`` is an open fd, or a path whose parent was just resolved; ``follow`` only for
        a path that names a pinned inode (``/proc/self/fd/N``).
        """
        follow = follow or isinstance(target, int)  # an open fd: "following" is the only mode os allows
        if self.as_root:
            os.chown(target, info.uid, info.gid, follow_symlinks=follow)
        if not symlink:
            os.chmod(target, info.mode & 0o7777, follow_symlinks=follow)
        for name, value in member_xattrs(info):
            if is_ignored_xattr(name):
                continue
            try:
                os.setxattr(target, name, value, follow_symlinks=follow)
            except OSError as exc:
                log.warning("%s: %r: cannot set xattr %s: %s", self.what, info.name, name, exc.strerror)
        mtime = int(info.mtime // 1) * 1_000_000_000
        os.utime(target, ns=(mtime, mtime), follow_symlinks=follow)

    def _open_dir(self, parts: tuple[str, ...]) -> tuple[int, bool] | None:
        """An fd on directory ``parts``, reached from the root without following any symlink.

        None when the path no longer leads to a directory (a later entry replaced it).  The
        bool says the fd is an ``O_PATH`` one: rootless, a directory without read permission
        cannot be opened for reading, and is then changed through ``/proc/self/fd``.
        """
        fd = os.open(self.root, os.O_RDONLY | _OPEN_DIR)
        path_only = False
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                try:
                    child = os.open(part, (os.O_RDONLY if last else os.O_PATH) | _OPEN_DIR, dir_fd=fd)
                except PermissionError:
                    if not last:
                        raise
                    child, path_only = os.open(part, os.O_PATH | _OPEN_DIR, dir_fd=fd), True
                os.close(fd)
                fd = child
        except OSError as exc:
            os.close(fd)
            if exc.errno in _REPLACED:
                return None
            raise
        return fd, path_only

    def finish(self) -> None:
        """Directory metadata, deepest first, once their content is in place (see the module doc)."""
        try:
            for parts, info in sorted(self._dirs.items(), key=lambda item: len(item[0]), reverse=True):
                opened = self._open_dir(parts)
                if opened is None:
                    log.debug("%s: %r was replaced later in the layer; its metadata is dropped", self.what, info.name)
                    continue
                fd, path_only = opened
                try:
                    if path_only:
                        self._meta(f"/proc/self/fd/{fd}", info, symlink=False, follow=True)
                    else:
                        self._meta(fd, info, symlink=False)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise LayerError(f"{self.what}: cannot set directory metadata: {exc.strerror or exc}") from None


def _check_target(target: str) -> None:
    if os.path.lexists(target) and (not os.path.isdir(target) or os.path.islink(target) or os.listdir(target)):
        raise RootfsError(f"cannot unpack into {target!r}: it exists and is not an empty directory")


def unpack(
    image: str | ImageReference,
    rootfs: str | os.PathLike[str],
    *,
    platform: str | Platform | None = None,
    options: TransportOptions | None = None,
    devices: bool = False,
    limits: Limits | None = None,
) -> UnpackResult:
    """Unpack ``image`` (any transport) into the new directory ``rootfs``; see the module doc."""
    target = os.path.abspath(os.fspath(rootfs))
    _check_target(target)
    as_root = os.geteuid() == 0
    if devices and not as_root:
        raise UnsupportedError("device nodes can only be created when running as root")
    ref = parse_image_name(image) if isinstance(image, str) else image
    wanted = parse_platform(platform) if isinstance(platform, str) else platform
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.lighter-unpack-", dir=parent)
    try:
        budget = Budget(limits or Limits())
        root_meta = False
        with ref.new_source(options) as source:
            resolved = resolve_image(source, wanted)
            for descriptor, diff_id in resolved.layers:
                applier = LayerApplier(tmp, f"layer {descriptor.digest}", devices=devices, as_root=as_root)
                for member in read_layer(source, descriptor, diff_id, budget):
                    applier.apply(member)
                applier.finish()
                root_meta = root_meta or applier.root_meta
        if not root_meta:
            os.chmod(tmp, 0o755)
        _check_target(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return UnpackResult(target, resolved.digest, resolved.manifest.config.digest, len(resolved.layers), budget.entries)
