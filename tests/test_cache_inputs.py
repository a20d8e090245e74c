"""Pipeline inputs: references in both forms, cache and pipeline-tree origins, unused manifest lists.

The cache is filled from lighter's local store (``containers-transport: store``),
so these tests need no registry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lighter import check_image
from lighter.cache import (
    Cache,
    ContainerImage,
    attach_manifest_lists,
    cached_lists,
    container_source,
    fetch,
    map_input,
    parse_sources,
    references,
)
from lighter.errors import CacheError, InvalidDescriptionError
from lighter.manifest import ImageManifest, Index
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name


def _store_image(root: Path, name: str, seed: int) -> ImageManifest:
    with parse_image_name(f"store:[{root}]{name}").new_destination() as dest:
        return write_random_image(dest, seed=seed)


def _store_index(root: Path, name: str, seed: int) -> Index:
    with parse_image_name(f"store:[{root}]{name}").new_destination() as dest:
        return write_random_index(dest, seed=seed)


def _store_item(root: Path, name: str, key: str, digest: str | None = None) -> dict[str, object]:
    image: dict[str, object] = {"name": name, "containers-transport": "store", "storage-location": str(root)}
    if digest:
        image["digest"] = digest
    return {key: {"image": image}}


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Cache, list[ImageManifest], Index]:
    """A cache holding two images and one list, fetched from a local store."""
    root = tmp_path / "store"
    images = [_store_image(root, f"app{i}", seed=i) for i in range(2)]
    index = _store_index(root, "multi", seed=7)
    items: dict[str, object] = {}
    for i, image in enumerate(images):
        items.update(_store_item(root, f"app{i}", str(image.config.digest), str(image.digest)))
    description = {
        "org.osbuild.skopeo": {"items": items},
        "org.osbuild.skopeo-index": {"items": _store_item(root, "multi", str(index.digest))},
    }
    cache = Cache(str(tmp_path / "cache"))
    report = fetch(cache, parse_sources(description), workers=2)
    assert len(report.fetched) == 3
    return cache, images, index


def test_references_object_and_array_forms_are_the_same() -> None:
    as_object = {"sha256:" + "1" * 64: {"name": "a"}, "sha256:" + "2" * 64: {"name": "b"}}
    as_array = [{"id": k, "options": v} for k, v in as_object.items()]
    assert references(as_object) == references(as_array) == as_object
    assert list(references(as_array)) == list(as_object)  # order kept


@pytest.mark.parametrize("form", ["object", "array"])
def test_source_origin_maps_cached_dir_images(filled: tuple[Cache, list[ImageManifest], Index], form: str) -> None:
    cache, images, _ = filled
    as_object = {str(i.config.digest): {"name": f"app{n}"} for n, i in enumerate(images)}
    refs: object = as_object if form == "object" else [{"id": k, "options": v} for k, v in as_object.items()]
    mapped = map_input({"type": "org.osbuild.containers", "origin": "org.osbuild.source", "references": refs}, cache)
    assert [(m.name, m.format) for m in mapped] == [("app0", "dir"), ("app1", "dir")]
    for image, item in zip(images, mapped, strict=True):
        assert item.ref == str(image.config.digest)
        assert (Path(item.path) / "manifest.json").read_bytes() == image.raw
        with container_source(item) as (_, source):
            check_image(source)


def test_source_origin_refuses_what_is_not_cached(filled: tuple[Cache, list[ImageManifest], Index]) -> None:
    cache, _, _ = filled
    missing = "sha256:" + "9" * 64
    with pytest.raises(CacheError, match=f"image {missing} is not in the cache"):
        map_input(
            {"type": "org.osbuild.containers", "origin": "org.osbuild.source", "references": {missing: {"name": "x"}}},
            cache,
        )
    with pytest.raises(InvalidDescriptionError, match=r"options\.name"):
        map_input(
            {"type": "org.osbuild.containers", "origin": "org.osbuild.source", "references": [{"id": missing}]},
            cache,
        )


def test_unused_manifest_lists_are_named(filled: tuple[Cache, list[ImageManifest], Index], tmp_path: Path) -> None:
    cache, images, index = filled
    mapped = map_input(
        {
            "type": "org.osbuild.containers",
            "origin": "org.osbuild.source",
            "references": {str(images[0].config.digest): {"name": "app0"}},
        },
        cache,
    )
    with pytest.raises(CacheError) as info:
        attach_manifest_lists(mapped, cached_lists(cache, [index.digest]))
    assert str(index.digest) in str(info.value)
    assert "match none of the container images" in str(info.value)
    # without lists, nothing is attached and nothing is unused
    assert attach_manifest_lists(mapped, {}) == mapped
    with pytest.raises(CacheError, match="is not in the cache"):
        cached_lists(cache, ["sha256:" + "8" * 64])


def _pipeline_input(form: str, refs: dict[str, dict[str, str]]) -> dict[str, object]:
    as_refs: object = refs if form == "object" else [{"id": k, "options": v} for k, v in refs.items()]
    return {"type": "org.osbuild.containers", "origin": "org.osbuild.pipeline", "references": as_refs}


@pytest.mark.parametrize("form", ["object", "array"])
def test_pipeline_origin_takes_the_first_regular_file(tmp_path: Path, form: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    first = write_random_image_archive(tree / "b-first.tar", seed=1)
    write_random_image_archive(tree / "c-second.tar", seed=2)
    (tree / "a-directory").mkdir()
    os.symlink("a-directory", tree / "0-link-to-a-directory")  # not a file: skipped
    os.symlink("nowhere.tar", tree / "0-broken-link.tar")  # not a file: skipped
    description = _pipeline_input(form, {"build": {"name": "os"}, "other": {"name": "os2"}})
    other = tmp_path / "other"
    other.mkdir()
    second_tree = write_random_image_archive(other / "only.tar", seed=3)
    mapped = map_input(description, trees={"build": str(tree), "other": str(other)})
    assert [(m.ref, m.name, m.format, os.path.basename(m.path)) for m in mapped] == [
        ("build", "os", "oci-archive", "b-first.tar"),
        ("other", "os2", "oci-archive", "only.tar"),
    ]
    for image, expected in zip(mapped, (first, second_tree), strict=True):
        with container_source(image) as (name, source):
            assert name == image.name and source.startswith("oci-archive:")
            assert ":" not in source.removeprefix("oci-archive:")
            with parse_image_name(source).new_source() as src:
                assert src.manifest()[0] == expected.raw
            check_image(source)


def test_pipeline_origin_follows_a_symlink_inside_the_tree_and_refuses_one_outside(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    write_random_image_archive(tree / "b-first.tar", seed=1)
    second = write_random_image_archive(tree / "sub" / "c-second.tar", seed=2)
    # as osbuild's os.path.isfile does, a link to a regular file counts, in the order of its own name
    os.symlink("sub/c-second.tar", tree / "a-link.tar")
    description = _pipeline_input("object", {"build": {"name": "os"}})
    [image] = map_input(description, trees={"build": str(tree)})
    assert os.path.basename(image.path) == "a-link.tar"
    with container_source(image) as (_, source), parse_image_name(source).new_source() as src:
        assert src.manifest()[0] == second.raw

    outside = tmp_path / "outside.tar"
    write_random_image_archive(outside, seed=4)
    for name, target in (("0-absolute.tar", str(outside)), ("0-relative.tar", "sub/../../outside.tar")):
        os.symlink(target, tree / name)
        with pytest.raises(CacheError) as info:
            map_input(description, trees={"build": str(tree)})
        assert str(info.value) == (
            f"pipeline build: {name} is a symlink to {outside.resolve()}, outside its tree {tree.resolve()}"
            " (expected a file inside the tree)"
        )
        os.unlink(tree / name)
    # a link that is not chosen is never looked at
    os.symlink(outside, tree / "z-outside.tar")
    assert os.path.basename(map_input(description, trees={"build": str(tree)})[0].path) == "a-link.tar"


def test_pipeline_tree_without_a_file_is_a_clear_error(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "only-a-directory").mkdir(parents=True)
    description = {
        "type": "org.osbuild.containers",
        "origin": "org.osbuild.pipeline",
        "references": {"p": {"name": "x"}},
    }
    with pytest.raises(CacheError, match=r"pipeline p: its tree .* holds no regular file"):
        map_input(description, trees={"p": str(tree)})
    with pytest.raises(CacheError, match="pipeline p has no tree"):
        map_input(description, trees={})


def test_container_source_of_a_plain_dir_image_links_it(filled: tuple[Cache, list[ImageManifest], Index]) -> None:
    cache, images, _ = filled
    image = ContainerImage(str(images[0].config.digest), "app0", "dir", cache.image_path(images[0].config.digest))
    with container_source(image) as (_, source):
        path = source.removeprefix("dir:")
        assert os.path.islink(path) and os.path.realpath(path) == os.path.realpath(image.path)
        with parse_image_name(source).new_source() as src:
            assert json.loads(src.manifest()[0])["config"]["digest"] == str(images[0].config.digest)
    assert not os.path.lexists(path)
    with (
        pytest.raises(CacheError, match="unknown container format"),
        container_source(
            ContainerImage("x", "x", "docker-archive", "/nowhere")  # type: ignore[arg-type]
        ),
    ):
        pass


def write_random_image_archive(path: Path, seed: int) -> ImageManifest:
    with parse_image_name(f"oci-archive:{path}").new_destination() as dest:
        return write_random_image(dest, seed=seed)
