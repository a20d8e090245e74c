"""The two small interfaces every place an image can live implements.

Operations (copy, lists, cache, ...) talk to transports only through
``ImageReference`` → ``ImageSource`` / ``ImageDestination``.  References
are immutable and do no I/O; sources and destinations do all of it.

Verification contract (DESIGN.md rule 2):

* ``ImageSource.manifest(instance)`` returns bytes whose digest equals
  ``instance`` when one is given (the source checks).
* ``ImageSource.blob(descriptor)`` returns the raw stream; it is *not*
  verified there.  Whoever makes the bytes visible verifies them:
  ``ImageDestination.put_blob`` hashes what it writes and refuses to commit
  bytes whose digest or size differs from the descriptor; readers that do
  not write (inspect, unpack) wrap the stream in ``VerifyingReader``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Literal

from lighter.digest import Digest, verify_bytes
from lighter.errors import NotFoundError, UnsupportedError
from lighter.manifest import Descriptor, manifest_digest
from lighter.reference import Reference


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What a transport may need beyond the image name (skopeo's global/per-side flags).

    ``creds`` is ``USER[:PASSWORD]``; it is never logged nor put in an error.
    """

    creds: str | None = field(default=None, repr=False)
    registry_token: str | None = field(default=None, repr=False)
    authfile: str | None = None
    tls_verify: bool | None = None
    cert_dir: str | None = None
    retry_times: int = 3
    retry_delay: float | None = None
    store_root: str | None = None
    user_agent: str = "lighter"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a destination accepts, as one value (containers/image's properties)."""

    #: Manifest media types it can store; empty means "any".
    manifest_types: tuple[str, ...] = ()
    #: Whether it can store a manifest list at all.
    accepts_lists: bool = True
    #: Compression it wants layers in: "keep" as they are, or "decompress" (docker-archive).
    layer_compression: Literal["keep", "decompress"] = "keep"
    #: Whether zstd layers can be stored.
    supports_zstd: bool = True


class ImageSource(abc.ABC):
    """Reads one image or list from one place."""

    @property
    @abc.abstractmethod
    def reference(self) -> ImageReference: ...

    @abc.abstractmethod
    def manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        """The top-level manifest (``instance=None``) or an instance of it, as (bytes, media type)."""

    @abc.abstractmethod
    def blob(self, descriptor: Descriptor) -> IO[bytes]:
        """A stream of the blob's bytes; the caller closes it (and verifies, see module doc)."""

    def blob_bytes(self, descriptor: Descriptor, what: str = "blob") -> bytes:
        """A small blob (a config) read whole and verified."""
        with self.blob(descriptor) as stream:
            data = stream.read()
        verify_bytes(data, descriptor.digest, f"{what} {descriptor.digest}", descriptor.size)
        return data

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the source can serve the blob: a check before anything is written (a push's pre-flight).

        This default opens the blob and closes it unread; a source with a
        cheaper probe (a registry's HEAD, a file's stat) overrides it.
        """
        try:
            stream = self.blob(descriptor)
        except NotFoundError:
            return False
        stream.close()
        return True

    def top_digest(self) -> Digest:
        """The digest of the top-level manifest; registries answer with one HEAD instead of a GET."""
        return manifest_digest(self.manifest()[0])

    def repo_tags(self) -> list[str]:
        """Tags of the image's repository, where the transport has such a notion (registries)."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDestination(abc.ABC):
    """Writes one image or list to one place; nothing is visible before ``commit``."""

    @property
    @abc.abstractmethod
    def reference(self) -> ImageReference: ...

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    @abc.abstractmethod
    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the destination already holds that blob."""

    def try_reuse_blob(self, descriptor: Descriptor) -> Descriptor | None:
        """Make the blob available without uploading it (present already, or mounted); None if not possible."""
        return descriptor if self.has_blob(descriptor) else None

    @abc.abstractmethod
    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        """Store a blob read from ``stream``, verified against ``descriptor`` when given.

        With ``descriptor=None`` the digest and size are computed while writing
        (recompressed layers); ``media_type`` then names the blob's type.
        Returns the descriptor of what was stored.
        """

    @abc.abstractmethod
    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        """Store a manifest: an instance of a list (``instance`` = its digest) or the top level."""

    def has_manifest(self, digest: Digest) -> bool:
        """True when the destination already holds the manifest ``digest`` (registries: one HEAD).

        The copy engine asks it for the instances of a list the source lacks
        (a sparse list, e.g. a merged ``dir:``): the list is written only when
        the destination holds them.  False means "not known to be there".
        """
        return False

    def note_toplevel_list(self, raw: bytes, media_type: str) -> None:  # noqa: B027 - optional hook
        """Told, before ``commit``, the list that the single image written at the top was chosen from.

        containers/image hands its destinations this "unparsed toplevel" so that
        containers-storage can make the image answer to the list's digest too;
        the local store does the same.  Other destinations ignore it.
        """

    @abc.abstractmethod
    def commit(self) -> None:
        """Make what was written visible (index.json entry, archive file, tag)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; without a prior commit, discard what was staged."""

    def __enter__(self) -> ImageDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageReference(abc.ABC):
    """An immutable, parsed image name of one transport.  No I/O."""

    #: The transport prefix, without the colon ("oci", "dir", "docker", ...).
    transport: str = ""

    @abc.abstractmethod
    def __str__(self) -> str:
        """The full name, transport prefix included, as a user would type it."""

    @property
    def docker_reference(self) -> Reference | None:
        """The docker reference the name carries (registries, docker-archive tags), if any."""
        return None

    @property
    def display_name(self) -> str:
        """The name skopeo's inspect shows as ``Name`` (without the transport)."""
        return str(self).partition(":")[2]

    @abc.abstractmethod
    def new_source(self, options: TransportOptions | None = None) -> ImageSource: ...

    @abc.abstractmethod
    def new_destination(self, options: TransportOptions | None = None) -> ImageDestination: ...

    def list_tags(self, options: TransportOptions | None = None) -> list[str]:
        """Every tag of the repository this name is in (registries)."""
        raise UnsupportedError(f"listing tags is not supported by the {self.transport} transport")

    def delete(self, options: TransportOptions | None = None) -> None:
        raise UnsupportedError(f"deleting images is not supported by the {self.transport} transport")


@contextmanager
def opened_source(ref: ImageReference, options: TransportOptions | None = None) -> Iterator[ImageSource]:
    source = ref.new_source(options)
    try:
        yield source
    finally:
        source.close()
