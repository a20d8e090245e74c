"""A conformance kit every transport must pass, whatever it stores images in.

Like containers/image's cache conformance tests and trio's
``check_one_way_stream``: the transport under test hands over a factory of
fresh references, and ``check_transport`` exercises the ImageSource /
ImageDestination contract through it, with images from
``lighter.testing.random``::

    def test_my_transport(tmp_path):
        check_transport(lambda name: parse_image_name(f"oci:{tmp_path / 'layout'}:{name}"))

``make_ref(name)`` must return a reference to a location no other name
shares (a new directory, archive, tag or repository); ``name`` is lowercase
letters, digits and dashes.  Each check uses its own names, so the checks
are independent.  A failing check raises ``ConformanceError`` saying what
the transport did and what the contract wanted.

What is checked (see ``CHECKS``):

* an image written and committed reads back with the same manifest bytes
  (``keeps_manifest``; docker-archive generates its manifest), config and
  layer bytes, and passes ``lighter.validate``;
* ``has_blob`` is true after ``put_blob``; ``put_blob`` without a descriptor
  computes the digest and size;
* a blob whose bytes do not match its descriptor raises DigestMismatchError
  (SizeMismatchError for a wrong size) and leaves nothing visible;
* a missing image, instance manifest or blob raises a NotFoundError subclass;
* a list with its instances round-trips (or is refused with UnsupportedError
  where ``capabilities.accepts_lists`` is false);
* ``close`` without ``commit`` leaves no visible image.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from lighter import mediatype as mt
from lighter.compression import Algorithm
from lighter.digest import digest_bytes
from lighter.errors import DigestMismatchError, NotFoundError, SizeMismatchError, UnsupportedError
from lighter.manifest import Descriptor, ImageManifest, build_index, parse_manifest
from lighter.platform import parse_platform
from lighter.testing.random import GeneratedLayer, generate_image
from lighter.transports.base import ImageDestination, ImageReference, ImageSource, TransportOptions
from lighter.validate import check_source

MakeRef = Callable[[str], ImageReference]


class ConformanceError(AssertionError):
    """A transport broke the ImageSource / ImageDestination contract."""


@dataclass(frozen=True, slots=True)
class Subject:
    """The transport under test and what it is expected to do."""

    make_ref: MakeRef
    options: TransportOptions | None = None
    #: Whether reading gives back the manifest bytes written (false where the source generates one).
    keeps_manifest: bool = True

    def ref(self, name: str) -> ImageReference:
        return self.make_ref(name)

    def destination(self, name: str) -> ImageDestination:
        return self.ref(name).new_destination(self.options)

    def source(self, name: str) -> ImageSource:
        return self.ref(name).new_source(self.options)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def _read_all(stream: IO[bytes]) -> bytes:
    with stream:
        chunks = []
        while chunk := stream.read(1024 * 1024):
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Image:
    manifest: ImageManifest
    config: bytes
    layers: list[GeneratedLayer]


def _image_for(dest: ImageDestination, seed: int, platform: str = "linux/amd64") -> _Image:
    """A random image in the flavour and compression the destination wants."""
    caps = dest.capabilities
    oci = not caps.manifest_types or mt.OCI_MANIFEST in caps.manifest_types
    compression: Algorithm = "none" if caps.layer_compression == "decompress" else "gzip"
    manifest, config, layers = generate_image(
        layer_sizes=(1500, 40_000), platform=platform, oci=oci, compression=compression, seed=seed
    )
    return _Image(manifest, config.raw, layers)


def _put_image(dest: ImageDestination, image: _Image, instance: bool = False) -> None:
    dest.put_blob(io.BytesIO(image.config), image.manifest.config)
    for layer in image.layers:
        stored = dest.put_blob(io.BytesIO(layer.blob), layer.descriptor)
        _expect(
            stored.digest == layer.descriptor.digest,
            f"put_blob returned {stored.digest}, wrote {layer.descriptor.digest}",
        )
        _expect(dest.has_blob(layer.descriptor), f"has_blob is false right after put_blob of {layer.descriptor.digest}")
    raw = image.manifest.raw
    dest.put_manifest(raw, image.manifest.media_type, instance=image.manifest.digest if instance else None)


def _check_blobs_read_back(source: ImageSource, image: _Image, manifest_raw: bytes) -> None:
    manifest = parse_manifest(manifest_raw)
    _expect(isinstance(manifest, ImageManifest), f"read back a {type(manifest).__name__}, wrote an image manifest")
    assert isinstance(manifest, ImageManifest)
    config = source.blob_bytes(manifest.config, "config")
    _expect(config == image.config, "the config read back differs from the one written")
    written = {layer.descriptor.digest: layer.blob for layer in image.layers}
    _expect(
        [layer.digest for layer in manifest.layers] == [layer.descriptor.digest for layer in image.layers],
        "the layers read back are not the ones written, in order",
    )
    for layer in manifest.layers:
        _expect(_read_all(source.blob(layer)) == written[layer.digest], f"layer {layer.digest} read back differs")


def check_round_trip(subject: Subject) -> None:
    """Write an image, commit, read it back byte for byte."""
    with subject.destination("round-trip") as dest:
        image = _image_for(dest, seed=11)
        _put_image(dest, image)
        dest.commit()
    with subject.source("round-trip") as source:
        raw, media_type = source.manifest()
        if subject.keeps_manifest:
            _expect(raw == image.manifest.raw, "the manifest read back is not the bytes written")
            _expect(media_type in ("", image.manifest.media_type), f"media type {media_type!r} read back")
        _expect(source.top_digest() == digest_bytes(raw), "top_digest() is not the digest of manifest()")
        _check_blobs_read_back(source, image, raw)
        check_source(source)


def check_put_blob_computes_digest(subject: Subject) -> None:
    """``put_blob(stream, None)`` hashes what it writes and returns the descriptor."""
    data = os.urandom(3000)
    with subject.destination("computed") as dest:
        stored = dest.put_blob(io.BytesIO(data), None, media_type=mt.OCI_LAYER)
        _expect(stored.digest == digest_bytes(data), f"put_blob(None) computed {stored.digest}")
        _expect(stored.size == len(data), f"put_blob(None) computed size {stored.size}, wrote {len(data)}")
        _expect(dest.has_blob(stored), "has_blob is false right after put_blob(None)")


def check_bad_blob_refused(subject: Subject) -> None:
    """A blob not matching its descriptor raises and leaves nothing visible."""
    data = os.urandom(2000)
    actual = Descriptor(mt.OCI_LAYER, digest_bytes(data), len(data))
    wrong = actual.evolve(digest=digest_bytes(os.urandom(16)))
    with subject.destination("bad-blob") as dest:
        try:
            dest.put_blob(io.BytesIO(data), wrong)
        except DigestMismatchError:
            pass
        else:
            raise ConformanceError("put_blob accepted bytes whose digest differs from the descriptor")
        try:
            dest.put_blob(io.BytesIO(data), actual.evolve(size=len(data) + 1))
        except SizeMismatchError:
            pass
        else:
            raise ConformanceError("put_blob accepted bytes whose size differs from the descriptor")
        _expect(not dest.has_blob(wrong), "a refused blob is visible under the digest it claimed")
        _expect(not dest.has_blob(actual), "a refused blob is visible under its real digest")


def _expect_not_found(what: str, action: Callable[[], object]) -> None:
    try:
        result = action()
        if hasattr(result, "read"):
            _read_all(result)  # type: ignore[arg-type]
    except NotFoundError:
        return
    raise ConformanceError(f"{what}: expected a NotFoundError")


def check_missing(subject: Subject) -> None:
    """Missing images, manifests and blobs raise NotFoundError subclasses."""
    _expect_not_found("opening an image never written", lambda: subject.source("never-written"))
    with subject.destination("present") as dest:
        _put_image(dest, _image_for(dest, seed=12))
        dest.commit()
    absent = digest_bytes(os.urandom(16))
    with subject.source("present") as source:
        _expect_not_found("manifest(instance) of an absent digest", lambda: source.manifest(absent))
        _expect_not_found("blob() of an absent digest", lambda: source.blob(Descriptor(mt.OCI_LAYER, absent, 16)))


def _write_list(dest: ImageDestination) -> tuple[bytes, list[_Image]]:
    images = [_image_for(dest, seed=13, platform=p) for p in ("linux/amd64", "linux/arm64")]
    descriptors = []
    for image, platform in zip(images, ("linux/amd64", "linux/arm64"), strict=True):
        _put_image(dest, image, instance=True)
        m = image.manifest
        descriptors.append(Descriptor(m.media_type, m.digest, len(m.raw), platform=parse_platform(platform)))
    index = build_index(descriptors, oci=images[0].manifest.is_oci)
    dest.put_manifest(index.raw, index.media_type)
    return index.raw, images


def check_list(subject: Subject) -> None:
    """A list and its instances round-trip; a destination that takes no lists refuses clearly."""
    with subject.destination("list") as dest:
        if not dest.capabilities.accepts_lists:
            try:
                _write_list(dest)
            except UnsupportedError:
                return
            raise ConformanceError("a destination with accepts_lists=False accepted a manifest list")
        raw, images = _write_list(dest)
        dest.commit()
    with subject.source("list") as source:
        top, _ = source.manifest()
        _expect(top == raw, "the list read back is not the bytes written")
        for image in images:
            inst, _ = source.manifest(image.manifest.digest)
            _expect(inst == image.manifest.raw, f"instance {image.manifest.digest} read back differs")
            _check_blobs_read_back(source, image, inst)
        check_source(source)


def check_uncommitted_invisible(subject: Subject) -> None:
    """``close`` without ``commit`` leaves no image behind."""
    dest = subject.destination("uncommitted")
    try:
        _put_image(dest, _image_for(dest, seed=14))
    finally:
        dest.close()
    _expect_not_found("opening an image closed without commit", lambda: subject.source("uncommitted"))


CHECKS: tuple[tuple[str, Callable[[Subject], None]], ...] = (
    ("round_trip", check_round_trip),
    ("put_blob_computes_digest", check_put_blob_computes_digest),
    ("bad_blob_refused", check_bad_blob_refused),
    ("missing", check_missing),
    ("list", check_list),
    ("uncommitted_invisible", check_uncommitted_invisible),
)


def check_transport(
    make_ref: MakeRef, *, options: TransportOptions | None = None, keeps_manifest: bool = True
) -> list[str]:
    """Run every check of ``CHECKS`` against a transport; returns the names of the checks run."""
    subject = Subject(make_ref, options, keeps_manifest)
    ran = []
    for name, check in CHECKS:
        try:
            check(subject)
        except ConformanceError as exc:
            raise ConformanceError(f"{name}: {exc}") from exc
        ran.append(name)
    return ran


__all__ = [
    "CHECKS",
    "ConformanceError",
    "MakeRef",
    "Subject",
    "check_transport",
]
