"""Transports: where images live, chosen by the prefix of an image name.

Names follow skopeo's syntax (``transport:rest``).  Each transport module
exposes ``parse(rest) -> ImageReference``; modules are imported only when a
name of theirs is parsed, so a transport's dependencies cost nothing to
users of the others.
"""

from __future__ import annotations

import importlib
from typing import Final

from lighter.errors import UnknownTransportError
from lighter.transports.base import (
    Capabilities,
    ImageDestination,
    ImageReference,
    ImageSource,
    TransportOptions,
    opened_source,
)

#: transport prefix -> module that implements it
TRANSPORTS: Final[dict[str, str]] = {
    "docker": "lighter.transports.registry",
    "dir": "lighter.transports.dir",
    "oci": "lighter.transports.oci_layout",
    "oci-archive": "lighter.transports.oci_archive",
    "docker-archive": "lighter.transports.docker_archive",
    "store": "lighter.transports.store",
}


def parse_image_name(name: str) -> ImageReference:
    """Parse ``transport:rest`` into a reference of that transport.

    >>> str(parse_image_name("dir:/tmp/x"))
    'dir:/tmp/x'
    """
    transport, sep, rest = name.partition(":")
    if not sep or transport not in TRANSPORTS:
        known = ", ".join(sorted(TRANSPORTS))
        raise UnknownTransportError(
            f"invalid image name {name!r}: unknown transport {transport!r} (expected one of: {known})"
        )
    module = importlib.import_module(TRANSPORTS[transport])
    ref: ImageReference = module.parse(rest)
    return ref


__all__ = [
    "TRANSPORTS",
    "Capabilities",
    "ImageDestination",
    "ImageReference",
    "ImageSource",
    "TransportOptions",
    "opened_source",
    "parse_image_name",
]
