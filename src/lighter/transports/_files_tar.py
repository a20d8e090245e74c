"""Tar archives for ``oci-archive:`` and ``docker-archive:``: read members in place, write atomically.

Reading scans the headers once (``TarIndex``) and then serves any member
with ``os.pread`` on one shared descriptor, so an archive of many GiB is
never unpacked and several blobs can stream from it on parallel threads.
An archive that is itself gzip- or zstd-compressed (``docker save | gzip``)
is first decompressed into an anonymous temporary file, as containers/image
does, because compressed streams cannot be read at random offsets.

Writing builds the whole archive in a temporary file in the target's own
directory, fsyncs it and renames it over the target (DESIGN.md rule 3);
a symlink, FIFO or character device (``/dev/stdout``) is written straight
through instead, since renaming over it would replace the link.
Headers are reproducible: owner 0:0, mtime 0, fixed modes.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Literal

from lighter.compression import decompressed, detect, refuse
from lighter.errors import LayoutError
from lighter.localfs import CHUNK, fsync_dir

_MAX_LINK_HOPS = 40


def normalize(name: str) -> str:
    """A member name as a clean relative path (``./a//b`` → ``a/b``)."""
    return posixpath.normpath(name.lstrip("/")) if name.strip("/.") else "."


class _PreadReader(io.RawIOBase):
    """``size`` bytes at ``offset`` of a shared descriptor; independent of any other reader."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd = fd
        self._pos = offset
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = os.pread(self._fd, want, self._pos)
        if not data:
            raise LayoutError("tar archive ended inside a member: it was truncated or changed while read")
        self._pos += len(data)
        self._left -= len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class TarIndex:
    """The members of a tar archive, readable in place (a ``FileTree``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._members: dict[str, tarfile.TarInfo] = {}
        self._file: IO[bytes] | None = open(path, "rb")  # noqa: SIM115 - lives as long as the index
        try:
            kind = detect(os.pread(self._file.fileno(), 6, 0))
            refuse(kind, f"archive {path}")
            if kind != "none":
                self._file = self._decompress(self._file)
            self._scan(self._file)
        except BaseException:
            self.close()
            raise

    def _decompress(self, raw: IO[bytes]) -> IO[bytes]:
        plain = tempfile.TemporaryFile(prefix="lighter-archive-")  # noqa: SIM115 - replaces raw
        try:
            stream = decompressed(raw, f"archive {self.path}")
            while chunk := stream.read(CHUNK):
                plain.write(chunk)
            plain.flush()
        except BaseException:
            plain.close()
            raise
        raw.close()
        return plain

    def _scan(self, file: IO[bytes]) -> None:
        file.seek(0)
        try:
            with tarfile.open(fileobj=file, mode="r:") as tar:
                for info in tar:
                    self._members[normalize(info.name)] = info
        except tarfile.TarError as exc:
            raise LayoutError(f"{self.path} is not a readable tar archive: {exc}") from None

    @property
    def _fd(self) -> int:
        if self._file is None:
            raise LayoutError(f"archive {self.path} was already closed")
        return self._file.fileno()

    def describe(self) -> str:
        return self.path

    def names(self) -> list[str]:
        return list(self._members)

    def _resolve(self, rel: str) -> tarfile.TarInfo | None:
        name = normalize(rel)
        for _ in range(_MAX_LINK_HOPS):
            info = self._members.get(name)
            if info is None:
                return None
            if info.issym():
                name = normalize(posixpath.join(posixpath.dirname(name), info.linkname))
            elif info.islnk():
                name = normalize(info.linkname)
            else:
                return info
        raise LayoutError(f"{self.path}: too many levels of links resolving {rel!r}")

    def size(self, rel: str) -> int | None:
        info = self._resolve(rel)
        return info.size if info is not None and info.isreg() else None

    def open(self, rel: str) -> IO[bytes]:
        info = self._resolve(rel)
        if info is None or not info.isreg():
            raise FileNotFoundError(f"{self.path}:{rel}")
        return _PreadReader(self._fd, info.offset_data, info.size)  # type: ignore[return-value]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One member to write: a file (from a path or bytes), a directory or a symlink."""

    name: str
    kind: Literal["file", "dir", "symlink"] = "file"
    path: str | None = None
    data: bytes | None = None
    linkname: str = ""
    mode: int = 0o644


def _header(entry: TarEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    info.mode = entry.mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.linkname
    elif entry.path is not None:
        info.size = os.path.getsize(entry.path)
    else:
        info.size = len(entry.data or b"")
    return info


def write_tar(out: IO[bytes], entries: Iterable[TarEntry]) -> None:
    """Stream ``entries`` as a tar archive into ``out`` (which need not be seekable: a pipe will do)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
        for entry in entries:
            info = _header(entry)
            if entry.kind != "file":
                tar.addfile(info)
            elif entry.path is not None:
                with open(entry.path, "rb") as source:
                    tar.addfile(info, source)
            else:
                tar.addfile(info, io.BytesIO(entry.data or b""))


def _is_stream(path: str) -> bool:
    """True for a symlink (``/dev/stdout``), FIFO or device: written straight through, never renamed over.

    Renaming over a symlink would replace the link itself, not what it points at.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(mode)


def staging_dir(path: str, prefix: str) -> str:
    """A private directory for what becomes the archive ``path``: beside it, or in the temp dir for a pipe."""
    parent = os.path.dirname(os.path.abspath(path))
    return tempfile.mkdtemp(dir=None if _is_stream(path) else parent, prefix=prefix)


def write_tar_atomic(path: str, entries: Iterable[TarEntry]) -> None:
    """Write the archive to ``path``: temp file beside it, fsync, rename (or straight into a pipe)."""
    if _is_stream(path):
        with open(path, "wb") as pipe:
            write_tar(pipe, entries)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-archive-")
    try:
        with os.fdopen(fd, "wb", buffering=CHUNK) as out:
            write_tar(out, entries)
            out.flush()
            os.fchmod(out.fileno(), 0o644)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
