"""Keeping the list digest: merge_manifest, then copies into the local store and to registries."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lighter import check_image
from lighter.cache import (
    Cache,
    attach_manifest_lists,
    cached_lists,
    container_source,
    fetch,
    map_input,
    merge_manifest,
    parse_sources,
    verify,
)
from lighter.copy import copy_image
from lighter.digest import Digest, digest_bytes
from lighter.errors import CacheError, NotFoundError
from lighter.manifest import Index, manifest_digest
from lighter.platform import host_platform
from lighter.testing.random import write_random_index
from lighter.transports import parse_image_name
from tests.fixtures_images import RunResult
from tests.fixtures_registry import RegistryServer


@dataclass(frozen=True)
class Pinned:
    """A list in a registry, fetched into a cache: the list index-only, this machine's instance whole."""

    cache: Cache
    index: Index
    instance: Digest
    image_id: Digest
    others: tuple[Digest, ...]
    repo: str


def _other_platform() -> str:
    return "linux/arm64" if host_platform().architecture != "arm64" else "linux/amd64"


@pytest.fixture
def pinned(registry: RegistryServer, repo_name: str, tmp_path: Path) -> Pinned:
    host = host_platform()
    platforms = (f"{host.os}/{host.architecture}", _other_platform(), "linux/s390x")
    with parse_image_name(registry.ref(f"{repo_name}:multi")).new_destination(registry.options()) as dest:
        index = write_random_index(dest, platforms=platforms, seed=41)
    chosen = index.choose(host)
    with parse_image_name(registry.ref(f"{repo_name}@{chosen.digest}")).new_source(registry.options()) as src:
        image_id = json.loads(src.manifest(chosen.digest)[0])["config"]["digest"]
    name = f"{registry.host}/{repo_name}"
    description = {
        "org.osbuild.skopeo": {
            "items": {image_id: {"image": {"name": name, "digest": str(chosen.digest), "tls-verify": False}}}
        },
        "org.osbuild.skopeo-index": {"items": {str(index.digest): {"image": {"name": name, "tls-verify": False}}}},
    }
    cache = Cache(str(tmp_path / "cache"))
    fetch(cache, parse_sources(description))
    others = tuple(m.digest for m in index.manifests if m.digest != chosen.digest)
    return Pinned(cache, index, chosen.digest, Digest("sha256", image_id.split(":")[1]), others, repo_name)


def _merged_copy(pinned: Pinned, tmp_path: Path) -> Path:
    """A copy of the cached image with the list merged into it."""
    target = tmp_path / "merged"
    shutil.copytree(pinned.cache.image_path(pinned.image_id), target)
    assert merge_manifest(pinned.cache.list_path(pinned.index.digest), str(target)) == pinned.instance
    return target


def test_merge_manifest_layout(pinned: Pinned, tmp_path: Path, run_tool: Callable[..., RunResult]) -> None:
    image_raw = (Path(pinned.cache.image_path(pinned.image_id)) / "manifest.json").read_bytes()
    merged = _merged_copy(pinned, tmp_path)
    assert (merged / "manifest.json").read_bytes() == pinned.index.raw
    assert (merged / f"{pinned.instance.hex}.manifest.json").read_bytes() == image_raw
    digest = run_tool("skopeo", "manifest-digest", str(merged / "manifest.json"))
    assert digest.stdout.strip() == str(pinned.index.digest)
    raw = run_tool("skopeo", "inspect", "--raw", f"dir:{merged}")
    assert raw.returncode == 0, raw.stderr
    assert digest_bytes(raw.stdout.encode()) == pinned.index.digest
    # skopeo reads the merged directory as the list, and this machine's instance from it
    config = run_tool("skopeo", "inspect", "--config", "--raw", f"dir:{merged}")
    assert config.returncode == 0, config.stderr
    assert digest_bytes(config.stdout.encode()) == pinned.image_id

    with pytest.raises(CacheError, match="holds a manifest list already"):
        merge_manifest(pinned.cache.list_path(pinned.index.digest), str(merged))


