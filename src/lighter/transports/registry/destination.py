"""Writing an image or list to a registry.

A registry has no staging area: a blob is visible once uploaded (it is
verified before, see upload.py) and a manifest once PUT, so ``commit`` has
nothing left to do.  The copy engine writes blobs first, then instance
manifests by digest, then the top manifest under the tag; a failure
before that last PUT leaves the tag as it was.
"""

from __future__ import annotations

import logging
import threading
from typing import IO

from lighter.digest import Digest, digest_bytes
from lighter.errors import DigestMismatchError
from lighter.manifest import Descriptor, manifest_digest
from lighter.transports.base import Capabilities, ImageDestination, TransportOptions
from lighter.transports.registry import locations, upload
from lighter.transports.registry.reference import RegistryReference
from lighter.transports.registry.repository import Repository, manifest_matches, open_repository
from lighter.transports.registry.upload import SMALL_BLOB, try_mount, upload_bytes, upload_stream

log = logging.getLogger(__name__)


class RegistryDestination(ImageDestination):
    """Pushes blobs and manifests to one repository."""

    def __init__(self, ref: RegistryReference, options: TransportOptions) -> None:
        self._ref = ref
        self._options = options
        self.repository: Repository = open_repository(ref, options)
        self._present: set[Digest] = set()
        self._lock = threading.Lock()
        #: blobs mounted from another repository instead of uploaded (for tests and logs)
        self.mounted: list[Digest] = []
        #: bytes per PATCH of a large blob (read when the destination is made, so tests can lower it)
        self.chunk_size: int = upload.CHUNK_SIZE

    @property
    def reference(self) -> RegistryReference:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    @property
    def _scopes(self) -> list[str]:
        return [self.repository.scope("pull,push")]

    def _mark(self, digest: Digest) -> None:
        with self._lock:
            self._present.add(digest)
        locations.remember(self.repository.host, self.repository.name, [digest])

    def has_blob(self, descriptor: Descriptor) -> bool:
        with self._lock:
            if descriptor.digest in self._present:
                return True
        # the push scope, so that one token serves the whole push
        found = self.repository.has_blob(descriptor.digest, scopes=tuple(self._scopes))
        if found:
            self._mark(descriptor.digest)
        return found

    def has_manifest(self, digest: Digest) -> bool:
        """One HEAD of the manifest by digest (the copy engine asks it for a sparse list's instances)."""
        return self.repository.head_manifest(str(digest)) is not None

    def try_reuse_blob(self, descriptor: Descriptor) -> Descriptor | None:
        if self.has_blob(descriptor):
            return descriptor
        host, name = self.repository.host, self.repository.name
        for source in locations.candidates(host, descriptor.digest, exclude=name):
            if try_mount(self.repository, descriptor.digest, source):
                self._mark(descriptor.digest)
                with self._lock:
                    self.mounted.append(descriptor.digest)
                return descriptor
            locations.forget(host, source, descriptor.digest)
        return None

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        if descriptor is not None and 0 <= descriptor.size <= SMALL_BLOB:
            data = stream.read(descriptor.size + 1)
            while len(data) <= descriptor.size and (more := stream.read(descriptor.size + 1 - len(data))):
                data += more
            upload_bytes(self.repository, data, descriptor.digest, descriptor.size, self._scopes)
            self._mark(descriptor.digest)
            return descriptor
        digest, size = self._upload_stream(stream, descriptor)
        self._mark(digest)
        if descriptor is not None:
            return descriptor
        return Descriptor(media_type, digest, size)

    def _upload_stream(self, stream: IO[bytes], descriptor: Descriptor | None) -> tuple[Digest, int]:
        """Chunked when the size is known, resumed after a failure when the stream can be re-read (upload.py)."""
        expected = descriptor.digest if descriptor is not None else None
        size = descriptor.size if descriptor is not None else -1
        return upload_stream(self.repository, stream, expected, size, self._scopes, self.chunk_size)

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        pinned = self._ref.reference.digest
        if instance is not None:
            expected: Digest | None = instance
            target = str(instance)
        elif pinned is not None:
            expected, target = pinned, str(pinned)
        else:
            expected, target = None, self._ref.reference.manifest_ref
        if expected is not None and not manifest_matches(raw, expected):
            raise DigestMismatchError(
                f"manifest written as {self.repository.name}@{expected}",
                str(expected),
                str(digest_bytes(raw, expected.algorithm)),
            )
        digest = self.repository.put_manifest(target, raw, media_type)
        log.debug("pushed manifest %s to %s:%s", digest, self.repository.name, target)

    def commit(self) -> None:
        """Nothing to do: what a registry holds is visible once PUT."""

    def close(self) -> None:
        self.repository.client.close()


__all__ = ["RegistryDestination", "manifest_digest"]
