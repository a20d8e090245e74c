"""The one exception tree of lighter.

Every failure a user can cause raises a specific subclass with a one-line
message; the CLI prints ``str(exc)`` without a traceback.  Parse errors are
also ``ValueError`` so that callers who only care about "bad input" can catch
that.  ``NotFoundError`` maps to exit code 2 (as skopeo does since 1.16),
everything else to 1.

::

    LighterError
    ├── InvalidInputError(ValueError)
    │   ├── InvalidDigestError
    │   ├── InvalidReferenceError
    │   ├── InvalidPlatformError
    │   ├── InvalidManifestError
    │   │   └── ManifestTooLargeError
    │   ├── UnknownTransportError
    │   ├── InvalidImageNameError
    │   ├── InvalidSyncConfigError
    │   └── InvalidDescriptionError
    ├── NotFoundError                       exit code 2
    │   ├── ManifestNotFoundError
    │   ├── BlobNotFoundError
    │   ├── ImageNotFoundError
    │   └── MissingInstancesError
    ├── VerificationError
    │   ├── DigestMismatchError
    │   └── SizeMismatchError
    ├── UnsupportedError
    │   ├── UnsupportedMediaTypeError
    │   └── UnsupportedCompressionError
    ├── NoMatchingPlatformError
    ├── NotAManifestListError
    ├── LayoutError
    ├── RegistryError
    │   ├── AuthenticationError
    │   └── RegistryTransientError
    ├── CredentialsError
    │   └── NotLoggedInError
    ├── DigestChangeError
    ├── SyncFailedError
    ├── CacheError
    └── StoreError
        ├── ListNotFoundError
        ├── InstanceNotInListError
        ├── InstanceUnavailableError
        └── ImageInUseError
"""

from __future__ import annotations


class LighterError(Exception):
    """Base of every error lighter raises on purpose."""

    exit_code: int = 1


class InvalidInputError(LighterError, ValueError):
    """Something the user gave could not be parsed."""


class InvalidDigestError(InvalidInputError):
    """A string is not a valid ``algorithm:hex`` digest."""


class InvalidReferenceError(InvalidInputError):
    """A docker reference (``host/name:tag@digest``) is malformed."""


class InvalidPlatformError(InvalidInputError):
    """A platform string (``os/arch[/variant]``) is malformed."""


class InvalidManifestError(InvalidInputError):
    """Manifest or config bytes are not a valid document of their type."""


class ManifestTooLargeError(InvalidManifestError):
    """A manifest is larger than the 4 MiB cap and was not parsed."""


class UnknownTransportError(InvalidInputError):
    """An image name starts with a transport prefix lighter does not know."""


class InvalidImageNameError(InvalidInputError):
    """An image name is malformed for its transport."""


class InvalidSyncConfigError(InvalidInputError):
    """A ``sync`` YAML source file is not what skopeo sync accepts."""


class InvalidDescriptionError(InvalidInputError):
    """A cache source or pipeline input description does not match its JSON schema."""


class InvalidChangeError(InvalidInputError):
    """A ``--change`` Dockerfile instruction is malformed or not supported."""


class NotFoundError(LighterError):
    """The image, manifest or blob asked for does not exist."""

    exit_code = 2


class ManifestNotFoundError(NotFoundError):
    """No manifest for that reference."""


class BlobNotFoundError(NotFoundError):
    """No blob with that digest."""


class ImageNotFoundError(NotFoundError):
    """No image under that name."""


class MissingInstancesError(NotFoundError):
    """A list names instances that neither the source nor the destination holds; the list was not written."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class VerificationError(LighterError):
    """Bytes read did not match what their descriptor promised."""


class DigestMismatchError(VerificationError):
    """The digest of the bytes read is not the one expected."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch for {what}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class SizeMismatchError(VerificationError):
    """The number of bytes read is not the size expected."""

    def __init__(self, what: str, expected: int, actual: int) -> None:
        super().__init__(f"size mismatch for {what}: expected {expected} bytes, got {actual}")
        self.expected = expected
        self.actual = actual


class UnsupportedError(LighterError):
    """A valid request that lighter does not (or will not) do."""


class UnsupportedMediaTypeError(UnsupportedError):
    """A media type lighter cannot handle where it was met."""


class UnsupportedCompressionError(UnsupportedError):
    """A compression algorithm lighter refuses (xz, bzip2) or does not know."""


class NoMatchingPlatformError(LighterError):
    """No instance of a manifest list fits the platform asked for."""


class NotAManifestListError(LighterError):
    """A single image was found where a manifest list was required."""


class LayoutError(LighterError):
    """An on-disk image layout (dir, OCI layout, archive) is broken."""


class RegistryError(LighterError):
    """A registry answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(RegistryError):
    """401/403: authentication required or denied."""


class RegistryTransientError(RegistryError):
    """A failure worth retrying: connection error, 429, 5xx."""


class CredentialsError(LighterError):
    """Credentials cannot be used: a malformed auth file or ``--creds``, a failing credential helper."""


class NotLoggedInError(CredentialsError):
    """``logout`` (or ``login --get-login``) of a registry the auth file holds nothing for."""


class DigestChangeError(LighterError):
    """``--preserve-digests`` was given but the copy would change a digest."""


class SyncFailedError(LighterError):
    """One or more images of a ``sync`` could not be copied."""


class CacheError(LighterError):
    """The fetch-by-digest cache or a pipeline input could not do what was asked."""


class LayerError(LighterError):
    """A layer could not be read or applied to a root filesystem."""


class UnsafeLayerError(LayerError):
    """A layer entry would write outside the root: ``..``, an absolute path, a symlink or hardlink escape."""


class LayerLimitError(LayerError):
    """A layer exceeds the entry-count or size limits (a tar bomb)."""


class InvalidLayerError(LayerError):
    """A layer is not a well-formed tar: bad or oversized header, truncated stream, unsupported entry."""


class RootfsError(LighterError):
    """A root filesystem cannot be committed as it is (missing, unreadable, names a layer cannot carry)."""


class StoreError(LighterError):
    """The local store refused an operation."""


class ListNotFoundError(StoreError):
    """No manifest list under that name in the local store (exit 1, as podman's manifest commands)."""


class InstanceNotInListError(StoreError):
    """A digest named for a list edit is not an instance of the list."""


class InstanceUnavailableError(StoreError):
    """An instance of a list cannot be read from where it was recorded."""


class ImageInUseError(StoreError):
    """An image cannot be removed because a manifest list still needs it."""