def test_merge_list_cli_on_a_fetched_instance(
    pinned: Pinned, tmp_path: Path, run_lighter: Callable[..., RunResult], run_tool: Callable[..., RunResult]
) -> None:
    target = tmp_path / "merged-by-cli"
    shutil.copytree(pinned.cache.image_path(pinned.image_id), target)
    image_raw = (target / "manifest.json").read_bytes()
    list_file = pinned.cache.list_path(pinned.index.digest)
    done = run_lighter("merge-list", list_file, f"dir:{target}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"merged: {target} keeps its image {pinned.instance} under the list of {list_file}"
    assert (target / "manifest.json").read_bytes() == pinned.index.raw == Path(list_file).read_bytes()
    assert (target / f"{pinned.instance.hex}.manifest.json").read_bytes() == image_raw
    assert manifest_digest(image_raw) == pinned.instance
    raw = run_tool("skopeo", "inspect", "--raw", f"dir:{target}")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.encode() == pinned.index.raw
    listed = {m["digest"] for m in json.loads(raw.stdout)["manifests"]}
    assert listed == {str(pinned.instance), *map(str, pinned.others)}
    # and skopeo finds this machine's instance, the fetched one, through the list
    config = run_tool("skopeo", "inspect", "--config", "--raw", f"dir:{target}")
    assert config.returncode == 0, config.stderr
    assert digest_bytes(config.stdout.encode()) == pinned.image_id


def test_merge_refuses_a_list_that_does_not_name_the_image(pinned: Pinned, tmp_path: Path) -> None:
    target = tmp_path / "plain"
    shutil.copytree(pinned.cache.image_path(pinned.image_id), target)
    other = tmp_path / "other-list.json"
    with parse_image_name(f"oci:{tmp_path / 'layout'}:x").new_destination() as dest:
        other.write_bytes(write_random_index(dest, seed=99).raw)
    before = sorted(os.listdir(target))
    with pytest.raises(CacheError, match=f"does not name the image {pinned.instance}"):
        merge_manifest(str(other), str(target))
    assert sorted(os.listdir(target)) == before


def test_merged_dir_into_the_store_answers_to_the_list_digest(
    pinned: Pinned, tmp_path: Path, run_lighter: Callable[..., RunResult]
) -> None:
    merged = _merged_copy(pinned, tmp_path)
    root = tmp_path / "store"
    done = run_lighter("copy", "-q", f"dir:{merged}", f"store:[{root}]app:1")
    assert done.returncode == 0, done.stderr

    by_list = run_lighter("inspect", f"store:[{root}]app@{pinned.index.digest}")
    assert by_list.returncode == 0, by_list.stderr
    shown = json.loads(by_list.stdout)
    by_own = json.loads(run_lighter("inspect", f"store:[{root}]app@{pinned.instance}").stdout)
    assert shown["Digest"] == str(pinned.index.digest)
    assert by_own["Digest"] == str(pinned.instance)
    assert shown["Layers"] == by_own["Layers"] and shown["Architecture"] == host_platform().architecture
    config = run_lighter("inspect", "--config", "--raw", f"store:[{root}]app@{pinned.index.digest}")
    assert digest_bytes(config.stdout.encode()) == pinned.image_id
    check_image(f"store:[{root}]app@{pinned.instance}")

    images = run_lighter("images", "--root", str(root), "--digests")
    assert images.returncode == 0, images.stderr
    assert str(pinned.instance) in images.stdout and str(pinned.index.digest) in images.stdout
    listed = json.loads(run_lighter("images", "--root", str(root), "--format", "json").stdout)
    assert f"localhost/app@{pinned.index.digest}" in listed[0]["RepoDigests"]

    # the list's bytes are kept by gc, since the image answers to them
    gc = run_lighter("store", "gc", "--root", str(root))
    assert gc.returncode == 0, gc.stderr
    again = run_lighter("inspect", "--raw", f"store:[{root}]app@{pinned.index.digest}")
    assert again.returncode == 0, again.stderr
    assert again.stdout.encode() == pinned.index.raw


def test_merged_dir_all_to_a_registry_holding_the_other_instances(
    pinned: Pinned,
    registry: RegistryServer,
    tmp_path: Path,
    run_lighter: Callable[..., RunResult],
    run_tool: Callable[..., RunResult],
) -> None:
    merged = _merged_copy(pinned, tmp_path)
    target = f"{pinned.repo}-mirror"
    for digest in pinned.others:  # the registry holds the other instances, but not the list
        copy_image(
            registry.ref(f"{pinned.repo}@{digest}"),
            registry.ref(f"{target}@{digest}"),
            src_options=registry.options(),
            dst_options=registry.options(),
        )
    done = run_lighter("copy", "-q", "--all", "--dest-tls-verify=false", f"dir:{merged}", registry.ref(f"{target}:v1"))
    assert done.returncode == 0, done.stderr
    raw = run_tool("skopeo", "inspect", "--raw", "--tls-verify=false", registry.ref(f"{target}:v1"))
    assert raw.returncode == 0, raw.stderr
    assert digest_bytes(raw.stdout.encode()) == pinned.index.digest
    by_digest = run_tool(
        "skopeo", "inspect", "--raw", "--tls-verify=false", registry.ref(f"{target}@{pinned.index.digest}")
    )
    assert by_digest.returncode == 0, by_digest.stderr
    # and the instance it carried is there too, whole: the list and all its instances check out
    inst = run_tool("skopeo", "inspect", "--tls-verify=false", registry.ref(f"{target}@{pinned.instance}"))
    assert inst.returncode == 0, inst.stderr
    report = check_image(registry.ref(f"{target}@{pinned.index.digest}"), registry.options())
    assert sorted(report.manifests) == sorted([pinned.index.digest, pinned.instance, *pinned.others])


def test_merged_dir_all_to_an_empty_repository_writes_no_list(
    pinned: Pinned, registry: RegistryServer, tmp_path: Path, run_lighter: Callable[..., RunResult]
) -> None:
    merged = _merged_copy(pinned, tmp_path)
    target = f"{pinned.repo}-empty"
    mark = registry.log_mark()
    failed = run_lighter(
        "copy", "-q", "--all", "--dest-tls-verify=false", f"dir:{merged}", registry.ref(f"{target}:v1")
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("lighter: error: not writing the manifest list")
    assert len(failed.stderr.strip().splitlines()) == 1
    for digest in pinned.others:
        assert str(digest) in failed.stderr
    assert str(pinned.instance) not in failed.stderr.split("instances", 1)[1]
    puts = [e.path for e in registry.requests(mark) if e.method == "PUT" and "/manifests/" in e.path]
    assert all(str(pinned.instance) in path for path in puts)  # only the instance it holds; never the list
    for ref in (f"{target}:v1", f"{target}@{pinned.index.digest}"):
        with pytest.raises(NotFoundError), parse_image_name(registry.ref(ref)).new_source(registry.options()) as src:
            src.manifest()


def test_container_source_merges_a_private_copy(pinned: Pinned, tmp_path: Path) -> None:
    images = map_input(
        {
            "type": "org.osbuild.containers",
            "origin": "org.osbuild.source",
            "references": [{"id": str(pinned.image_id), "options": {"name": "localhost/app:pinned"}}],
        },
        cache=pinned.cache,
    )
    [image] = attach_manifest_lists(images, cached_lists(pinned.cache, [pinned.index.digest]))
    assert image.manifest_list == pinned.cache.list_path(pinned.index.digest)
    cached = Path(pinned.cache.image_path(pinned.image_id))
    before = {p.name: p.read_bytes() for p in cached.iterdir()}
    root = tmp_path / "store"
    with container_source(image) as (name, source):
        assert name == "localhost/app:pinned"
        assert source.startswith("dir:") and os.path.basename(source) == "image"
        copy_image(source, f"store:[{root}]{name}")
        temporary = source.removeprefix("dir:")
    assert not os.path.exists(temporary)
    with parse_image_name(f"store:[{root}]localhost/app@{pinned.index.digest}").new_source() as src:
        assert src.manifest()[0] == pinned.index.raw
    check_image(f"store:[{root}]localhost/app@{pinned.instance}")  # the sparse list holds this one instance
    # the cache entry is untouched: still the plain image (beside its record), still whole
    assert {p.name: p.read_bytes() for p in cached.iterdir()} == before
    assert manifest_digest(before["manifest.json"]) == pinned.instance
    assert before[f"{pinned.instance.hex}.manifest.json"] == before["manifest.json"]
    assert verify(pinned.cache).corrupt == ()

    store_image = image.__class__(str(pinned.image_id), "app", "store", str(root))
    with container_source(store_image) as (name, source):
        assert source == f"store:[{root}]@{pinned.image_id.hex}"
        with parse_image_name(source).new_source() as src:
            assert json.loads(src.manifest()[0])["config"]["digest"] == str(pinned.image_id)
