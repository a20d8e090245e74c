"""The copy engine's progress counting: a resumed upload seeks its source, and no byte is counted twice."""

from __future__ import annotations

import io

from lighter.copy.execute import _CountingReader
from lighter.digest import Digest, digest_bytes

DATA = bytes(range(256)) * 40


class _Recorder:
    def __init__(self) -> None:
        self.advanced: list[tuple[Digest, int]] = []

    def blob_started(self, digest: Digest, size: int, what: str) -> None: ...

    def blob_advanced(self, digest: Digest, nbytes: int) -> None:
        self.advanced.append((digest, nbytes))

    def blob_finished(self, digest: Digest, skipped: bool) -> None: ...

    def message(self, text: str) -> None: ...


def test_seeking_back_rereads_without_counting_twice() -> None:
    digest = digest_bytes(DATA)
    raw = io.BytesIO(b"prefix" + DATA)
    raw.seek(6)  # a source that does not start at 0, as a resumed registry read
    progress = _Recorder()
    reader = _CountingReader(raw, digest, progress)
    assert reader.seekable()
    assert reader.read(1000) == DATA[:1000]
    base = 6
    assert reader.seek(base + 300) == base + 300
    assert reader.tell() == base + 300
    assert reader.read(2000) == DATA[300:2300]
    assert reader.read() == DATA[2300:]
    assert sum(n for _, n in progress.advanced) == len(DATA)
    assert {d for d, _ in progress.advanced} == {digest}
