"""Manifest lists against a real registry, OCI layouts and skopeo: issue 4's acceptance."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter import lists
from lighter import mediatype as mt
from lighter.digest import digest_bytes
from lighter.manifest import (
    COMPRESSION_ANNOTATION,
    ImageManifest,
    Index,
    manifest_digest,
    parse_config,
    parse_manifest,
)
from lighter.platform import Platform, host_platform
from lighter.store import Store
from lighter.testing.random import write_random_image
from lighter.transports import TransportOptions, parse_image_name
from lighter.validate import check_image
from tests.fixtures_images import make_oci_image, make_oci_index
from tests.fixtures_registry import RegistryServer, skopeo_raw

pytestmark = [pytest.mark.registry, pytest.mark.interop]

Run = Callable[..., subprocess.CompletedProcess[str]]


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=180, check=False)


def skopeo_index(server: RegistryServer, name: str) -> Index:
    parsed = parse_manifest(skopeo_raw(server, name))
    assert isinstance(parsed, Index)
    return parsed


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_list_from_registry_oci_layout_and_store_pushed_to_a_registry(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    root = str(tmp_path / "store")
    reg = registry.options()
    with parse_image_name(registry.ref(f"{repo_name}:amd64")).new_destination(reg) as dest:
        from_registry = write_random_image(dest, platform="linux/amd64", seed=1)
    from_layout = make_oci_image(tmp_path / "layout", "arm64", platform="linux/arm64", seed=2)
    with parse_image_name("store:local/s390x").new_destination(TransportOptions(store_root=root)) as dest:
        from_store = write_random_image(dest, platform="linux/s390x", seed=3, layer_sizes=(2048, 512))
    lists.create("app:multi", root=root)
    lists.add("app:multi", registry.ref(f"{repo_name}:amd64"), root=root, options=reg)
    lists.add("app:multi", f"oci:{tmp_path / 'layout'}:arm64", root=root)
    lists.add("app:multi", "store:local/s390x", root=root)
    lst = lists.load("app:multi", root=root)
    expected = {
        "linux/amd64": from_registry.digest,
        "linux/arm64": from_layout.digest,
        "linux/s390x": from_store.digest,
    }
    pushed = lists.push("app:multi", registry.ref(f"{repo_name}:multi"), root=root, src_options=reg, dst_options=reg)
    assert pushed.digest == lst.digest  # nothing converted: the list's own bytes
    index = skopeo_index(registry, f"{repo_name}:multi")
    assert index.raw == lst.index.raw
    assert {str(m.platform): m.digest for m in index.manifests} == expected
    assert {m.media_type for m in index.manifests} == {mt.OCI_MANIFEST}
    out = tmp_path / "copied"
    copied = skopeo("copy", "--all", *registry.skopeo_args("src"), registry.ref(f"{repo_name}:multi"), f"oci:{out}:x")
    assert copied.returncode == 0, copied.stderr
    with parse_image_name(f"oci:{out}:x").new_source() as source:
        raw, _ = source.manifest()
        assert manifest_digest(raw) == lst.digest
        for desc in index.manifests:
            assert manifest_digest(source.manifest(desc.digest)[0]) == desc.digest  # every instance unchanged
    check_image(f"oci:{out}:x")


@pytest.fixture
def skopeo_pushed_list(registry: RegistryServer, repo_name: str, tmp_path: Path) -> tuple[str, Index]:
    host = host_platform()
    platforms = ("linux/arm64", "linux/arm/v7", "linux/ppc64le", f"{host.os}/{host.architecture}")
    index = make_oci_index(tmp_path / "src", "l", platforms=tuple(dict.fromkeys(platforms)), seed=4)
    pushed = skopeo(
        "copy", "--all", *registry.skopeo_args("dest"), f"oci:{tmp_path / 'src'}:l", registry.ref(repo_name)
    )
    assert pushed.returncode == 0, pushed.stderr
    return registry.ref(repo_name), index


def test_manifest_add_of_a_skopeo_pushed_list(
    registry: RegistryServer, skopeo_pushed_list: tuple[str, Index], run_lighter: Run, tmp_path: Path
) -> None:
    name, index = skopeo_pushed_list
    env = {"LIGHTER_ROOT": str(tmp_path / "store")}
    by_platform = {str(m.platform): m.digest for m in index.manifests}
    for list_name, flags, wanted in (
        ("all", ["--all"], [m.digest for m in index.manifests]),
        ("mine", [], [index.choose(host_platform()).digest]),
        ("arm", ["--arch", "arm", "--variant", "v7"], [by_platform["linux/arm/v7"]]),
    ):
        ok(run_lighter("manifest", "create", list_name, env=env))
        ok(run_lighter("manifest", "add", *registry.lighter_args(), *flags, list_name, name, env=env))
        document = json.loads(ok(run_lighter("manifest", "inspect", list_name, env=env)))
        assert [d["digest"] for d in document["manifests"]] == [str(d) for d in wanted]
        for entry in document["manifests"]:
            assert str(by_platform[str(Platform.from_json(entry["platform"]))]) == entry["digest"]
    # and back to the registry from the command line, blobs fetched from where the instances were added
    digestfile = tmp_path / "digest"
    target = f"{name.removeprefix('docker://')}:again"
    ok(
        run_lighter(
            "manifest", "push", *registry.lighter_args(), "--digestfile", str(digestfile), "all", target, env=env
        )
    )
    raw = skopeo_raw(registry, target.split("/", 1)[1])
    assert raw == index.raw and digestfile.read_text() == str(index.digest)


def test_push_v2s2_and_zstd_variants_to_a_registry(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    for n, platform in enumerate(("linux/amd64", "linux/arm64")):
        with parse_image_name(f"store:img:{n}").new_destination(TransportOptions(store_root=root)) as dest:
            write_random_image(dest, platform=platform, seed=n, layer_sizes=(50_000, 3000))
    lst = lists.create("l", ["store:img:0", "store:img:1"], root=root)
    reg = registry.options()

    lists.push("l", registry.ref(f"{repo_name}:docker"), lists.PushOptions(format="v2s2"), root=root, dst_options=reg)
    docker = skopeo_index(registry, f"{repo_name}:docker")
    assert docker.media_type == mt.DOCKER_LIST
    for desc in docker.manifests:
        inner = parse_manifest(skopeo_raw(registry, f"{repo_name}@{desc.digest}"))
        assert isinstance(inner, ImageManifest) and inner.media_type == mt.DOCKER_MANIFEST
        assert desc.media_type == mt.DOCKER_MANIFEST
    check_image(registry.ref(f"{repo_name}:docker"), reg)

    options = lists.PushOptions(add_compression=("zstd",))
    lists.push("l", registry.ref(f"{repo_name}:zstd"), options, root=root, dst_options=reg)
    index = skopeo_index(registry, f"{repo_name}:zstd")
    assert len(index.manifests) == 2 * len(lst.index.manifests)
    assert index.manifests[:2] == lst.index.manifests
    variants = index.manifests[2:]
    assert all(v.annotations == {COMPRESSION_ANNOTATION: "true"} for v in variants)
    assert [v.platform for v in variants] == [m.platform for m in lst.index.manifests]
    # skopeo reads a zstd instance and recompresses it: it decompresses our zstd correctly
    zstd_ref = registry.ref(f"{repo_name}@{variants[1].digest}")
    inner = parse_manifest(skopeo_raw(registry, f"{repo_name}@{variants[1].digest}"))
    assert isinstance(inner, ImageManifest) and {x.media_type for x in inner.layers} == {mt.OCI_LAYER_ZSTD}
    out = tmp_path / "gz"
    copied = skopeo("copy", *registry.skopeo_args("src"), "--dest-compress-format", "gzip", zstd_ref, f"oci:{out}:x")
    assert copied.returncode == 0, copied.stderr
    # skopeo's output really is gzip, and its layers hold what the original (gzip) instance's layers hold
    store = Store(root)
    original = parse_manifest(store.blobs.read(lst.index.manifests[1].digest))
    assert isinstance(original, ImageManifest)
    with parse_image_name(f"oci:{out}:x").new_source() as source:
        recompressed = parse_manifest(*source.manifest())
        assert isinstance(recompressed, ImageManifest)
        assert [x.media_type for x in recompressed.layers] == [mt.OCI_LAYER_GZIP] * len(original.layers)
        diff_ids = parse_config(source.blob_bytes(recompressed.config)).diff_ids
        for theirs, ours, diff_id in zip(recompressed.layers, original.layers, diff_ids, strict=True):
            data = source.blob_bytes(theirs)
            assert data[:2] == b"\x1f\x8b"  # gzip's magic
            plain = gzip.decompress(data)
            assert digest_bytes(plain) == diff_id
            assert plain == gzip.decompress(store.blobs.read(ours.digest))
    check_image(f"oci:{out}:x")
    check_image(registry.ref(f"{repo_name}:zstd"), reg)


def layer_types(server: RegistryServer, repo: str, digest: object) -> set[str]:
    inner = parse_manifest(skopeo_raw(server, f"{repo}@{digest}"))
    assert isinstance(inner, ImageManifest)
    return {layer.media_type for layer in inner.layers}


def test_push_compression_format_zstd_with_add_compression_gzip(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    """The instances are rewritten as zstd, so gzip variants must be added: judged by what was written."""
    root = str(tmp_path / "store")
    for n, platform in enumerate(("linux/amd64", "linux/arm64")):
        with parse_image_name(f"store:img:{n}").new_destination(TransportOptions(store_root=root)) as dest:
            write_random_image(dest, platform=platform, seed=30 + n, layer_sizes=(20_000, 700))
    lst = lists.create("l", ["store:img:0", "store:img:1"], root=root)
    reg = registry.options()
    options = lists.PushOptions(compression="zstd", add_compression=("gzip",))
    pushed = lists.push("l", registry.ref(f"{repo_name}:zg"), options, root=root, dst_options=reg)
    index = skopeo_index(registry, f"{repo_name}:zg")
    assert index.digest == pushed.digest and len(index.manifests) == 4
    gzip_variants, zstd_instances = index.manifests[:2], index.manifests[2:]
    for desc in zstd_instances:
        assert layer_types(registry, repo_name, desc.digest) == {mt.OCI_LAYER_ZSTD}
        assert desc.annotations == {COMPRESSION_ANNOTATION: "true"}
    for desc in gzip_variants:
        assert layer_types(registry, repo_name, desc.digest) == {mt.OCI_LAYER_GZIP}
        assert desc.annotations == {}
    # a gzip variant of a gzip source is that source, byte for byte
    assert [d.digest for d in gzip_variants] == [m.digest for m in lst.index.manifests]
    expected_platforms = [m.platform for m in lst.index.manifests]
    assert [d.platform for d in gzip_variants] == [d.platform for d in zstd_instances] == expected_platforms
    # a client without zstd support picks the gzip instance
    assert index.choose(Platform("linux", "arm64")).digest == gzip_variants[1].digest
    check_image(registry.ref(f"{repo_name}:zg"), reg)
