"""Copying base layers to the destination during the one read that indexes them.

``commit --from`` must read every base layer to know the base's file system
(``baseindex``), and must then give the destination the layers it lacks.
Downloading each twice (once to index, once to copy) doubles the traffic
of a registry base, so ``CopyingSource`` wraps the base's ``ImageSource``:
while the indexer reads a wanted blob, every byte it gets is also handed,
through a bounded ``BytePipe``, to ``destination.put_blob`` running in a
thread of its own.  The destination verifies the blob against the base's
descriptor as it does for any blob; a read abandoned before the end (a
refused layer) aborts the copy, which then never becomes visible.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Mapping
from typing import IO, Any

from lighter.build.pipe import BytePipe, PipeClosedError
from lighter.digest import Digest
from lighter.errors import LayerError
from lighter.manifest import Descriptor
from lighter.transports import ImageDestination, ImageReference, ImageSource


class _CopyingStream(io.RawIOBase):
    """The blob for its reader, and the same bytes for ``destination.put_blob`` in a thread."""

    def __init__(self, raw: IO[bytes], destination: ImageDestination, descriptor: Descriptor) -> None:
        super().__init__()
        self._raw = raw
        self._pipe = BytePipe()
        self._failure: list[BaseException] = []
        self._done = False
        self._thread = threading.Thread(
            target=self._store, args=(destination, descriptor), name="lighter-base-layer-copy", daemon=True
        )
        self._thread.start()

    def _store(self, destination: ImageDestination, descriptor: Descriptor) -> None:
        try:
            destination.put_blob(self._pipe.reader, descriptor)  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the reading thread
            self._failure.append(exc)
        finally:
            self._pipe.reader.close()  # a writer still writing gets PipeClosedError, not a hang

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if self._done:
            return data
        if data:
            try:
                self._pipe.writer.write(data)
            except PipeClosedError:
                self._finish()  # the destination stopped reading: its error, if any, is the one to raise
        elif n != 0:
            self._finish()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        self._done = True
        with contextlib.suppress(PipeClosedError):
            self._pipe.writer.close()
        self._thread.join()
        if self._failure:
            raise self._failure[0]

    def close(self) -> None:
        if not self._done:  # read stopped before the end: the copy must not complete
            self._done = True
            with contextlib.suppress(PipeClosedError):
                self._pipe.writer.abort(LayerError("the base layer's read stopped before its end"))
            self._thread.join()
        self._raw.close()
        super().close()


class CopyingSource(ImageSource):
    """``source``, whose blobs named in ``wanted`` are also copied to ``destination`` as they are read."""

    def __init__(self, source: ImageSource, destination: ImageDestination, wanted: Mapping[Digest, Descriptor]) -> None:
        self._source = source
        self._destination = destination
        self._wanted = dict(wanted)

    @property
    def reference(self) -> ImageReference:
        return self._source.reference

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        return self._source.manifest(instance)

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        stream = self._source.blob(descriptor)
        wanted = self._wanted.pop(descriptor.digest, None)  # a layer listed twice is copied once
        if wanted is None:
            return stream
        return _CopyingStream(stream, self._destination, wanted)  # type: ignore[return-value]
