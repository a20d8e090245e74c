"""`lighter copy` between the file transports, checked with skopeo on the far side.

Copies that keep digests, for every pair of transports, are in
test_copy_matrix.py.  Here: where the destination forces a conversion
(Docker → OCI layout, anything → docker-archive), lighter must produce the
same bytes skopeo produces for the same copy; and the list modes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lighter.copy import CopyOptions, copy_image
from lighter.digest import digest_bytes
from lighter.manifest import COMPRESSION_ANNOTATION, Descriptor, ImageManifest, Index, parse_manifest
from lighter.platform import parse_platform
from lighter.transports import parse_image_name
from lighter.validate import check_image
from tests.fixtures_images import RunResult, make_oci_image, make_oci_index

Run = Callable[..., RunResult]


def _ok(result: RunResult) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _raw(run_tool: Run, name: str) -> bytes:
    return _ok(run_tool("skopeo", "inspect", "--raw", name)).encode()


def test_docker_images_converted_like_skopeo(tmp_path: Path, run_tool: Run) -> None:
    """A Docker v2s2 image copied into an OCI layout is converted; the bytes must equal skopeo's."""
    make_oci_image(tmp_path / "gen", "t", oci=False, layer_sizes=(5000,))
    docker_dir = f"dir:{tmp_path / 'docker'}"
    copy_image(f"oci:{tmp_path / 'gen'}:t", docker_dir, CopyOptions(format="v2s2"))
    ours = copy_image(docker_dir, f"oci:{tmp_path / 'ours'}:t")
    _ok(run_tool("skopeo", "copy", "-q", docker_dir, f"oci:{tmp_path / 'theirs'}:t"))
    theirs = _raw(run_tool, f"oci:{tmp_path / 'theirs'}:t")
    assert _raw(run_tool, f"oci:{tmp_path / 'ours'}:t") == theirs
    assert ours.digest == digest_bytes(theirs)
    check_image(f"oci:{tmp_path / 'ours'}:t")


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_format_conversion_matches_skopeo(tmp_path: Path, fmt: str, run_tool: Run) -> None:
    make_oci_index(tmp_path / "gen", "t", oci=True, platforms=("linux/amd64", "linux/arm64"))
    src = f"oci:{tmp_path / 'gen'}:t"
    ours = copy_image(src, f"dir:{tmp_path / 'ours'}", CopyOptions(multi_arch="all", format=fmt))  # type: ignore[arg-type]
    _ok(run_tool("skopeo", "copy", "-q", "--all", "--format", fmt, src, f"dir:{tmp_path / 'theirs'}"))
    assert (tmp_path / "ours" / "manifest.json").read_bytes() == (tmp_path / "theirs" / "manifest.json").read_bytes()
    assert (
        str(ours.digest)
        == _ok(run_tool("skopeo", "manifest-digest", str(tmp_path / "theirs" / "manifest.json"))).strip()
    )
    check_image(f"dir:{tmp_path / 'ours'}")


def test_docker_archive_matches_skopeo(tmp_path: Path, run_tool: Run) -> None:
    make_oci_image(tmp_path / "gen", "t", layer_sizes=(4096, 70_000))
    src = f"oci:{tmp_path / 'gen'}:t"
    ours = f"docker-archive:{tmp_path / 'ours.tar'}:example.com/app:1"
    theirs = f"docker-archive:{tmp_path / 'theirs.tar'}:example.com/app:1"
    copy_image(src, ours)
    _ok(run_tool("skopeo", "copy", "-q", src, theirs))
    assert _raw(run_tool, ours) == _raw(run_tool, theirs)
    check_image(ours)
    # and back out of the archive into a directory, digests unchanged
    back = copy_image(ours, f"dir:{tmp_path / 'back'}")
    assert (
        str(back.digest) == _ok(run_tool("skopeo", "manifest-digest", str(tmp_path / "back" / "manifest.json"))).strip()
    )


