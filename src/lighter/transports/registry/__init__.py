"""``docker://`` — images in registries that speak the OCI distribution spec.

Public API::

    parse(rest) -> RegistryReference          what follows "docker:"
    RegistryReference.new_source(options)     -> RegistrySource
    RegistryReference.new_destination(options) -> RegistryDestination
    RegistryReference.list_tags(options)      every tag of the repository (Link pagination)
    RegistryReference.delete(options)         DELETE the manifest (a tag is resolved with HEAD)
    RegistrySource.head_manifest(ref=None)    (digest, media type) with one HEAD, or None
    list_tags(ref, options, page_size=None)   the same as the method, with ``?n=`` pages

Modules: reference (names), challenge + auth (WWW-Authenticate, Basic,
Bearer tokens), tls (CA and client certificates), client (one host: ping,
retries, redirects), errors (status → exception), repository (manifests,
blobs, tags), body (resumable, seekable downloads), upload (monolithic,
chunked and resumable, mount), locations (where blobs were seen, for
mounts), source, destination.
"""

from lighter.transports.registry.reference import RegistryReference, parse
from lighter.transports.registry.repository import delete_image, list_tags

__all__ = ["RegistryReference", "delete_image", "list_tags", "parse"]
