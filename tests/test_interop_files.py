"""The file transports against the real tools: skopeo and umoci read what lighter writes and back.

Digests are compared with what skopeo itself computes (``skopeo inspect``,
``skopeo manifest-digest``); nothing is hard-coded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter.copy import CopyOptions, copy_image
from lighter.digest import Digest, digest_bytes
from lighter.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    InvalidManifestError,
    LayoutError,
    LighterError,
    ManifestTooLargeError,
)
from lighter.manifest import ImageManifest, Index, parse_manifest
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name
from lighter.validate import check_image

pytestmark = pytest.mark.interop


def _run(*argv: str) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result.stdout


def _skopeo(*args: str) -> str:
    return _run("/usr/bin/skopeo", *args)


def _skopeo_digest(path: Path) -> str:
    return _skopeo("manifest-digest", str(path)).strip()


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _lighter_digest(name: str) -> Digest:
    with parse_image_name(name).new_source() as source:
        return digest_bytes(source.manifest()[0])


NAMES: dict[str, Callable[[Path], str]] = {
    "dir": lambda p: f"dir:{p / 'out-dir'}",
    "oci": lambda p: f"oci:{p / 'out-oci'}:v1",
    "oci-archive": lambda p: f"oci-archive:{p / 'out.oci.tar'}:v1",
    "docker-archive": lambda p: f"docker-archive:{p / 'out.docker.tar'}:example.com/app:v1",
}


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_skopeo_reads_and_copies_what_lighter_writes(tmp_path: Path, kind: str) -> None:
    name = NAMES[kind](tmp_path)
    with parse_image_name(f"oci:{tmp_path / 'gen'}:v1").new_destination() as dest:
        written = write_random_image(dest, layer_sizes=(3000, 80_000), seed=5)
    copy_image(f"oci:{tmp_path / 'gen'}:v1", name)
    ours = _lighter_digest(name)
    raw = _skopeo("inspect", "--raw", name).encode()
    if kind != "docker-archive":
        assert raw == written.raw  # the bytes given, unchanged
    assert digest_bytes(raw) == ours
    inspected = json.loads(_skopeo("inspect", name))
    assert inspected["Digest"] == str(ours)
    assert inspected["Architecture"] == "amd64"
    _skopeo("copy", "-q", name, f"dir:{tmp_path / 'copied'}")
    assert _skopeo_digest(tmp_path / "copied" / "manifest.json") == str(ours)


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_lighter_reads_what_skopeo_writes(tmp_path: Path, kind: str) -> None:
    with parse_image_name(f"oci:{tmp_path / 'gen'}:v1").new_destination() as dest:
        written = write_random_image(dest, layer_sizes=(5000, 20_000), seed=6)
    name = NAMES[kind](tmp_path)
    _skopeo("copy", "-q", f"oci:{tmp_path / 'gen'}:v1", name)
    theirs = json.loads(_skopeo("inspect", name))
    with parse_image_name(name).new_source() as source:
        raw, _ = source.manifest()
        assert str(digest_bytes(raw)) == theirs["Digest"]
        manifest = parse_manifest(raw)
        assert isinstance(manifest, ImageManifest)
        assert [str(layer.digest) for layer in manifest.layers] == theirs["Layers"]
        if kind != "docker-archive":
            assert raw == written.raw
            for layer in manifest.layers:  # the blobs are the very bytes first written
                with source.blob(layer) as stream:
                    data = stream.read()
                assert data == (tmp_path / "gen" / "blobs" / "sha256" / layer.digest.hex).read_bytes()
    check_image(name)
    # and back out through lighter: skopeo agrees on the digest of the copy
    result = copy_image(name, f"dir:{tmp_path / 'back'}")
    assert _skopeo_digest(tmp_path / "back" / "manifest.json") == str(result.digest)


@pytest.mark.parametrize("lighter_kind", ["dir", "oci"])
def test_lists_keep_instance_digests_both_ways(tmp_path: Path, lighter_kind: str) -> None:
    name = NAMES[lighter_kind](tmp_path)
    with parse_image_name(name).new_destination() as dest:
        index = write_random_index(dest, platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"), seed=7)
    _skopeo("copy", "-q", "--all", name, f"dir:{tmp_path / 'skopeo-dir'}")
    assert (tmp_path / "skopeo-dir" / "manifest.json").read_bytes() == index.raw
    for desc in index.manifests:
        instance = tmp_path / "skopeo-dir" / f"{desc.digest.hex}.manifest.json"
        assert _skopeo_digest(instance) == str(desc.digest)
    # skopeo's directory read back by lighter into a fresh layout, then checked by skopeo again
    copy_image(f"dir:{tmp_path / 'skopeo-dir'}", f"oci:{tmp_path / 'again'}:l", CopyOptions(multi_arch="all"))
    raw = _skopeo("inspect", "--raw", f"oci:{tmp_path / 'again'}:l").encode()
    assert raw == index.raw
    again = parse_manifest(raw)
    assert isinstance(again, Index)
    assert [m.digest for m in again.manifests] == [m.digest for m in index.manifests]
    check_image(f"oci:{tmp_path / 'again'}:l")


def test_umoci_reads_lighters_layouts(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with parse_image_name(f"oci:{layout}:v1").new_destination() as dest:
        manifest = write_random_image(dest, layer_sizes=(1000, 2000), seed=8)
    stat = json.loads(_run("/usr/bin/umoci", "stat", "--json", "--image", f"{layout}:v1"))
    assert len(stat["history"]) == len(manifest.layers)
    _run("/usr/bin/umoci", "unpack", "--image", f"{layout}:v1", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "layer1" / "random-8.bin").stat().st_size == 2000


def test_lighter_reads_umoci_made_layouts(tmp_path: Path) -> None:
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    _run("/usr/bin/umoci", "init", "--layout", str(layout))
    _run("/usr/bin/umoci", "new", "--image", f"{layout}:base")
    _run("/usr/bin/umoci", "unpack", "--image", f"{layout}:base", str(bundle))
    (bundle / "rootfs" / "hello.txt").write_text("hello from umoci\n")
    _run("/usr/bin/umoci", "repack", "--image", f"{layout}:new", str(bundle))
    name = f"oci:{layout}:new"
    assert str(_lighter_digest(name)) == json.loads(_skopeo("inspect", name))["Digest"]
    # umoci's own manifest blob, named by index.json: both tools' manifest-digest on the file
    manifests = json.loads((layout / "index.json").read_text())["manifests"]
    entry = next(m for m in manifests if m["annotations"]["org.opencontainers.image.ref.name"] == "new")
    blob = layout / "blobs" / "sha256" / entry["digest"].split(":", 1)[1]
    ours = _run(sys.executable, "-m", "lighter.cli.main", "manifest-digest", str(blob))
    assert ours.strip() == _skopeo_digest(blob) == entry["digest"]
    check_image(name)
    result = copy_image(name, f"oci-archive:{tmp_path / 'out.tar'}:new")
    assert (
        _skopeo("inspect", "--raw", f"oci-archive:{tmp_path / 'out.tar'}:new").encode()
        == _skopeo("inspect", "--raw", name).encode()
    )
    assert json.loads(_skopeo("inspect", f"oci-archive:{tmp_path / 'out.tar'}:new"))["Digest"] == str(result.digest)


# -- bad input: the specific error, and nothing changed on disk ----------------


def _break_layout_index(root: Path, manifest: ImageManifest) -> None:
    (root / "layout" / "index.json").unlink()


def _break_missing_blob(root: Path, manifest: ImageManifest) -> None:
    (root / "layout" / "blobs" / "sha256" / manifest.layers[0].digest.hex).unlink()


def _break_blob_bytes(root: Path, manifest: ImageManifest) -> None:
    path = root / "layout" / "blobs" / "sha256" / manifest.layers[0].digest.hex
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


BROKEN: dict[str, tuple[Callable[[Path, ImageManifest], None], str, type[LighterError]]] = {
    "layout without index.json": (_break_layout_index, "oci:{root}/layout:v1", LayoutError),
    "missing blob": (_break_missing_blob, "oci:{root}/layout:v1", BlobNotFoundError),
    "blob bytes not matching the digest": (_break_blob_bytes, "oci:{root}/layout:v1", DigestMismatchError),
    "5 MiB manifest.json": (
        lambda root, _m: (root / "dir" / "manifest.json").write_bytes(b" " * (5 * 1024 * 1024)),
        "dir:{root}/dir",
        ManifestTooLargeError,
    ),
    "invalid JSON manifest.json": (
        lambda root, _m: (root / "dir" / "manifest.json").write_bytes(b'{"schemaVersion": 2,'),
        "dir:{root}/dir",
        InvalidManifestError,
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_bad_input_raises_the_specific_error_and_changes_nothing(tmp_path: Path, case: str) -> None:
    src_root = tmp_path / "src"
    with parse_image_name(f"oci:{src_root / 'layout'}:v1").new_destination() as dest:
        # uncompressed, so that a flipped byte reaches the digest check rather than gzip's own CRC check
        manifest = write_random_image(dest, layer_sizes=(4000,), seed=9, compression="none")
    copy_image(f"oci:{src_root / 'layout'}:v1", f"dir:{src_root / 'dir'}")
    breaker, template, error = BROKEN[case]
    breaker(src_root, manifest)
    name = template.format(root=src_root)
    before = _snapshot(src_root)
    for dest_name in (f"dir:{tmp_path / 'to-dir'}", f"oci:{tmp_path / 'to-oci'}:v1"):
        with pytest.raises(error):
            copy_image(name, dest_name)
    with pytest.raises(error):
        check_image(name)
    assert _snapshot(src_root) == before
    # a failed copy into a new path leaves nothing there: no directory, no empty layout, no blobs
    assert not (tmp_path / "to-dir").exists()
    assert not (tmp_path / "to-oci").exists()
