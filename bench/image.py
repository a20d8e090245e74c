"""A large benchmark image, generated as a stream: never more than a few MiB in memory.

``lighter.testing.random`` builds layers in memory, which is right for tests
and wrong for a 1 GiB image.  Here each layer is a pull stream: a tar header
from ``tarfile``, then the file's bytes made chunk by chunk, then the tar
padding; the stream hashes itself (the diffID) as it is read, and
``lighter.compression.compressed`` gzips it on the way into an
``ImageDestination`` (an ``oci:`` layout), which computes the blob digest
while writing.

Random bytes come from AES-CTR (``cryptography``): deterministic for a seed
and several GB/s, where ``random.randbytes`` makes ~100 MB/s.  The
compressible layer is words drawn from a small vocabulary, which gzip
shrinks about 2.2x (real layers of text and binaries shrink 2-4x).
"""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lighter import mediatype as mt
from lighter.compression import compressed
from lighter.digest import Digest
from lighter.manifest import Descriptor, build_image_manifest
from lighter.platform import host_platform
from lighter.testing.random import make_config
from lighter.transports import parse_image_name

CHUNK = 1024 * 1024
MIB = 1024 * 1024
_MTIME = 1704067200


def random_chunks(seed: int, size: int) -> Iterator[bytes]:
    """``size`` incompressible bytes, 1 MiB at a time, the same for the same seed."""
    key = hashlib.sha256(f"lighter-bench-{seed}".encode()).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
    zeros = bytes(CHUNK)
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield encryptor.update(zeros if n == CHUNK else bytes(n))
        left -= n


def text_chunks(seed: int, size: int) -> Iterator[bytes]:
    """``size`` bytes of space-separated words from a 4096-word vocabulary (gzip: ~2.2x, zstd -3: ~2.8x)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 10))).encode() for _ in range(4096)]
    pick = random_chunks(seed + 1000, size)  # two random bytes per word pick
    left, pending = size, b""
    for raw in pick:
        indexes = memoryview(raw).cast("H")
        pending += b" ".join([vocabulary[i & 4095] for i in indexes])
        while len(pending) >= CHUNK and left > 0:
            n = min(CHUNK, left)
            yield pending[:n]
            pending = pending[n:]
            left -= n
        if left <= 0:
            return
    if left > 0:  # the words ran short of the size: pad with spaces
        yield (pending + b" " * left)[:left]


class TarStream(io.RawIOBase):
    """A one-file tar made as it is read; ``diff_id`` is its digest once read to the end."""

    def __init__(self, name: str, size: int, chunks: Iterator[bytes]) -> None:
        super().__init__()
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, _MTIME
        info.uname = info.gname = "root"
        padding = -size % tarfile.BLOCKSIZE
        # after the data: its padding, then two zero blocks, then padding to a whole record, as tarfile writes
        tail = padding + 2 * tarfile.BLOCKSIZE
        tail += -(len(info.tobuf(tarfile.PAX_FORMAT)) + size + tail) % tarfile.RECORDSIZE
        self._parts = iter([iter([info.tobuf(tarfile.PAX_FORMAT)]), chunks, iter([bytes(tail)])])
        self._current: Iterator[bytes] = iter(())
        self._hash = hashlib.sha256()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes:
        while True:
            piece = next(self._current, None)
            if piece is not None:
                return piece
            part = next(self._parts, None)
            if part is None:
                return b""
            self._current = part

    def read(self, n: int | None = -1) -> bytes:
        want = CHUNK if n is None or n < 0 else n
        while len(self._buffer) < want:
            piece = self._next()
            if not piece:
                break
            self._buffer += piece
        data, self._buffer = self._buffer[:want], self._buffer[want:]
        self._hash.update(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    @property
    def diff_id(self) -> Digest:
        return Digest("sha256", self._hash.hexdigest())


@dataclass(frozen=True)
class LayerSpec:
    name: str
    size: int
    chunks: Callable[[int, int], Iterator[bytes]]


def layer_specs(total_mb: int) -> list[LayerSpec]:
    """4 random layers (83 % of ``total_mb``) and 1 compressible one (~17 % once gzipped, 2.2x)."""
    total = total_mb * MIB
    shares = (0.24, 0.24, 0.19, 0.16)
    specs = [LayerSpec(f"random{i}", max(1, int(total * s)), random_chunks) for i, s in enumerate(shares)]
    specs.append(LayerSpec("text", max(1, int(total * 0.375)), text_chunks))
    return specs


def write_image(image_name: str, total_mb: int, seed: int = 0) -> Descriptor:
    """Generate the bench image into ``image_name`` (e.g. ``oci:/tmp/x:bench``); returns its manifest descriptor."""
    dest = parse_image_name(image_name).new_destination()
    try:
        layers, diff_ids = [], []
        for i, spec in enumerate(layer_specs(total_mb)):
            tar = TarStream(f"{spec.name}/data.bin", spec.size, spec.chunks(seed * 100 + i, spec.size))
            layers.append(dest.put_blob(compressed(tar, "gzip"), None, media_type=mt.OCI_LAYER_GZIP))
            diff_ids.append(tar.diff_id)
        config = make_config(host_platform(), diff_ids)
        config_desc = Descriptor(mt.OCI_CONFIG, config.digest, len(config.raw))
        dest.put_blob(io.BytesIO(config.raw), config_desc)
        manifest = build_image_manifest(config_desc, layers, oci=True)
        dest.put_manifest(manifest.raw, manifest.media_type)
        dest.commit()
    finally:
        dest.close()
    return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
