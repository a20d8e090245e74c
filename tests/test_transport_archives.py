"""``oci-archive:`` and ``docker-archive:``: tar files read in place and written atomically."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from lighter import mediatype as mt
from lighter.copy import copy_image
from lighter.digest import digest_bytes
from lighter.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    InvalidImageNameError,
    LayoutError,
    UnsupportedError,
)
from lighter.manifest import ImageManifest, parse_manifest
from lighter.reference import parse_reference
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name
from lighter.transports.docker_archive import DockerArchiveReference
from lighter.transports.docker_archive import parse as parse_docker
from lighter.transports.oci_archive import OCIArchiveReference
from lighter.transports.oci_archive import parse as parse_oci
from lighter.validate import check_image


def _skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _members(path: Path) -> dict[str, bytes | str]:
    """Each member: its bytes, or ``-> target`` for a symlink."""
    out: dict[str, bytes | str] = {}
    with tarfile.open(path) as tar:
        for info in tar:
            if info.issym():
                out[info.name] = f"-> {info.linkname}"
            elif info.isfile():
                out[info.name] = tar.extractfile(info).read()  # type: ignore[union-attr]
            else:
                out[info.name.rstrip("/")] = "dir"
    return out


def _oci_source(tmp_path: Path, seed: int = 0, layer_sizes: tuple[int, ...] = (2000, 30_000)) -> str:
    name = f"oci:{tmp_path / 'gen'}:s{seed}"
    with parse_image_name(name).new_destination() as dest:
        write_random_image(dest, seed=seed, layer_sizes=layer_sizes)
    return name


# -- oci-archive ---------------------------------------------------------------


def test_parse_oci_archive() -> None:
    assert parse_oci("/a.tar:v1") == OCIArchiveReference("/a.tar", "v1")
    assert str(parse_image_name("oci-archive:/a.tar")) == "oci-archive:/a.tar"
    with pytest.raises(InvalidImageNameError):
        parse_oci(":v1")


def test_oci_archive_members_are_named_like_skopeos(tmp_path: Path) -> None:
    src = _oci_source(tmp_path)
    copy_image(src, f"oci-archive:{tmp_path / 'ours.tar'}:v1")
    _skopeo("copy", "-q", src, f"oci-archive:{tmp_path / 'theirs.tar'}:v1")
    assert _members(tmp_path / "ours.tar") == _members(tmp_path / "theirs.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen", "ours.tar", "theirs.tar"]  # no staging left


def test_oci_archive_is_replaced_whole_and_uncommitted_writes_vanish(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    with parse_image_name(f"oci-archive:{archive}:one").new_destination() as dest:
        write_random_image(dest, seed=1)
    with parse_image_name(f"oci-archive:{archive}:two").new_destination() as dest:
        index = write_random_index(dest, seed=2)
    with pytest.raises(ImageNotFoundError):  # as skopeo: the archive holds only what was written last
        parse_image_name(f"oci-archive:{archive}:one").new_source()
    with parse_image_name(f"oci-archive:{archive}").new_source() as source:
        assert source.manifest()[0] == index.raw
    before = archive.read_bytes()
    with parse_image_name(f"oci-archive:{archive}:three").new_destination() as dest:
        write_random_image(dest, seed=3, commit=False)
    assert archive.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]
    check_image(f"oci-archive:{archive}:two")


@pytest.mark.parametrize("compress", [False, True])
def test_oci_archive_made_by_gnu_tar_and_gzip(tmp_path: Path, compress: bool) -> None:
    """``./``-prefixed members (GNU tar) and a gzip-compressed archive are read too."""
    layout = tmp_path / "layout"
    with parse_image_name(f"oci:{layout}:v1").new_destination() as dest:
        manifest = write_random_image(dest)
    archive = tmp_path / "a.tar"
    subprocess.run(["tar", "-C", str(layout), "-cf", str(archive), "."], check=True, timeout=60)
    if compress:
        archive.write_bytes(gzip.compress(archive.read_bytes()))
    with parse_image_name(f"oci-archive:{archive}:v1").new_source() as source:
        assert source.manifest()[0] == manifest.raw
    check_image(f"oci-archive:{archive}:v1")


def test_oci_archive_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"oci-archive:{tmp_path / 'absent.tar'}").new_source()
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(LayoutError):
        parse_image_name(f"oci-archive:{tmp_path / 'junk.tar'}").new_source()
    with tarfile.open(tmp_path / "noindex.tar", "w") as tar:
        info = tarfile.TarInfo("oci-layout")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(LayoutError, match="no index"):
        parse_image_name(f"oci-archive:{tmp_path / 'noindex.tar'}").new_source()


# -- docker-archive ------------------------------------------------------------


def test_parse_docker_archive() -> None:
    assert parse_docker("/a.tar") == DockerArchiveReference("/a.tar")
    assert parse_docker("/a.tar:@2") == DockerArchiveReference("/a.tar", index=2)
    ref = parse_docker("/a.tar:busybox")
    assert ref.tag == parse_reference("docker.io/library/busybox:latest")
    assert str(ref) == "docker-archive:/a.tar:docker.io/library/busybox:latest"
    assert ref.docker_reference == ref.tag
    for bad in ("", "/a.tar:@-1", "/a.tar:@x", "/a.tar:app@sha256:" + "0" * 64, "/a.tar:Upper"):
        with pytest.raises(InvalidImageNameError):
            parse_docker(bad)


def test_docker_archive_equals_skopeos_member_for_member(tmp_path: Path) -> None:
    src = _oci_source(tmp_path, layer_sizes=(4000, 50_000, 100))
    for tag in ("example.com/app:1", ""):
        suffix = f":{tag}" if tag else ""
        ours, theirs = tmp_path / f"ours{len(tag)}.tar", tmp_path / f"theirs{len(tag)}.tar"
        copy_image(src, f"docker-archive:{ours}{suffix}")
        _skopeo("copy", "-q", src, f"docker-archive:{theirs}{suffix}")
        assert _members(ours) == _members(theirs)


def test_docker_archive_source_generates_skopeos_manifest(tmp_path: Path) -> None:
    src = _oci_source(tmp_path)
    archive = tmp_path / "a.tar"
    _skopeo("copy", "-q", src, f"docker-archive:{archive}:example.com/app:1")
    with parse_image_name(f"docker-archive:{archive}").new_source() as source:
        raw, media_type = source.manifest()
    assert media_type == mt.DOCKER_MANIFEST
    assert raw.decode() == _skopeo("inspect", "--raw", f"docker-archive:{archive}")
    check_image(f"docker-archive:{archive}:example.com/app:1")


def _hand_made_archive(tmp_path: Path, gzip_layers: bool) -> Path:
    """Two images in one archive, as ``docker save a b`` writes it, layers optionally gzip-compressed."""
    archive = tmp_path / "multi.tar"
    items = []
    with tarfile.open(archive, "w") as tar:
        for i, tag in enumerate(("example.com/a:1", "example.com/b:2")):
            with parse_image_name(f"dir:{tmp_path / f'd{i}'}").new_destination() as dest:
                image = write_random_image(dest, seed=10 + i, compression="none", oci=False)
            layers = []
            for layer in image.layers:
                data = (tmp_path / f"d{i}" / layer.digest.hex).read_bytes()
                if gzip_layers:
                    data = gzip.compress(data)
                name = f"{layer.digest.hex}/layer.tar"
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                layers.append(name)
            config = (tmp_path / f"d{i}" / image.config.digest.hex).read_bytes()
            info = tarfile.TarInfo(f"{image.config.digest.hex}.json")
            info.size = len(config)
            tar.addfile(info, io.BytesIO(config))
            items.append({"Config": info.name, "RepoTags": [tag], "Layers": layers})
        data = json.dumps(items).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.mark.parametrize("gzip_layers", [False, True])
def test_docker_archive_with_several_images(tmp_path: Path, gzip_layers: bool) -> None:
    archive = _hand_made_archive(tmp_path, gzip_layers)
    with pytest.raises(InvalidImageNameError, match="holds 2 images"):
        parse_image_name(f"docker-archive:{archive}").new_source()
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"docker-archive:{archive}:example.com/c:3").new_source()
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"docker-archive:{archive}:@2").new_source()
    for i, name in enumerate(("example.com/b:2", "@1")):
        with parse_image_name(f"docker-archive:{archive}:{name}").new_source() as source:
            raw = source.manifest()[0]
            assert raw.decode() == _skopeo("inspect", "--raw", f"docker-archive:{archive}:{name}"), i
            manifest = parse_manifest(raw)
            assert isinstance(manifest, ImageManifest)
            for layer in manifest.layers:  # served uncompressed, addressed by diffID
                with source.blob(layer) as stream:
                    data = stream.read()
                assert digest_bytes(data) == layer.digest
                assert len(data) == layer.size
            with pytest.raises(BlobNotFoundError):
                source.blob(manifest.layers[0].evolve(digest=digest_bytes(b"absent")))
        check_image(f"docker-archive:{archive}:{name}")


def test_docker_archive_destination_refusals(tmp_path: Path) -> None:
    existing = tmp_path / "exists.tar"
    existing.write_bytes(b"x")
    with pytest.raises(UnsupportedError, match="modifying existing"):
        parse_image_name(f"docker-archive:{existing}").new_destination()
    assert existing.read_bytes() == b"x"
    with pytest.raises(InvalidImageNameError):
        parse_image_name(f"docker-archive:{tmp_path / 'n.tar'}:@0").new_destination()
    with parse_image_name(f"docker-archive:{tmp_path / 'l.tar'}").new_destination() as dest:
        assert not dest.capabilities.accepts_lists
        with pytest.raises(UnsupportedError):
            write_random_index(dest, oci=False, compression="none")
        with pytest.raises(UnsupportedError):  # OCI manifests are the copy's job to convert
            write_random_image(dest, oci=True, compression="none")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.tar"]


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_archives_write_through_symlinks_and_pipes(tmp_path: Path, transport: str) -> None:
    """A link (think /dev/stdout) is written through, never replaced; a FIFO is streamed into."""
    src = _oci_source(tmp_path)
    (tmp_path / "link.tar").symlink_to(tmp_path / "target.tar")
    copy_image(src, f"{transport}:{tmp_path / 'link.tar'}")
    assert (tmp_path / "link.tar").is_symlink()
    check_image(f"{transport}:{tmp_path / 'target.tar'}")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    copy_image(src, f"{transport}:{fifo}")
    reader.join(timeout=60)
    (tmp_path / "from-fifo.tar").write_bytes(received[0])
    check_image(f"{transport}:{tmp_path / 'from-fifo.tar'}")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
