"""Reading the instances of a stored list: from the store when their bytes are there, else from where they were added.

This is libimage's "supplemented" reference in small: the list lives in the
store, each instance's manifest was saved there when it was added, and its
blobs are read from the store if they were copied in, otherwise from the
image name recorded as the instance's location.
"""

from __future__ import annotations

from typing import IO

from lighter.digest import Digest
from lighter.errors import BlobNotFoundError, InstanceUnavailableError, LighterError
from lighter.lists.records import ManifestList
from lighter.manifest import (
    Descriptor,
    ImageManifest,
    Schema1Manifest,
    guess_media_type,
    manifest_digest,
    parse_manifest,
)
from lighter.store import Store, walk
from lighter.transports import ImageDestination, ImageReference, ImageSource, TransportOptions, parse_image_name


def fetch_manifest(source: ImageSource, digest: Digest) -> tuple[bytes, str]:
    """The manifest ``digest`` from a source whose top is that image or a list holding it."""
    try:
        top = source.top_digest()
    except LighterError:
        top = None
    raw, media_type = source.manifest() if top == digest else source.manifest(digest)
    actual = manifest_digest(raw)
    if actual != digest:
        raise InstanceUnavailableError(f"{source.reference} served {actual} where {digest} was asked for")
    return raw, media_type or guess_media_type(raw)


def _blobs_of(raw: bytes, media_type: str) -> tuple[Descriptor, ...]:
    """The config and layers an image manifest names (nothing for a nested list)."""
    manifest = parse_manifest(raw, media_type)
    if isinstance(manifest, ImageManifest):
        return (manifest.config, *manifest.layers)
    if isinstance(manifest, Schema1Manifest):
        return manifest.layers
    return ()


class InstanceSource(ImageSource):
    """One instance of a stored list, as an ImageSource whose top is that instance."""

    def __init__(
        self, store: Store, lst: ManifestList, desc: Descriptor, options: TransportOptions | None = None
    ) -> None:
        self.store = store
        self.list = lst
        self.desc = desc
        self.location = lst.locations.get(desc.digest, "")
        self._options = options
        self._source: ImageSource | None = None
        self._ref: ImageReference = parse_image_name(self.location or f"store:[{store.root}]@{lst.id}")
        self._raw, self._type = self._manifest(desc.digest)

    # -- where things are -------------------------------------------------------------

    def _unavailable(self, exc: BaseException | str) -> InstanceUnavailableError:
        where = f"its recorded location {self.location}" if self.location else "the local store (no location recorded)"
        return InstanceUnavailableError(
            f"instance {self.desc.digest} of manifest list {self.list.name} cannot be read from {where}: {exc}"
        )

    def _location_source(self) -> ImageSource:
        if self._source is None:
            if not self.location:
                raise self._unavailable("its blobs are not in the store")
            try:
                self._source = self._ref.new_source(self._options)
            except (LighterError, OSError) as exc:
                raise self._unavailable(exc) from None
        return self._source

    def _manifest(self, digest: Digest) -> tuple[bytes, str]:
        if self.store.blobs.has(digest):
            raw = self.store.blobs.read(digest, "manifest")
            return raw, guess_media_type(raw)
        try:
            return fetch_manifest(self._location_source(), digest)
        except InstanceUnavailableError:
            raise
        except (LighterError, OSError) as exc:
            raise self._unavailable(exc) from None

    def check(self) -> None:
        """Fail now, naming the instance and its location, if a push could not read everything it needs."""
        if not walk(self.store.blobs, self.desc.digest, self.desc.media_type).missing:
            return  # every blob is in the store
        try:
            fetch_manifest(self._location_source(), self.desc.digest)
        except InstanceUnavailableError:
            raise
        except (LighterError, OSError) as exc:
            raise self._unavailable(exc) from None

    def check_blobs(self, dest: ImageDestination, rewrites: bool) -> None:
        """Fail now, naming the instance, the blob and the location, if a blob the push needs cannot be read.

        Needed are the blobs neither the store nor (unless the push rewrites
        layers or configs, which reads them all) the destination holds.  Only
        presence is asked (``has_blob``: a HEAD on a registry), nothing is read.
        """
        if not walk(self.store.blobs, self.desc.digest, self.desc.media_type).missing:
            return  # every blob is in the store
        for blob in _blobs_of(self._raw, self._type):
            if self.store.blobs.has(blob.digest) or (not rewrites and dest.has_blob(blob)):
                continue
            try:
                present = self._location_source().has_blob(blob)
            except InstanceUnavailableError:
                raise
            except (LighterError, OSError) as exc:
                raise self._unavailable(exc) from None
            if not present:
                raise self._unavailable(f"its blob {blob.digest} is not there")

    # -- ImageSource -----------------------------------------------------------------------

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is None or instance == self.desc.digest:
            return self._raw, self._type
        return self._manifest(instance)

    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        if self.store.blobs.has(descriptor.digest):
            return self.store.blobs.open(descriptor.digest)
        try:
            return self._location_source().blob(descriptor)
        except BlobNotFoundError as exc:
            raise self._unavailable(exc) from None

    def has_blob(self, descriptor: Descriptor) -> bool:
        if self.store.blobs.has(descriptor.digest):
            return True
        return bool(self.location) and self._location_source().has_blob(descriptor)

    def top_digest(self) -> Digest:
        return self.desc.digest

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
