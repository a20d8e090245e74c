"""Atomic local writes (DESIGN.md rule 3) shared by every on-disk transport and the store.

Write to a temporary file in the destination's own directory, fsync, then
rename: an interrupted write leaves the old file (or nothing), never half a
file.  Blobs are hashed while they are written and only renamed into place
when their digest and size are the ones expected.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from lighter.digest import Digest, Digester
from lighter.errors import DigestMismatchError, SizeMismatchError

CHUNK = 1024 * 1024
#: A durable write asks the kernel to start writing back every this many bytes (see ``_Writeback``).
WRITEBACK_STEP = 8 * 1024 * 1024


def fsync_dir(path: str) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def write_stream(
    stream: IO[bytes],
    directory: str,
    final_path: Callable[[Digest], str],
    expected: Digest | None = None,
    expected_size: int = -1,
    what: str = "blob",
    algorithm: str = "sha256",
    durable: bool = True,
    sync_dir: bool = True,
) -> tuple[Digest, int]:
    """Copy ``stream`` into a file renamed to ``final_path(digest)`` once verified.

    Returns the digest and size.  On any failure the temporary file is removed
    and nothing becomes visible.  A durable write also fsyncs the directory
    after the rename, as ``atomic_write`` does, unless ``sync_dir`` is False:
    a destination writing many blobs then calls ``fsync_dir`` once per
    directory before it commits what names them (an fsync per blob is
    measurable on a many-layer copy).
    """
    digester = Digester(expected.algorithm if expected is not None else algorithm)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-blob-")
    try:
        with os.fdopen(fd, "wb") as out:
            writeback = _Writeback(fd) if durable else None
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                digester.update(chunk)
                if expected_size >= 0 and digester.size > expected_size:
                    raise SizeMismatchError(f"{what} {expected}", expected_size, digester.size)
                out.write(chunk)
                if writeback is not None:
                    writeback.written(digester.size)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        digest = digester.digest()
        if expected_size >= 0 and digester.size != expected_size:
            raise SizeMismatchError(f"{what} {expected}", expected_size, digester.size)
        if expected is not None and digest != expected:
            raise DigestMismatchError(f"{what} {expected}", str(expected), str(digest))
        os.chmod(tmp, 0o644)
        target = final_path(digest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable and sync_dir:
        fsync_dir(os.path.dirname(target))
    return digest, digester.size


class _Writeback:
    """Starts the disk on a file's bytes while more are still arriving.

    Linux leaves a fresh file's pages dirty until the final ``fsync`` (or until
    GiBs are dirty), so a download would otherwise be followed by a flush of
    the whole file.  ``POSIX_FADV_DONTNEED`` on a just-written range starts
    asynchronous writeback of it (dirty pages cannot be dropped, so nothing
    leaves the page cache); the ``fsync`` then waits only for the tail.  On a
    registry pull this takes ~30 % off the flush; correctness still rests on
    the ``fsync``.
    """

    __slots__ = ("_fd", "_started")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._started = 0

    def written(self, position: int) -> None:
        if position - self._started < WRITEBACK_STEP or not hasattr(os, "posix_fadvise"):
            return
        with contextlib.suppress(OSError):  # advice only: the fsync is what makes the bytes durable
            os.posix_fadvise(self._fd, self._started, position - self._started, os.POSIX_FADV_DONTNEED)
        self._started = position


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``path`` (created if missing), held for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
