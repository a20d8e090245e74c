"""The store's content-addressed blob area, laid out like an OCI image layout.

Every blob (layer, config, manifest, list) lives at ``blobs/<algorithm>/<hex>``
under the store root.  Blobs are verified while they are written and renamed
into place only once their digest and size are right (DESIGN.md rules 2-3),
so a file under its digest's name always holds exactly those bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from typing import IO

from lighter.digest import HEX_LENGTHS, Digest, digest_bytes, parse_digest, verify_bytes
from lighter.errors import BlobNotFoundError, InvalidDigestError
from lighter.localfs import fsync_dir, write_stream

#: Temporary files are named so; anything else in a blob directory is a blob.
TMP_PREFIX = ".tmp-"


class BlobStore:
    """``put`` / ``open`` / ``remove`` blobs by digest under ``<root>/blobs``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "blobs")

    def path(self, digest: Digest) -> str:
        return os.path.join(self.root, digest.algorithm, digest.hex)

    def _dir(self, algorithm: str) -> str:
        directory = os.path.join(self.root, algorithm)
        os.makedirs(directory, exist_ok=True)
        return directory

    def has(self, digest: Digest) -> bool:
        return os.path.isfile(self.path(digest))

    def size(self, digest: Digest) -> int:
        """The size of a stored blob, -1 when absent."""
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            return -1

    def open(self, digest: Digest) -> IO[bytes]:
        """The blob's bytes as a stream (unverified: the caller verifies, see transports.base)."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} is not in the local store") from None

    def read(self, digest: Digest, what: str = "blob") -> bytes:
        """A small blob (manifest, config), read whole and verified."""
        with self.open(digest) as stream:
            data = stream.read()
        verify_bytes(data, digest, f"{what} {digest} in the local store")
        return data

    def put(
        self,
        stream: IO[bytes],
        expected: Digest | None = None,
        size: int = -1,
        what: str = "blob",
        sync_dir: bool = True,
    ) -> Digest:
        """Store ``stream``; verified against ``expected``/``size`` when given.  Returns the digest.

        ``sync_dir=False`` leaves the rename's durability to one later
        :meth:`sync` (a destination writing many blobs calls it before the
        catalogue names them).
        """
        algorithm = expected.algorithm if expected is not None else "sha256"
        if expected is not None and self.has(expected):
            return expected  # content-addressed: the same name holds the same bytes
        digest, _ = write_stream(
            stream,
            self._dir(algorithm),
            self.path,
            expected=expected,
            expected_size=size,
            what=what,
            algorithm=algorithm,
            sync_dir=sync_dir,
        )
        return digest

    def sync(self) -> None:
        """Make every blob renamed into place so far durable (one fsync per digest directory)."""
        for algorithm in sorted(HEX_LENGTHS):
            directory = os.path.join(self.root, algorithm)
            if os.path.isdir(directory):
                fsync_dir(directory)

    def put_bytes(self, data: bytes, expected: Digest | None = None, what: str = "blob") -> Digest:
        digest = expected or digest_bytes(data)
        if expected is not None:
            verify_bytes(data, expected, what, len(data))
        return self.put(io.BytesIO(data), digest, len(data), what)

    def remove(self, digest: Digest) -> int:
        """Delete a blob; returns the bytes freed (0 when it was not there)."""
        size = self.size(digest)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(digest))
        return max(size, 0)

    def digests(self) -> Iterator[Digest]:
        """Every blob stored (temporary files excluded)."""
        for algorithm in sorted(HEX_LENGTHS):
            directory = os.path.join(self.root, algorithm)
            if not os.path.isdir(directory):
                continue
            for name in sorted(os.listdir(directory)):
                if name.startswith(TMP_PREFIX):
                    continue
                try:
                    yield parse_digest(f"{algorithm}:{name}")
                except InvalidDigestError:
                    continue  # not ours: leave it alone

    def remove_stale_temporaries(self, older_than: float = 0.0) -> int:
        """Delete temporary files left by killed writers; returns how many."""
        removed = 0
        now = time.time()
        for algorithm in HEX_LENGTHS:
            directory = os.path.join(self.root, algorithm)
            if not os.path.isdir(directory):
                continue
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if name.startswith(TMP_PREFIX) and now - os.path.getmtime(path) >= older_than:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                        removed += 1
        return removed
