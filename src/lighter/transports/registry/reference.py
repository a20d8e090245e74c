"""``docker://HOST[:PORT]/NAME[:TAG|@DIGEST]`` references.  No I/O.

Grammar (skopeo's docker transport)::

    docker-name ::= "//" docker-reference

The ``//`` is required, as skopeo requires it.  The reference is normalised
as Docker does (``docker://alpine`` is ``docker.io/library/alpine:latest``).
A reference with both a tag and a digest is refused, as containers/image
refuses it: which of the two would be meant is ambiguous.

>>> str(parse("//127.0.0.1:5000/app"))
'docker://127.0.0.1:5000/app:latest'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lighter.errors import InvalidImageNameError, InvalidReferenceError
from lighter.reference import Reference, parse_reference
from lighter.transports.base import ImageReference, TransportOptions

if TYPE_CHECKING:
    from lighter.transports.registry.destination import RegistryDestination
    from lighter.transports.registry.source import RegistrySource


class RegistryReference(ImageReference):
    """An image in a registry: host, repository, and a tag or a digest."""

    transport = "docker"

    def __init__(self, reference: Reference) -> None:
        self._reference = reference

    @property
    def reference(self) -> Reference:
        return self._reference

    @property
    def docker_reference(self) -> Reference:
        return self._reference

    @property
    def host(self) -> str:
        """The registry as written in the name (``docker.io`` for Docker Hub)."""
        return self._reference.domain

    @property
    def repository(self) -> str:
        """The repository path inside the registry (``library/alpine``)."""
        return self._reference.path

    @property
    def display_name(self) -> str:
        # skopeo inspect shows the repository name, without tag or digest
        return self._reference.name

    def __str__(self) -> str:
        return f"docker://{self._reference}"

    def __repr__(self) -> str:
        return f"RegistryReference({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegistryReference) and other._reference == self._reference

    def __hash__(self) -> int:
        return hash(self._reference)

    def new_source(self, options: TransportOptions | None = None) -> RegistrySource:
        from lighter.transports.registry.source import RegistrySource

        return RegistrySource(self, options or TransportOptions())

    def new_destination(self, options: TransportOptions | None = None) -> RegistryDestination:
        from lighter.transports.registry.destination import RegistryDestination

        return RegistryDestination(self, options or TransportOptions())

    def list_tags(self, options: TransportOptions | None = None) -> list[str]:
        from lighter.transports.registry.repository import list_tags

        return list_tags(self, options or TransportOptions())

    def delete(self, options: TransportOptions | None = None) -> None:
        from lighter.transports.registry.repository import delete_image

        delete_image(self, options or TransportOptions())


def parse(rest: str) -> RegistryReference:
    """Parse what follows ``docker:``."""
    if not rest.startswith("//"):
        raise InvalidImageNameError(
            f"invalid docker image name 'docker:{rest}': expected docker://HOST[:PORT]/NAME[:TAG|@DIGEST]"
        )
    try:
        reference = parse_reference(rest[2:])
    except InvalidReferenceError as exc:
        raise InvalidImageNameError(f"invalid docker image name 'docker:{rest}': {exc}") from None
    if reference.tag is not None and reference.digest is not None:
        raise InvalidImageNameError(
            f"invalid docker image name 'docker:{rest}': a name with both a tag and a digest is not supported"
        )
    return RegistryReference(reference)