def test_system_and_override_pick_like_skopeo(tmp_path: Path, run_tool: Run) -> None:
    make_oci_index(tmp_path / "gen", "t", platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    src = f"oci:{tmp_path / 'gen'}:t"
    for arch, variant in (("arm64", None), ("amd64", None), ("arm", "v7")):
        platform = parse_platform(f"linux/{arch}/{variant}" if variant else f"linux/{arch}")
        ours = copy_image(src, f"dir:{tmp_path / ('o' + arch)}", CopyOptions(system_platform=platform))
        args = ["--override-arch", arch, "--override-os", "linux"] + (
            ["--override-variant", variant] if variant else []
        )
        _ok(run_tool("skopeo", "copy", "-q", *args, src, f"dir:{tmp_path / ('t' + arch)}"))
        theirs = (tmp_path / ("t" + arch) / "manifest.json").read_bytes()
        assert (tmp_path / ("o" + arch) / "manifest.json").read_bytes() == theirs
        assert ours.digest == digest_bytes(theirs)


def _blob_names(source_name: str, instance: Descriptor) -> set[str]:
    """The ``dir:`` file names of an instance's config and layers."""
    with parse_image_name(source_name).new_source() as source:
        manifest = parse_manifest(source.manifest(instance.digest)[0])
    assert isinstance(manifest, ImageManifest)
    return {d.digest.hex for d in (manifest.config, *manifest.layers)}


def test_index_only_and_sparse_copies(tmp_path: Path, run_tool: Run) -> None:
    index = make_oci_index(tmp_path / "gen", "t", platforms=("linux/amd64", "linux/arm64", "linux/s390x"))
    src = f"oci:{tmp_path / 'gen'}:t"
    amd64, arm64, s390x = index.manifests
    copy_image(src, f"dir:{tmp_path / 'idx'}", CopyOptions(multi_arch="index-only"))
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["manifest.json", "version"]
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == index.raw

    # sparse: the list's very bytes, and of its instances only arm64's manifest and blobs
    sparse_dir = tmp_path / "sparse"
    sparse = copy_image(src, f"dir:{sparse_dir}", CopyOptions(platforms=(parse_platform("linux/arm64"),)))
    assert sparse.digest == index.digest
    assert (sparse_dir / "manifest.json").read_bytes() == index.raw
    assert _raw(run_tool, f"dir:{sparse_dir}") == index.raw
    assert sorted(p.name for p in sparse_dir.glob("*.manifest.json")) == [f"{arm64.digest.hex}.manifest.json"]
    blobs = {p.name for p in sparse_dir.iterdir()} - {"manifest.json", "version", f"{arm64.digest.hex}.manifest.json"}
    assert blobs == _blob_names(src, arm64)
    assert not blobs & (_blob_names(src, amd64) | _blob_names(src, s390x))

    # stripped: a new list whose entries are exactly the copied instance, described as before
    stripped_dir = tmp_path / "stripped"
    stripped = copy_image(
        src,
        f"dir:{stripped_dir}",
        CopyOptions(platforms=(parse_platform("linux/arm64"),), strip_removed_platforms=True),
    )
    raw = _raw(run_tool, f"dir:{stripped_dir}")
    assert stripped.digest == digest_bytes(raw) != index.digest
    written = parse_manifest(raw)
    assert isinstance(written, Index) and written.manifests == (arm64,)
    assert written.media_type == index.media_type and written.annotations == index.annotations
    assert sorted(p.name for p in stripped_dir.glob("*.manifest.json")) == [f"{arm64.digest.hex}.manifest.json"]
    check_image(f"dir:{stripped_dir}")


def test_recompression_keeps_diff_ids(tmp_path: Path, run_tool: Run) -> None:
    index = make_oci_index(tmp_path / "gen", "t", platforms=("linux/amd64", "linux/arm64"), layer_sizes=(200_000,))
    src = f"oci:{tmp_path / 'gen'}:t"
    result = copy_image(src, f"oci:{tmp_path / 'z'}:t", CopyOptions(multi_arch="all", compression="zstd"))
    assert result.digest != index.digest
    check_image(f"oci:{tmp_path / 'z'}:t")  # diffIDs of the zstd layers equal the config's
    zstd_list = _layout_list(tmp_path / "z", "t")
    # marked as containers/image marks zstd instances, so clients without zstd skip them
    assert [m.annotations.get(COMPRESSION_ANNOTATION) for m in zstd_list.manifests] == ["true", "true"]
    _ok(run_tool("skopeo", "copy", "-q", "--all", f"oci:{tmp_path / 'z'}:t", f"dir:{tmp_path / 'zdir'}"))
    instances = sorted((tmp_path / "zdir").glob("*.manifest.json"))
    assert len(instances) == 2
    for manifest in instances:
        assert b"tar+zstd" in manifest.read_bytes() and b"tar+gzip" not in manifest.read_bytes()
    # and back to gzip: the diffIDs still hold
    copy_image(f"oci:{tmp_path / 'z'}:t", f"dir:{tmp_path / 'g'}", CopyOptions(multi_arch="all", compression="gzip"))
    check_image(f"dir:{tmp_path / 'g'}")
    gzip_list = parse_manifest((tmp_path / "g" / "manifest.json").read_bytes())
    assert isinstance(gzip_list, Index)
    assert all(COMPRESSION_ANNOTATION not in m.annotations for m in gzip_list.manifests)
    # an unchanged copy keeps the marked list byte for byte
    again = copy_image(f"oci:{tmp_path / 'z'}:t", f"dir:{tmp_path / 'kept'}", CopyOptions(multi_arch="all"))
    assert again.digest == zstd_list.digest


def _layout_list(layout: Path, tag: str) -> Index:
    with parse_image_name(f"oci:{layout}:{tag}").new_source() as source:
        raw, media_type = source.manifest()
    found = parse_manifest(raw, media_type)
    assert isinstance(found, Index)
    return found
