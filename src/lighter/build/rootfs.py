"""A reproducible layer tar from a root filesystem, and its digests in one streaming pass.

The tar is written by ``tarfile`` in PAX format (as containers-storage and
umoci write theirs: plain ustar headers, PAX records only where needed, and
``SCHILY.xattr.`` records for extended attributes).  Entries come in the
order ``TreeScanner`` gives; regular files sharing an inode become tar
hardlinks to the first of them; mtimes are whole seconds, clamped to the
commit timestamp when one is given; owner names come from the tree's own
``/etc/passwd`` and ``/etc/group`` (never the host's), so that the same tree
gives the same bytes on any machine.

``stream_layer`` runs the tar writer in a thread feeding a bounded pipe;
the calling thread hashes the uncompressed bytes (diffID), compresses them,
hashes the compressed bytes (blob digest) and hands the stream to the
consumer (a destination's ``put_blob``).  Nothing is buffered whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Final, cast

import zstandard

from lighter.build.pipe import CHUNK, BytePipe, DigestingReader, PipeClosedError
from lighter.build.tarcompat import forget_members
from lighter.build.tree import Action, Opaque, TreeEntry, Whiteout, clamp_mtime
from lighter.compression import Algorithm, check_level, compressed
from lighter.digest import Digest
from lighter.errors import DigestMismatchError, RootfsError, UnsupportedCompressionError
from lighter.manifest import Descriptor

log = logging.getLogger(__name__)

_MAX_ID_FILE: Final = 4 * 1024 * 1024
_TAR_TYPES: Final = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "fifo": tarfile.FIFOTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
}


@dataclass(frozen=True, slots=True)
class OwnerNames:
    """uid → user name and gid → group name, as the tree's own passwd and group files say."""

    users: dict[int, str]
    groups: dict[int, str]

    @classmethod
    def from_root(cls, root: str) -> OwnerNames:
        return cls(_read_ids(root, "passwd"), _read_ids(root, "group"))


def _read_ids(root: str, name: str) -> dict[int, str]:
    """First name per id in ROOT/etc/NAME; symlinks are not followed (they could point at the host)."""
    try:
        etc = os.open(os.path.join(root, "etc"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=etc)
    except OSError:
        return {}
    finally:
        os.close(etc)
    with os.fdopen(fd, "rb") as f:
        text = f.read(_MAX_ID_FILE).decode("utf-8", "replace")
    ids: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] and fields[2].isdigit():
            ids.setdefault(int(fields[2]), fields[0])
    return ids


def _marker(name: str) -> tarfile.TarInfo:
    """A whiteout or opaque marker: an empty regular file with fixed metadata, as umoci writes it."""
    info = tarfile.TarInfo(name)
    info.mode = 0
    info.mtime = 0
    return info


def entry_info(entry: TreeEntry, names: OwnerNames, clamp: int | None) -> tarfile.TarInfo:
    st = entry.st
    info = tarfile.TarInfo(entry.path)
    info.type = _TAR_TYPES[entry.kind]
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = names.users.get(st.st_uid, "")
    info.gname = names.groups.get(st.st_gid, "")
    info.mtime = clamp_mtime(st, clamp)
    if entry.kind == "file":
        info.size = st.st_size
    elif entry.kind == "symlink":
        info.linkname = entry.linkname
    elif entry.kind in ("char", "block"):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    if entry.xattrs:
        # Binary values survive as surrogate escapes; tarfile then marks the record hdrcharset=BINARY.
        info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in entry.xattrs}
    return info


