"""Reading an image or list from a registry.

The top-level manifest is fetched once and kept: a tag that moves while a
copy runs cannot mix two images.  Blobs stream with resume (body.py); the
blobs of every manifest read are recorded as living in this repository so
that a destination on the same registry can mount them (locations.py).
"""

from __future__ import annotations

import threading
from typing import IO, cast

from lighter.digest import Digest
from lighter.errors import LighterError, ManifestNotFoundError
from lighter.manifest import Descriptor, ImageManifest, manifest_digest, parse_manifest
from lighter.transports.base import ImageSource, TransportOptions
from lighter.transports.registry import locations
from lighter.transports.registry.reference import RegistryReference
from lighter.transports.registry.repository import Repository, open_repository


class RegistrySource(ImageSource):
    """Reads from one repository; thread-safe (parallel blobs share its connection pool)."""

    def __init__(self, ref: RegistryReference, options: TransportOptions) -> None:
        self._ref = ref
        self.repository: Repository = open_repository(ref, options)
        self._top: tuple[bytes, str] | None = None
        self._lock = threading.Lock()

    @property
    def reference(self) -> RegistryReference:
        return self._ref

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        with self._lock:
            top = self._top
        if instance is None:
            if top is None:
                top = self._fetch(self._ref.reference.manifest_ref, self._ref.reference.digest)
                with self._lock:
                    self._top = top
            return top
        if top is not None and manifest_digest(top[0]) == instance:
            return top
        return self._fetch(str(instance), instance)

    def _fetch(self, ref: str, expected: Digest | None) -> tuple[bytes, str]:
        raw, media_type = self.repository.get_manifest(ref, expected)
        self._remember_blobs(raw, media_type)
        return raw, media_type

    def _remember_blobs(self, raw: bytes, media_type: str) -> None:
        try:
            manifest = parse_manifest(raw, media_type)
        except LighterError:
            return  # the caller parses it again and reports the problem
        if isinstance(manifest, ImageManifest):
            digests = [manifest.config.digest, *(layer.digest for layer in manifest.layers)]
            locations.remember(self.repository.host, self.repository.name, digests)

    def head_manifest(self, reference: str | Digest | None = None) -> tuple[Digest, str] | None:
        """(digest, media type) of a tag or digest (default: this reference's) with one HEAD; None if absent."""
        ref = str(reference) if reference is not None else self._ref.reference.manifest_ref
        return self.repository.head_manifest(ref)

    def top_digest(self) -> Digest:
        with self._lock:
            top = self._top
        if top is not None:
            return manifest_digest(top[0])
        if self._ref.reference.digest is not None:
            return self._ref.reference.digest
        found = self.head_manifest()
        if found is None:
            ref = self._ref.reference
            raise ManifestNotFoundError(f"manifest unknown: {ref.path}:{ref.manifest_ref} on {ref.domain}")
        return found[0]

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        locations.remember(self.repository.host, self.repository.name, [descriptor.digest])
        return cast(IO[bytes], self.repository.get_blob(descriptor))

    def has_blob(self, descriptor: Descriptor) -> bool:
        """One HEAD, instead of opening the blob (a push's pre-flight asks this of every blob)."""
        return self.repository.has_blob(descriptor.digest)

    def repo_tags(self) -> list[str]:
        return self.repository.list_tags()

    def close(self) -> None:
        self.repository.client.close()
