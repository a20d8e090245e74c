"""How the copy engine reports progress; the CLI draws it (rich), the library stays silent."""

from __future__ import annotations

from typing import Protocol

from lighter.digest import Digest


class Progress(Protocol):
    """Called from worker threads: implementations must be thread-safe."""

    def blob_started(self, digest: Digest, size: int, what: str) -> None: ...

    def blob_advanced(self, digest: Digest, nbytes: int) -> None: ...

    def blob_finished(self, digest: Digest, skipped: bool) -> None: ...

    def message(self, text: str) -> None: ...
