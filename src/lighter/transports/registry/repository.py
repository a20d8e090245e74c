"""One repository of one registry: manifests, blobs (reading), tags, deletion.

The distribution spec's endpoints, with lighter's verification: a manifest
is read with an ``Accept`` of every type lighter understands (distribution
2.8 answers 404 to an OCI manifest when ``Accept`` lacks the OCI types, and
turns a v2s2 manifest into schema 1 when ``Accept`` is missing), capped at
4 MiB, and its bytes checked against the digest asked for and against
``Docker-Content-Digest``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import urlencode

import urllib3

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes, parse_digest
from lighter.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidDigestError,
    InvalidManifestError,
    LighterError,
    ManifestNotFoundError,
    ManifestTooLargeError,
    RegistryError,
)
from lighter.manifest import MAX_MANIFEST_SIZE, Descriptor, guess_media_type, manifest_digest
from lighter.transports.base import TransportOptions
from lighter.transports.registry.body import BlobReader
from lighter.transports.registry.client import RegistryClient, discard, read_body
from lighter.transports.registry.errors import raise_for_status
from lighter.transports.registry.reference import RegistryReference

ACCEPT: Final = ", ".join(mt.ACCEPT_MANIFEST)
MAX_TAG_PAGES: Final = 10_000
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


def _media_type(resp: urllib3.BaseHTTPResponse) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip()


def header_digest(resp: urllib3.BaseHTTPResponse) -> Digest | None:
    value = resp.headers.get("Docker-Content-Digest")
    if not value:
        return None
    try:
        return parse_digest(value.strip())
    except InvalidDigestError:
        return None


def manifest_matches(raw: bytes, digest: Digest) -> bool:
    """True when ``raw`` has ``digest``: of its bytes, or of its payload for signed schema 1."""
    if digest_bytes(raw, digest.algorithm) == digest:
        return True
    try:
        return manifest_digest(raw) == digest
    except LighterError:
        return False


class Repository:
    """``/v2/NAME/...`` of one registry, through one client."""

    def __init__(self, client: RegistryClient, name: str) -> None:
        self.client = client
        self.name = name

    @property
    def host(self) -> str:
        return self.client.host

    def scope(self, actions: str) -> str:
        return f"repository:{self.name}:{actions}"

    def _fail(self, resp: urllib3.BaseHTTPResponse, what: str, not_found: Any = None) -> None:
        body = read_body(resp, 65536)
        raise_for_status(
            resp.status,
            body,
            host=self.host,
            repository=self.name,
            what=what,
            not_found=not_found,
            had_credentials=self.client.auth.has_credentials,
            retry_after=resp.headers.get("Retry-After"),
        )

    # -- manifests -----------------------------------------------------------

    def _what(self, ref: str) -> str:
        return f"{self.name}@{ref}" if ":" in ref else f"{self.name}:{ref}"

    def get_manifest(self, ref: str, expected: Digest | None = None) -> tuple[bytes, str]:
        """The manifest named by a tag or digest, verified; (bytes, media type)."""
        resp = self.client.request(
            "GET", f"/v2/{self.name}/manifests/{ref}", scopes=[self.scope("pull")], headers={"Accept": ACCEPT}
        )
        if resp.status != 200:
            self._fail(resp, f"manifest {self._what(ref)}", ManifestNotFoundError)
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_MANIFEST_SIZE:
            discard(resp)
            raise ManifestTooLargeError(
                f"manifest {self._what(ref)} is {length} bytes, over the {MAX_MANIFEST_SIZE} byte limit"
            )
        raw = read_body(resp, MAX_MANIFEST_SIZE + 1)
        if len(raw) > MAX_MANIFEST_SIZE:
            raise ManifestTooLargeError(f"manifest {self._what(ref)} is over the {MAX_MANIFEST_SIZE} byte limit")
        self._verify(raw, ref, expected, header_digest(resp))
        media_type = _media_type(resp)
        if media_type not in mt.MANIFEST_TYPES:
            media_type = guess_media_type(raw)
        return raw, media_type

    def _verify(self, raw: bytes, ref: str, expected: Digest | None, served: Digest | None) -> None:
        what = f"manifest {self._what(ref)}"
        for digest in (expected, served):
            if digest is not None and not manifest_matches(raw, digest):
                raise DigestMismatchError(what, str(digest), str(digest_bytes(raw, digest.algorithm)))

    def head_manifest(self, ref: str) -> tuple[Digest, str] | None:
        """(digest, media type) of a tag or digest with one HEAD; None when it does not exist."""
        resp = self.client.request(
            "HEAD", f"/v2/{self.name}/manifests/{ref}", scopes=[self.scope("pull")], headers={"Accept": ACCEPT}
        )
        if resp.status == 404:
            discard(resp)
            return None
        if resp.status != 200:
            self._fail(resp, f"manifest {self._what(ref)}", ManifestNotFoundError)
        digest, media_type = header_digest(resp), _media_type(resp)
        discard(resp)
        if digest is None:
            # a registry that does not say: read it
            raw, media_type = self.get_manifest(ref)
            digest = manifest_digest(raw)
        return digest, media_type

    def put_manifest(self, ref: str, raw: bytes, media_type: str) -> Digest:
        """PUT a manifest under a tag or its digest; returns its digest."""
        media_type = media_type or guess_media_type(raw)
        resp = self.client.request(
            "PUT",
            f"/v2/{self.name}/manifests/{ref}",
            scopes=[self.scope("pull,push")],
            headers={"Content-Type": media_type},
            body=raw,
        )
        if resp.status not in (200, 201, 202):
            self._fail(resp, f"manifest {self._what(ref)}")
        served = header_digest(resp)
        discard(resp)
        digest = manifest_digest(raw)
        if served is not None and served != digest and not manifest_matches(raw, served):
            raise DigestMismatchError(f"manifest {self._what(ref)} as stored by {self.host}", str(digest), str(served))
        return digest

    def delete_manifest(self, digest: Digest) -> None:
        resp = self.client.request(
            "DELETE", f"/v2/{self.name}/manifests/{digest}", scopes=[self.scope("delete")], headers={"Accept": ACCEPT}
        )
        if resp.status not in (200, 202):
            self._fail(resp, f"manifest {self._what(str(digest))}", ManifestNotFoundError)
        discard(resp)

    # -- blobs ---------------------------------------------------------------

    def has_blob(self, digest: Digest, scopes: tuple[str, ...] = ()) -> bool:
        resp = self.client.request(
            "HEAD", f"/v2/{self.name}/blobs/{digest}", scopes=scopes or [self.scope("pull")], follow_redirects=True
        )
        status = resp.status
        if status in (200, 404):
            discard(resp)
            return status == 200
        self._fail(resp, f"blob {self.name}@{digest}", BlobNotFoundError)
        return False  # pragma: no cover - _fail raises

    def _open_blob(self, digest: Digest, offset: int) -> urllib3.BaseHTTPResponse:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self.client.request(
            "GET",
            f"/v2/{self.name}/blobs/{digest}",
            scopes=[self.scope("pull")],
            headers=headers,
            follow_redirects=True,
        )
        if resp.status not in (200, 206) or (resp.status == 206 and not offset):
            self._fail(resp, f"blob {self.name}@{digest}", BlobNotFoundError)
        return resp

    def get_blob(self, descriptor: Descriptor) -> BlobReader:
        """A resumable stream of the blob (not verified here: see transports/base.py)."""
        digest = descriptor.digest
        resp = self._open_blob(digest, 0)
        retries = self.client.options.retry_times
        return BlobReader(
            resp, lambda offset: self._open_blob(digest, offset), descriptor.size, f"blob {digest}", retries
        )

    # -- tags ----------------------------------------------------------------

    def list_tags(self, page_size: int | None = None) -> list[str]:
        """Every tag, following ``Link: <...>; rel="next"`` pages (bounded)."""
        path = f"/v2/{self.name}/tags/list" + (f"?{urlencode({'n': page_size})}" if page_size else "")
        tags: list[str] = []
        for _ in range(MAX_TAG_PAGES):
            resp = self.client.request("GET", path, scopes=[self.scope("pull")], headers={"Accept": "application/json"})
            if resp.status != 200:
                self._fail(resp, f"repository {self.name}", ImageNotFoundError)
            link = resp.headers.get("Link", "")
            tags.extend(_tags_of(read_body(resp), self.name))
            match = _LINK_NEXT.search(link)
            if match is None:
                return tags
            path = match.group(1)
        raise RegistryError(f"tag list of {self.name} on {self.host} has more than {MAX_TAG_PAGES} pages")


def _tags_of(body: bytes, name: str) -> list[str]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise InvalidManifestError(f"tag list of {name} is not JSON") from None
    tags = data.get("tags") if isinstance(data, dict) else None
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidManifestError(f"tag list of {name}: expected a list of strings, got {tags!r:.80}")
    return tags


def open_repository(ref: RegistryReference, options: TransportOptions) -> Repository:
    return Repository(RegistryClient(ref.host, options, ref.repository), ref.repository)


def list_tags(ref: RegistryReference, options: TransportOptions, page_size: int | None = None) -> list[str]:
    """Every tag of the repository ``ref`` is in."""
    repo = open_repository(ref, options)
    try:
        return repo.list_tags(page_size)
    finally:
        repo.client.close()


def delete_image(ref: RegistryReference, options: TransportOptions) -> None:
    """Delete the manifest ``ref`` names (by tag: the digest the tag points at, as skopeo does)."""
    repo = open_repository(ref, options)
    try:
        digest = ref.reference.digest
        if digest is None:
            tag = ref.reference.manifest_ref
            found = repo.head_manifest(tag)
            if found is None:
                raise ManifestNotFoundError(f"manifest unknown: {repo.name}:{tag} on {repo.host}")
            digest = found[0]
        repo.delete_manifest(digest)
    finally:
        repo.client.close()