def _add_file(tar: tarfile.TarFile, entry: TreeEntry, info: tarfile.TarInfo) -> None:
    try:
        fd = os.open(entry.abspath, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise RootfsError(f"cannot read {entry.abspath!r}: {exc.strerror}") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        now = os.fstat(fd)
        if (now.st_ino, now.st_size) != (entry.st.st_ino, entry.st.st_size):
            raise RootfsError(f"{entry.abspath!r} changed while it was being committed")
        try:
            tar.addfile(info, f)
        except OSError as exc:
            raise RootfsError(f"cannot read {entry.abspath!r}: {exc}") from None


def write_layer_tar(actions: Sequence[Action], out: IO[bytes], names: OwnerNames, clamp: int | None) -> None:
    """Write the layer tar of ``actions`` into ``out`` (which needs ``write`` and ``tell``)."""
    tar = tarfile.TarFile(
        fileobj=out,
        mode="w",
        format=tarfile.PAX_FORMAT,
        encoding="utf-8",
        errors="surrogateescape",
        copybufsize=CHUNK,
    )
    links: dict[tuple[int, int], str] = {}
    for action in actions:
        forget_members(tar)  # TarFile keeps every header otherwise: O(entries) memory
        if isinstance(action, Whiteout):
            head, _, tail = action.path.rpartition("/")
            tar.addfile(_marker(f"{head}/.wh.{tail}" if head else f".wh.{tail}"))
            continue
        if isinstance(action, Opaque):
            tar.addfile(_marker(f"{action.path}/.wh..wh..opq" if action.path else ".wh..wh..opq"))
            continue
        info = entry_info(action, names, clamp)
        if action.kind == "file" and action.st.st_nlink > 1:
            key = (action.st.st_dev, action.st.st_ino)
            first = links.setdefault(key, action.path)
            if first != action.path:
                info.type, info.size, info.linkname = tarfile.LNKTYPE, 0, first
                tar.addfile(info)
                continue
        if action.kind == "file":
            _add_file(tar, action, info)
        else:
            tar.addfile(info)
    tar.close()


def compressing_reader(source: DigestingReader, algorithm: Algorithm, level: int | None, threads: int) -> IO[bytes]:
    """``source`` compressed; zstd runs its own worker threads (output independent of their number)."""
    if algorithm == "zstd":
        check_level(algorithm, level)
        compressor = zstandard.ZstdCompressor(level=3 if level is None else level, threads=max(threads, 1))
        reader: IO[bytes] = compressor.stream_reader(cast(IO[bytes], source), read_size=CHUNK)
        return reader
    if algorithm in ("gzip", "none"):
        return compressed(source, algorithm, level)  # type: ignore[arg-type]
    raise UnsupportedCompressionError(f"unsupported layer compression {algorithm!r}: expected gzip, zstd or none")


@dataclass(frozen=True, slots=True)
class LayerResult:
    """The stored blob's descriptor and the layer's diffID."""

    descriptor: Descriptor
    diff_id: Digest
    uncompressed_size: int


def stream_layer(
    actions: Sequence[Action],
    consume: Callable[[IO[bytes]], Descriptor],
    *,
    names: OwnerNames,
    clamp: int | None,
    compression: Algorithm,
    level: int | None = None,
    threads: int | None = None,
) -> LayerResult:
    """Tar ``actions``, compress, and hand the blob stream to ``consume``; digests in one pass."""
    pipe = BytePipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            write_layer_tar(actions, pipe.writer, names, clamp)  # type: ignore[arg-type]
        except PipeClosedError:
            pass  # the consumer gave up; it reports why
        except BaseException as exc:  # handed to the reader, which re-raises it
            failure.append(exc)
            with contextlib.suppress(PipeClosedError):
                pipe.writer.abort(exc)
            return
        with contextlib.suppress(PipeClosedError):
            pipe.writer.close()

    writer = threading.Thread(target=produce, name="lighter-layer-tar", daemon=True)
    writer.start()
    try:
        plain = DigestingReader(pipe.reader)
        blob = DigestingReader(compressing_reader(plain, compression, level, threads or os.cpu_count() or 1))
        descriptor = consume(blob)  # type: ignore[arg-type]
        while blob.read(CHUNK):  # a consumer that stopped early must not get a wrong digest past us
            pass
    finally:
        pipe.reader.close()
        writer.join()
    if failure:
        raise failure[0]
    if descriptor.digest != blob.digest() or descriptor.size != blob.size:
        what = f"new layer blob ({blob.size} bytes written, {descriptor.size} stored)"
        raise DigestMismatchError(what, str(blob.digest()), str(descriptor.digest))
    return LayerResult(descriptor, plain.digest(), plain.size)
