"""Streams between a producer thread and a consumer: a bounded byte pipe and a digesting reader.

A layer is produced by a tar writer writing into a file object, and consumed
by a destination reading from one.  Pipes join the stages (tar writer,
compressor, destination) with bounded queues of ~1 MiB chunks, so each runs
in its own thread, in constant memory.  Chunk boundaries depend only on the
sizes of the writes, never on timing, so what flows through is reproducible.
"""

from __future__ import annotations

import queue
import threading
from typing import IO, Final

from lighter.digest import Digest, Digester

CHUNK: Final = 1024 * 1024
_EOF: Final = b""
#: How long a blocked put waits before checking whether the reader went away.
_POLL_SECONDS: Final = 0.2


class PipeClosedError(Exception):
    """The reading side of a pipe was closed while the writer still wrote."""


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BytePipe:
    """A one-way pipe of bytes: ``writer`` for the producing thread, ``reader`` for the consumer.

    With ``digester``, every chunk is hashed as it leaves the writer, in the
    writing thread (``hashlib`` releases the GIL for chunks this large), so
    that the reading thread is spared the work.
    """

    def __init__(self, depth: int = 8, *, digester: Digester | None = None) -> None:
        self._queue: queue.Queue[bytes | _Failure] = queue.Queue(depth)
        self._reader_gone = threading.Event()
        self.writer = PipeWriter(self, digester)
        self.reader = PipeReader(self)

    def _put(self, item: bytes | _Failure) -> None:
        while True:
            if self._reader_gone.is_set():
                raise PipeClosedError("the reading side of the pipe was closed")
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _get(self) -> bytes | _Failure:
        return self._queue.get()

    def _reader_closed(self) -> None:
        self._reader_gone.set()
        while True:  # unblock a writer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


class PipeWriter:
    """The writing end; coalesces small writes (tar headers) into ~1 MiB chunks.

    Pieces are kept as they come and joined once per chunk: one copy of each
    byte, where growing a ``bytearray`` and copying it out made two or more.
    """

    def __init__(self, pipe: BytePipe, digester: Digester | None = None) -> None:
        self._pipe = pipe
        self._digester = digester
        self._pieces: list[bytes] = []
        self._pending = 0
        self._position = 0
        self._closed = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = len(data)
        if not size:
            return 0
        self._position += size
        if size >= CHUNK and not self._pieces:
            self._send(bytes(data))
            return size
        self._pieces.append(bytes(data))  # no copy for bytes; a caller's buffer may be reused
        self._pending += size
        if self._pending >= CHUNK:
            self._flush()
        return size

    def flush(self) -> None:
        """Chunks leave only when full or on close, so that boundaries stay deterministic."""

    def _flush(self) -> None:
        if self._pieces:
            chunk = b"".join(self._pieces)
            self._pieces.clear()
            self._pending = 0
            self._send(chunk)

    def _send(self, chunk: bytes) -> None:
        if self._digester is not None:
            self._digester.update(chunk)
        self._pipe._put(chunk)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._flush()
            self._pipe._put(_EOF)

    def abort(self, error: BaseException) -> None:
        """End the stream with an error the reader re-raises."""
        if not self._closed:
            self._closed = True
            self._pieces.clear()
            self._pipe._put(_Failure(error))


class PipeReader:
    """The reading end: ``read(n)`` returns at most ``n`` bytes of the current chunk."""

    def __init__(self, pipe: BytePipe) -> None:
        self._pipe = pipe
        self._chunk = b""
        self._offset = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while part := self.read(CHUNK):
                parts.append(part)
            return b"".join(parts)
        if self._offset >= len(self._chunk):
            if self._eof:
                return b""
            item = self._pipe._get()
            if isinstance(item, _Failure):
                self._eof = True
                raise item.error
            if not item:
                self._eof = True
                return b""
            self._chunk, self._offset = item, 0
        start = self._offset
        if start == 0 and n >= len(self._chunk):
            self._offset = len(self._chunk)
            return self._chunk
        self._offset = min(len(self._chunk), start + n)
        return self._chunk[start : self._offset]

    def close(self) -> None:
        self._eof = True
        self._pipe._reader_closed()


class DigestingReader:
    """Hands bytes on while hashing and counting them; ``digest`` is valid once ``eof`` is True."""

    def __init__(self, raw: IO[bytes] | PipeReader, algorithm: str = "sha256") -> None:
        self._raw = raw
        self._digester = Digester(algorithm)
        self.eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._digester.update(data)
        elif n != 0:
            self.eof = True
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    @property
    def size(self) -> int:
        return self._digester.size

    def digest(self) -> Digest:
        return self._digester.digest()

    def close(self) -> None:
        self._raw.close()
