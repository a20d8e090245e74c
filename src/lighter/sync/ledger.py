"""Blobs known to be at a destination during one sync run, so a shared blob moves once.

The copy engine already moves a blob once within one image or list.
Across the images of a sync, tags of one repository usually share base
layers: without help each image would ask the destination about each of
them again (a HEAD per blob per image) and, when images run in parallel,
two of them could upload the same blob at the same moment.

``BlobLedger`` remembers, per destination *scope* (a registry repository,
or one directory), which blobs are there.  ``LedgerDestination`` wraps one
destination for one image: its ``try_reuse_blob`` answers from the ledger
without a request when it can; otherwise it *claims* the blob, so that
another image asking for the same blob in the same scope waits for this
one's upload instead of starting its own, and then reuses it.  A claim is
released when the blob is stored, when asking or storing fails, and at
the latest when the wrapped destination is closed — so a failed image never
leaves others waiting.

Waiting cannot deadlock: a claim is held only by a thread that is about to
read the blob from the source and store it (the copy engine calls
``put_blob`` right after ``try_reuse_blob`` says no), and storing never
waits on another claim.
"""

from __future__ import annotations

import threading
from typing import IO

from lighter.digest import Digest
from lighter.manifest import Descriptor
from lighter.transports import Capabilities, ImageDestination, ImageReference

_Key = tuple[str, Digest]


class BlobLedger:
    """Thread-safe record of blobs present (or being stored) at destination scopes."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._present: set[_Key] = set()
        self._claims: dict[_Key, object] = {}

    def knows(self, scope: str, digest: Digest) -> bool:
        with self._cond:
            return (scope, digest) in self._present

    def acquire(self, scope: str, digest: Digest, owner: object) -> bool:
        """True when the blob is known present; else ``owner`` now holds the claim to store it."""
        key = (scope, digest)
        with self._cond:
            while True:
                if key in self._present:
                    return True
                holder = self._claims.get(key)
                if holder is None or holder is owner:
                    self._claims[key] = owner
                    return False
                self._cond.wait()

    def release(self, scope: str, digest: Digest, owner: object, present: bool) -> None:
        """Drop ``owner``'s claim (if it holds one), recording whether the blob is now there."""
        key = (scope, digest)
        with self._cond:
            if present:
                self._present.add(key)
            if self._claims.get(key) is owner:
                del self._claims[key]
            self._cond.notify_all()

    def release_all(self, owner: object) -> None:
        """Drop every claim ``owner`` still holds (its image failed or is done)."""
        with self._cond:
            for key in [k for k, holder in self._claims.items() if holder is owner]:
                del self._claims[key]
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._present)


def scope_of(reference: ImageReference) -> str:
    """Where blobs are shared at a destination: a registry repository, else the image itself (a directory)."""
    docker = reference.docker_reference if reference.transport == "docker" else None
    return f"docker://{docker.name}" if docker is not None else str(reference)


class LedgerDestination(ImageDestination):
    """One image's destination, consulting and feeding the run's ledger; every other call goes through.

    Every public method of ImageDestination is forwarded explicitly (a test
    checks it), so a hook added to the interface is never silently answered
    by the base class's default instead of the wrapped destination.
    """

    def __init__(self, inner: ImageDestination, ledger: BlobLedger) -> None:
        self._inner = inner
        self._ledger = ledger
        self._scope = scope_of(inner.reference)

    @property
    def reference(self) -> ImageReference:
        return self._inner.reference

    @property
    def capabilities(self) -> Capabilities:
        return self._inner.capabilities

    def has_blob(self, descriptor: Descriptor) -> bool:
        if self._ledger.knows(self._scope, descriptor.digest):
            return True
        present = self._inner.has_blob(descriptor)
        if present:
            self._ledger.release(self._scope, descriptor.digest, self, present=True)
        return present

    def try_reuse_blob(self, descriptor: Descriptor) -> Descriptor | None:
        if self._ledger.acquire(self._scope, descriptor.digest, self):
            return descriptor
        try:
            reused = self._inner.try_reuse_blob(descriptor)
        except BaseException:
            self._ledger.release(self._scope, descriptor.digest, self, present=False)
            raise
        if reused is not None:
            self._ledger.release(self._scope, descriptor.digest, self, present=True)
        # else: keep the claim; the copy engine now stores the blob with put_blob
        return reused

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        try:
            stored = self._inner.put_blob(stream, descriptor, media_type)
        except BaseException:
            if descriptor is not None:
                self._ledger.release(self._scope, descriptor.digest, self, present=False)
            raise
        if descriptor is not None and descriptor.digest != stored.digest:
            self._ledger.release(self._scope, descriptor.digest, self, present=False)
        self._ledger.release(self._scope, stored.digest, self, present=True)
        return stored

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        self._inner.put_manifest(raw, media_type, instance)

    def has_manifest(self, digest: Digest) -> bool:
        return self._inner.has_manifest(digest)

    def note_toplevel_list(self, raw: bytes, media_type: str) -> None:
        self._inner.note_toplevel_list(raw, media_type)

    def commit(self) -> None:
        self._inner.commit()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._ledger.release_all(self)
