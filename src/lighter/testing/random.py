"""Random images and lists for tests and demos, made only with lighter's public API.

Like go-containerregistry's ``random`` package: every layer is a real tar
(one file of random bytes, so umoci and skopeo can unpack it), every config
lists the right diffIDs, and everything is written through an
``ImageDestination``, so the same generator fills any transport.  The
output is a function of the arguments alone (``seed`` included).
"""

from __future__ import annotations

import io
import random as _random
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass

from lighter import mediatype as mt
from lighter.compression import Algorithm, compressed
from lighter.digest import Digest, digest_bytes
from lighter.manifest import (
    Descriptor,
    ImageConfig,
    ImageManifest,
    Index,
    build_image_manifest,
    build_index,
)
from lighter.platform import Platform, parse_platform
from lighter.transports import ImageDestination

#: A fixed creation time keeps generated images reproducible.
CREATED = "2024-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class GeneratedLayer:
    """A layer's compressed blob and what describes it."""

    blob: bytes
    diff_id: Digest
    descriptor: Descriptor


def _random_bytes(rng: _random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def layer_tar(files: Sequence[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar of regular files (path, content), with fixed metadata."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 1704067200
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def make_layer(tar: bytes, oci: bool = True, compression: Algorithm = "gzip") -> GeneratedLayer:
    """Compress a tar into a layer blob with its descriptor and diffID."""
    blob = compressed(io.BytesIO(tar), compression).read() if compression != "none" else tar
    descriptor = Descriptor(mt.layer_type(oci, compression), digest_bytes(blob), len(blob))
    return GeneratedLayer(blob=blob, diff_id=digest_bytes(tar), descriptor=descriptor)


def make_config(
    platform: Platform, diff_ids: Sequence[Digest], env: Sequence[str] = (), labels: dict[str, str] | None = None
) -> ImageConfig:
    """An image config for the platform and layers, with one history entry per layer."""
    data: dict[str, object] = {
        "created": CREATED,
        "architecture": platform.architecture,
        "os": platform.os,
    }
    if platform.variant:
        data["variant"] = platform.variant
    runtime: dict[str, object] = {
        "Env": list(env) or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    }
    if labels:
        runtime["Labels"] = dict(labels)
    data["config"] = runtime
    data["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    data["history"] = [
        {"created": CREATED, "created_by": f"lighter.testing.random layer {i}"} for i in range(len(diff_ids))
    ]
    return ImageConfig(data=data)


def generate_image(
    *,
    layer_sizes: Sequence[int] = (1024,),
    platform: str | Platform = "linux/amd64",
    oci: bool = True,
    compression: Algorithm = "gzip",
    seed: int = 0,
    labels: dict[str, str] | None = None,
) -> tuple[ImageManifest, ImageConfig, list[GeneratedLayer]]:
    """Build (in memory) an image of random layers; nothing is written."""
    plat = parse_platform(platform) if isinstance(platform, str) else platform
    rng = _random.Random(f"{seed}/{plat}/{oci}/{compression}/{tuple(layer_sizes)}")
    layers = [
        make_layer(layer_tar([(f"layer{i}/random-{seed}.bin", _random_bytes(rng, size))]), oci, compression)
        for i, size in enumerate(layer_sizes)
    ]
    config = make_config(plat, [layer.diff_id for layer in layers], labels=labels)
    config_desc = Descriptor(mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, config.digest, len(config.raw))
    manifest = build_image_manifest(config_desc, [layer.descriptor for layer in layers], oci=oci)
    return manifest, config, layers


def _put_image(
    dest: ImageDestination,
    manifest: ImageManifest,
    config: ImageConfig,
    layers: Sequence[GeneratedLayer],
    instance: Digest | None,
) -> None:
    dest.put_blob(io.BytesIO(config.raw), manifest.config)
    for layer in layers:
        if not dest.has_blob(layer.descriptor):
            dest.put_blob(io.BytesIO(layer.blob), layer.descriptor)
    dest.put_manifest(manifest.raw, manifest.media_type, instance=instance)


def write_random_image(
    dest: ImageDestination,
    *,
    layer_sizes: Sequence[int] = (1024,),
    platform: str | Platform = "linux/amd64",
    oci: bool = True,
    compression: Algorithm = "gzip",
    seed: int = 0,
    labels: dict[str, str] | None = None,
    commit: bool = True,
) -> ImageManifest:
    """Write a random single image to ``dest`` and commit it."""
    manifest, config, layers = generate_image(
        layer_sizes=layer_sizes, platform=platform, oci=oci, compression=compression, seed=seed, labels=labels
    )
    _put_image(dest, manifest, config, layers, None)
    if commit:
        dest.commit()
    return manifest


def write_random_index(
    dest: ImageDestination,
    *,
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64"),
    layer_sizes: Sequence[int] = (1024,),
    oci: bool = True,
    compression: Algorithm = "gzip",
    seed: int = 0,
    commit: bool = True,
) -> Index:
    """Write a list of one random image per platform (instances first, then the list)."""
    descriptors = []
    for plat in platforms:
        manifest, config, layers = generate_image(
            layer_sizes=layer_sizes, platform=plat, oci=oci, compression=compression, seed=seed
        )
        _put_image(dest, manifest, config, layers, manifest.digest)
        descriptors.append(
            Descriptor(manifest.media_type, manifest.digest, len(manifest.raw), platform=parse_platform(plat))
        )
    index = build_index(descriptors, oci=oci)
    dest.put_manifest(index.raw, index.media_type)
    if commit:
        dest.commit()
    return index
