"""lighter.testing.random itself: the generator every other test builds its images with."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from lighter import mediatype as mt
from lighter.compression import Algorithm, decompressed
from lighter.digest import digest_bytes
from lighter.manifest import ImageManifest, Index, parse_config, parse_manifest
from lighter.testing.random import generate_image, write_random_image, write_random_index
from lighter.transports import parse_image_name
from lighter.validate import check_image


def _members(blob: bytes, compression: str) -> list[tuple[str, int]]:
    tar = decompressed(io.BytesIO(blob), "layer").read() if compression != "none" else blob
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [(m.name, m.size) for m in archive.getmembers()]


def test_same_arguments_same_digests_other_seed_other_digests() -> None:
    first, config, layers = generate_image(layer_sizes=(100, 2000), seed=3, platform="linux/arm64")
    again, config_again, layers_again = generate_image(layer_sizes=(100, 2000), seed=3, platform="linux/arm64")
    assert first.raw == again.raw and first.digest == again.digest
    assert config.raw == config_again.raw
    assert [layer.blob for layer in layers] == [layer.blob for layer in layers_again]
    other, _, other_layers = generate_image(layer_sizes=(100, 2000), seed=4, platform="linux/arm64")
    assert other.digest != first.digest
    assert {layer.descriptor.digest for layer in other_layers}.isdisjoint(layer.descriptor.digest for layer in layers)


def test_written_images_are_reproducible_across_layouts(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        with parse_image_name(f"oci:{tmp_path / name}:v1").new_destination() as dest:
            digests.append(write_random_index(dest, platforms=("linux/amd64", "linux/s390x"), seed=8).digest)
    assert digests[0] == digests[1]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layers_have_the_sizes_asked_for(compression: Algorithm) -> None:
    sizes = (0, 1, 4096, 100_000)
    manifest, config, layers = generate_image(layer_sizes=sizes, seed=1, compression=compression)
    assert len(manifest.layers) == len(layers) == len(sizes)
    for i, (size, layer) in enumerate(zip(sizes, layers, strict=True)):
        assert _members(layer.blob, compression) == [(f"layer{i}/random-1.bin", size)]
        assert layer.descriptor.size == len(layer.blob)
        assert layer.descriptor.digest == digest_bytes(layer.blob)
        assert mt.compression_of(layer.descriptor.media_type) == compression
    assert [str(d) for d in parse_config(config.raw).diff_ids] == [str(layer.diff_id) for layer in layers]
    if compression == "gzip":  # diffID is the digest of the uncompressed tar
        assert layers[2].diff_id == digest_bytes(gzip.decompress(layers[2].blob))


def test_docker_flavour_has_docker_media_types(tmp_path: Path) -> None:
    manifest, _, _ = generate_image(layer_sizes=(10, 20), oci=False)
    assert manifest.media_type == mt.DOCKER_MANIFEST
    assert manifest.config.media_type == mt.DOCKER_CONFIG
    assert {layer.media_type for layer in manifest.layers} == {mt.DOCKER_LAYER_GZIP}
    with parse_image_name(f"dir:{tmp_path / 'list'}").new_destination() as dest:
        index = write_random_index(dest, oci=False)
    assert index.media_type == mt.DOCKER_LIST
    assert {m.media_type for m in index.manifests} == {mt.DOCKER_MANIFEST}
    raw = (tmp_path / "list" / "manifest.json").read_bytes()
    assert json.loads(raw)["mediaType"] == mt.DOCKER_LIST
    check_image(f"dir:{tmp_path / 'list'}")


def test_platforms_as_asked(tmp_path: Path) -> None:
    platforms = ("linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64")
    name = f"oci:{tmp_path / 'layout'}:multi"
    with parse_image_name(name).new_destination() as dest:
        index = write_random_index(dest, platforms=platforms, layer_sizes=(50,))
    assert [str(m.platform) for m in index.manifests] == list(platforms)
    with parse_image_name(name).new_source() as source:
        top = parse_manifest(source.manifest()[0])
        assert isinstance(top, Index) and top.raw == index.raw
        for desc, wanted in zip(index.manifests, platforms, strict=True):
            image = parse_manifest(source.manifest(desc.digest)[0])
            assert isinstance(image, ImageManifest)
            config = parse_config(source.blob_bytes(image.config, "config"))
            assert str(config.platform) == wanted  # the config agrees with the list
    report = check_image(name)
    assert report.manifests == [index.digest, *(m.digest for m in index.manifests)]


@pytest.mark.parametrize(
    ("name", "oci"),
    [
        ("dir:{root}/dir", True),
        ("dir:{root}/dir", False),
        ("oci:{root}/oci:v1", True),
        ("oci-archive:{root}/img.oci.tar:v1", True),
        # docker save's format holds Docker images only (nothing converts here: the generator writes directly)
        ("docker-archive:{root}/img.docker.tar:example.com/app:v1", False),
    ],
)
def test_writes_to_any_destination_and_validates(tmp_path: Path, name: str, oci: bool) -> None:
    target = name.format(root=tmp_path)
    with parse_image_name(target).new_destination() as dest:
        written = write_random_image(dest, layer_sizes=(300, 700), seed=2, labels={"a": "b"}, oci=oci)
    report = check_image(target)
    with parse_image_name(target).new_source() as source:
        manifest = parse_manifest(source.manifest()[0])
        assert isinstance(manifest, ImageManifest)
        assert parse_config(source.blob_bytes(manifest.config, "config")).labels == {"a": "b"}
    assert set(report.blobs) == {manifest.config.digest, *(layer.digest for layer in manifest.layers)}
    if not target.startswith("docker-archive:"):  # which stores layers uncompressed, as docker save does
        assert manifest.raw == written.raw


def test_uncommitted_write_leaves_the_commit_to_the_caller(tmp_path: Path) -> None:
    with parse_image_name(f"dir:{tmp_path / 'dir'}").new_destination() as dest:
        written = write_random_image(dest, commit=False)
        assert not (tmp_path / "dir" / "manifest.json").exists()
        dest.commit()
    assert (tmp_path / "dir" / "manifest.json").read_bytes() == written.raw
    check_image(f"dir:{tmp_path / 'dir'}")
