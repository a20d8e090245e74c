"""Manifest lists in the local store through the Python API (lighter.lists), against real store images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lighter import lists
from lighter import mediatype as mt
from lighter.copy import copy_image
from lighter.digest import Digest, digest_bytes
from lighter.errors import (
    InstanceNotInListError,
    InstanceUnavailableError,
    ListNotFoundError,
    NotAManifestListError,
    StoreError,
    UnsupportedError,
)
from lighter.lists.sources import InstanceSource
from lighter.manifest import COMPRESSION_ANNOTATION, Descriptor, ImageManifest, Index, parse_manifest
from lighter.platform import Platform, host_platform
from lighter.store import Store
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import TransportOptions, parse_image_name
from lighter.validate import check_image

PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x")


def opts(root: Path) -> TransportOptions:
    return TransportOptions(store_root=str(root))


def put_image(root: Path, name: str, platform: str = "linux/amd64", seed: int = 0, oci: bool = True) -> ImageManifest:
    with parse_image_name(f"store:{name}").new_destination(opts(root)) as dest:
        return write_random_image(dest, platform=platform, seed=seed, oci=oci)


def put_index(root: Path, name: str, seed: int = 0) -> Index:
    with parse_image_name(f"store:{name}").new_destination(opts(root)) as dest:
        return write_random_index(dest, platforms=PLATFORMS, seed=seed)


def stored_index(root: Path, digest: Digest) -> Index:
    parsed = parse_manifest(Store(str(root)).blobs.read(digest))
    assert isinstance(parsed, Index)
    return parsed


# -- ops: pure edits ------------------------------------------------------------------------


def _desc(n: int, plat: str = "linux/amd64", **annotations: str) -> Descriptor:
    os_name, arch = plat.split("/")[:2]
    return Descriptor(
        mt.OCI_MANIFEST, digest_bytes(bytes([n])), 100 + n, annotations=annotations, platform=Platform(os_name, arch)
    )


def test_ops_add_remove_annotate_return_new_lists() -> None:
    empty = lists.ListState(lists.ops.new_index())
    one = lists.apply(empty, lists.AddInstance(_desc(1), "oci:/a:1"))
    two = lists.apply(one, lists.AddInstance(_desc(2, "linux/arm64"), "docker://r/x:1"))
    assert empty.index.manifests == () and len(one.index.manifests) == 1  # nothing changed in place
    assert [m.digest for m in two.index.manifests] == [_desc(1).digest, _desc(2).digest]
    assert two.locations == {_desc(1).digest: "oci:/a:1", _desc(2).digest: "docker://r/x:1"}
    # re-adding refreshes the entry in place and keeps its first location
    again = lists.apply(two, lists.AddInstance(_desc(1).evolve(annotations={"k": "v"}), "dir:/elsewhere"))
    assert again.index.manifests[0].annotations == {"k": "v"} and again.locations[_desc(1).digest] == "oci:/a:1"
    annotated = lists.apply(
        two,
        lists.Annotate(_desc(2).digest, {"a": "b"}, lists.PlatformChange(variant="v8", features=("sse4",))),
    )
    changed = annotated.index.manifests[1]
    assert changed.annotations == {"a": "b"}
    assert changed.platform == Platform("linux", "arm64", "v8", features=("sse4",))
    on_index = lists.apply(two, lists.Annotate(None, {"org.opencontainers.image.title": "t"}))
    assert on_index.index.annotations == {"org.opencontainers.image.title": "t"}
    removed = lists.apply(two, lists.RemoveInstance(_desc(1).digest))
    assert [m.digest for m in removed.index.manifests] == [_desc(2).digest]
    assert list(removed.locations) == [_desc(2).digest]


@pytest.mark.parametrize(
    "op",
    [lists.RemoveInstance(digest_bytes(b"x")), lists.Annotate(digest_bytes(b"x"), {"a": "b"})],
)
def test_ops_refuse_digests_not_in_the_list(op: lists.Op) -> None:
    state = lists.apply(lists.ListState(lists.ops.new_index()), lists.AddInstance(_desc(1), ""))
    with pytest.raises(InstanceNotInListError):
        lists.apply(state, op)


def test_docker_lists_take_no_annotations() -> None:
    state = lists.apply(lists.ListState(lists.ops.new_index(oci=False)), lists.AddInstance(_desc(1, a="b"), ""))
    assert state.index.manifests[0].annotations == {}
    with pytest.raises(UnsupportedError):
        lists.apply(state, lists.Annotate(_desc(1).digest, {"a": "b"}))


def test_zstd_variants_sort_last_and_stably() -> None:
    zstd = {COMPRESSION_ANNOTATION: "true"}
    order = (_desc(1), _desc(2, **zstd), _desc(3), _desc(4, **zstd), _desc(5))
    assert [d.digest for d in lists.zstd_last(order)] == [_desc(n).digest for n in (1, 3, 5, 2, 4)]


# -- create / add / remove / annotate ---------------------------------------------------------


def test_create_add_remove_annotate(tmp_path: Path) -> None:
    root = str(tmp_path)
    amd = put_image(tmp_path, "img:amd64", "linux/amd64", seed=1)
    arm = put_image(tmp_path, "img:arm64", "linux/arm64", seed=2, oci=False)
    created = lists.create("app:multi", root=root)
    assert created.index.manifests == () and created.index.media_type == mt.OCI_INDEX
    assert created.names == ("localhost/app:multi",)
    assert lists.add("app:multi", "store:img:amd64", root=root) == [amd.digest]
    assert lists.add("app:multi", "store:img:arm64", annotations={"k": "v"}, root=root) == [arm.digest]
    lst = lists.load("app:multi", root=root)
    assert lst.id == created.id
    first, second = lst.index.manifests
    # platform read from each image's config; sizes and media types from its manifest
    assert (first.platform, first.size, first.media_type) == (Platform("linux", "amd64"), len(amd.raw), amd.media_type)
    assert (second.platform, second.media_type) == (Platform("linux", "arm64"), mt.DOCKER_MANIFEST)
    assert second.annotations == {"k": "v"}
    assert lst.locations == {amd.digest: "store:localhost/img:amd64", arm.digest: "store:localhost/img:arm64"}
    annotated = lists.annotate(
        "app:multi", str(arm.digest), platform=lists.PlatformChange(variant="v8", os_version="1"), root=root
    )
    assert annotated.index.manifests[1].platform == Platform("linux", "arm64", "v8", os_version="1")
    lists.annotate("app:multi", None, annotations={"org.example": "x"}, root=root)
    after = lists.remove("app:multi", amd.digest, root=root)
    assert [m.digest for m in after.index.manifests] == [arm.digest]
    assert json.loads(after.index.raw)["annotations"] == {"org.example": "x"}
    record = Store(root).resolve("app:multi")
    assert record.digest == after.digest and record.is_list  # what was saved is what load returns
    assert lists.exists("app:multi", root=root) and not lists.exists("img:amd64", root=root)
    lists.rm("app:multi", root=root)
    assert not lists.exists("app:multi", root=root)
    check_image("store:img:amd64", opts(tmp_path))  # removing a list leaves its images


def test_create_refuses_existing_names_unless_amend(tmp_path: Path) -> None:
    root = str(tmp_path)
    put_image(tmp_path, "taken", seed=1)
    put_image(tmp_path, "one", seed=2)
    with pytest.raises(StoreError, match="already names an image"):
        lists.create("taken", root=root)
    first = lists.create("l", ["store:one"], root=root)
    with pytest.raises(StoreError, match=r"localhost/l:latest already names a manifest list \(\w{12}\) .*--amend"):
        lists.create("l", root=root)
    amended = lists.create("l", ["store:taken"], amend=True, root=root)
    assert amended.id == first.id and len(amended.index.manifests) == 2


def test_add_from_a_list_all_system_or_chosen_platform(tmp_path: Path) -> None:
    root = str(tmp_path)
    index = put_index(tmp_path, "upstream", seed=4)
    by_platform = {str(m.platform): m for m in index.manifests}
    lists.create("everything", root=root)
    added = lists.add("everything", "store:upstream", all=True, root=root)
    assert added == [m.digest for m in index.manifests]
    got = lists.load("everything", root=root)
    assert [(m.digest, m.platform) for m in got.index.manifests] == [(m.digest, m.platform) for m in index.manifests]
    lists.create("mine", root=root)
    host = host_platform()
    if str(Platform(host.os, host.architecture, host.variant)) in by_platform:
        assert lists.add("mine", "store:upstream", root=root) == [index.choose(host).digest]
    lists.create("arm", root=root)
    chosen = lists.add(
        "arm", "store:upstream", platform=lists.PlatformChange(architecture="arm", variant="v7"), root=root
    )
    assert chosen == [by_platform["linux/arm/v7"].digest]
    assert lists.load("arm", root=root).index.manifests[0].platform == Platform("linux", "arm", "v7")


def test_missing_platform_is_read_from_the_config(tmp_path: Path) -> None:
    root = str(tmp_path)
    amd = put_image(tmp_path, "a", "linux/amd64", seed=1)
    bare = Index(mt.OCI_INDEX, (Descriptor(amd.media_type, amd.digest, len(amd.raw)),))
    with parse_image_name("store:bare").new_destination(opts(tmp_path)) as dest:
        dest.put_manifest(bare.raw, bare.media_type)
        dest.commit()
    lists.create("l", root=root)
    lists.add("l", "store:bare", all=True, root=root)
    assert lists.load("l", root=root).index.manifests[0].platform == Platform("linux", "amd64")


def test_edit_errors_leave_the_store_unchanged(tmp_path: Path) -> None:
    root = str(tmp_path)
    put_image(tmp_path, "img", seed=1)
    lists.create("l", ["store:img"], root=root)
    before = Store(root).catalog.all()
    with pytest.raises(ListNotFoundError):
        lists.add("nothere", "store:img", root=root)
    with pytest.raises(InstanceNotInListError, match="'l'"):
        lists.remove("l", digest_bytes(b"nope"), root=root)
    with pytest.raises(NotAManifestListError):
        lists.add("img", "store:img", root=root)
    assert Store(root).catalog.all() == before


# -- push -----------------------------------------------------------------------------------


def make_list(root: Path, name: str = "l") -> lists.ManifestList:
    for n, plat in enumerate(PLATFORMS[:3]):
        put_image(root, f"img:{n}", plat, seed=n)
    return lists.create(name, [f"store:img:{n}" for n in range(3)], root=str(root))


def test_push_keeps_the_list_digest(tmp_path: Path) -> None:
    lst = make_list(tmp_path)
    result = lists.push("l", "store:pushed", root=str(tmp_path))
    assert result.digest == lst.digest
    report = check_image("store:pushed", opts(tmp_path))
    assert set(report.manifests) == {lst.digest, *(m.digest for m in lst.index.manifests)}


def test_push_v2s2_writes_a_docker_list_of_docker_images(tmp_path: Path) -> None:
    make_list(tmp_path)
    result = lists.push("l", "store:docker", lists.PushOptions(format="v2s2"), root=str(tmp_path))
    assert result.media_type == mt.DOCKER_LIST
    pushed = stored_index(tmp_path, result.digest)
    assert pushed.media_type == mt.DOCKER_LIST
    assert {m.media_type for m in pushed.manifests} == {mt.DOCKER_MANIFEST}
    for m in pushed.manifests:
        inner = parse_manifest(Store(str(tmp_path)).blobs.read(m.digest))
        assert isinstance(inner, ImageManifest) and inner.media_type == mt.DOCKER_MANIFEST
    check_image("store:docker", opts(tmp_path))


def test_push_add_compression_zstd_adds_marked_variants(tmp_path: Path) -> None:
    lst = make_list(tmp_path)
    result = lists.push("l", "store:z", lists.PushOptions(add_compression=("zstd",)), root=str(tmp_path))
    pushed = stored_index(tmp_path, result.digest)
    assert len(pushed.manifests) == 2 * len(lst.index.manifests)
    originals, variants = pushed.manifests[:3], pushed.manifests[3:]
    assert originals == lst.index.manifests  # the originals untouched and first
    assert [v.platform for v in variants] == [m.platform for m in originals]
    for variant in variants:
        assert variant.annotations == {COMPRESSION_ANNOTATION: "true"}
        inner = parse_manifest(Store(str(tmp_path)).blobs.read(variant.digest))
        assert isinstance(inner, ImageManifest)
        assert {layer.media_type for layer in inner.layers} == {mt.OCI_LAYER_ZSTD}
    # a client that does not know zstd still gets the gzip instance
    assert pushed.choose(Platform("linux", "arm64")).digest == originals[1].digest
    check_image("store:z", opts(tmp_path))  # decompresses every zstd layer and checks its diffID
    again = lists.push("z", "store:z2", lists.PushOptions(add_compression=("zstd",)), root=str(tmp_path))
    assert again.digest == result.digest  # variants already there: nothing added twice


def instance_layer_types(root: Path, digest: Digest) -> set[str]:
    inner = parse_manifest(Store(str(root)).blobs.read(digest))
    assert isinstance(inner, ImageManifest)
    return {layer.media_type for layer in inner.layers}


def marked(index: Index) -> list[bool]:
    return [m.annotations.get(COMPRESSION_ANNOTATION) == "true" for m in index.manifests]


def test_instances_rewritten_as_zstd_are_marked(tmp_path: Path) -> None:
    lst = make_list(tmp_path)
    result = lists.push("l", "store:z", lists.PushOptions(compression="zstd"), root=str(tmp_path))
    pushed = stored_index(tmp_path, result.digest)
    assert [m.platform for m in pushed.manifests] == [m.platform for m in lst.index.manifests]
    assert marked(pushed) == [True] * 3
    for desc in pushed.manifests:
        assert instance_layer_types(tmp_path, desc.digest) == {mt.OCI_LAYER_ZSTD}
    check_image("store:z", opts(tmp_path))


def test_zstd_instances_of_a_copied_list_are_marked_on_push(tmp_path: Path) -> None:
    """A list written with zstd instances and no marks (as by a plain copy) is pushed with the marks."""
    with parse_image_name("store:copied").new_destination(opts(tmp_path)) as dest:
        index = write_random_index(dest, platforms=PLATFORMS[:2], compression="zstd", seed=12)
    assert marked(index) == [False, False]
    result = lists.push("copied", "store:out", root=str(tmp_path))
    pushed = stored_index(tmp_path, result.digest)
    assert [m.digest for m in pushed.manifests] == [m.digest for m in index.manifests]  # same instances
    assert marked(pushed) == [True, True]
    check_image("store:out", opts(tmp_path))


def test_add_compression_gzip_to_a_zstd_list_puts_unmarked_gzip_variants_first(tmp_path: Path) -> None:
    make_list(tmp_path)
    lists.annotate("l", None, annotations={"org.example.list": "1"}, root=str(tmp_path))
    first = lists.load("l", root=str(tmp_path)).index.manifests[0]
    lists.annotate("l", first.digest, annotations={"org.example": "kept"}, root=str(tmp_path))
    zstd = lists.push("l", "store:zl", lists.PushOptions(compression="zstd"), root=str(tmp_path))
    assert marked(stored_index(tmp_path, zstd.digest)) == [True] * 3
    result = lists.push("zl", "store:both", lists.PushOptions(add_compression=("gzip",)), root=str(tmp_path))
    pushed = stored_index(tmp_path, result.digest)
    assert marked(pushed) == [False] * 3 + [True] * 3  # gzip first: clients without zstd pick them
    gzip_variants, zstd_instances = pushed.manifests[:3], pushed.manifests[3:]
    assert [m.digest for m in zstd_instances] == [m.digest for m in stored_index(tmp_path, zstd.digest).manifests]
    assert [m.platform for m in gzip_variants] == [m.platform for m in zstd_instances]
    for desc in gzip_variants:
        assert instance_layer_types(tmp_path, desc.digest) == {mt.OCI_LAYER_GZIP}
    # other annotations travel with the variant; only the compression mark is the variant's own
    assert gzip_variants[0].annotations == {"org.example": "kept"}
    assert zstd_instances[0].annotations == {"org.example": "kept", COMPRESSION_ANNOTATION: "true"}
    assert pushed.annotations == {"org.example.list": "1"}
    assert pushed.choose(Platform("linux", "arm64")).digest == gzip_variants[1].digest
    check_image("store:both", opts(tmp_path))


def test_push_zstd_to_docker_is_refused(tmp_path: Path) -> None:
    make_list(tmp_path)
    with pytest.raises(UnsupportedError, match="OCI"):
        lists.push("l", "store:x", lists.PushOptions(format="v2s2", add_compression=("zstd",)), root=str(tmp_path))


def test_push_without_all_pushes_this_machines_image(tmp_path: Path) -> None:
    lst = make_list(tmp_path)
    amd64 = lst.index.choose(Platform("linux", "amd64"))
    result = lists.push(
        "l", "store:one", lists.PushOptions(all=False, system_platform=Platform("linux", "amd64")), root=str(tmp_path)
    )
    assert result.digest == amd64.digest
    assert not Store(str(tmp_path)).resolve("one").is_list


def test_push_rm_removes_the_list(tmp_path: Path) -> None:
    make_list(tmp_path)
    lists.push("l", "store:out", lists.PushOptions(remove=True), root=str(tmp_path))
    assert not lists.exists("l", root=str(tmp_path))
    check_image("store:out", opts(tmp_path))


def test_push_of_a_vanished_instance_names_it_and_its_location(tmp_path: Path) -> None:
    other = tmp_path / "other"
    vanishing = put_image(other, "gone", "linux/arm64", seed=9)
    put_image(tmp_path, "kept", seed=1)
    lists.create("l", ["store:kept", f"store:[{other}]gone"], root=str(tmp_path))
    for path in sorted(other.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    before = Store(str(tmp_path)).catalog.all()
    with pytest.raises(InstanceUnavailableError) as caught:
        lists.push("l", "store:out", root=str(tmp_path))
    message = str(caught.value)
    assert str(vanishing.digest) in message and f"store:[{other}]localhost/gone:latest" in message
    assert "\n" not in message
    assert Store(str(tmp_path)).catalog.all() == before  # nothing pushed, nothing changed


def test_push_checks_every_blob_at_its_location_before_writing(tmp_path: Path) -> None:
    """An OCI layout that lost one layer: nothing reaches the destination layout, the error names the blob."""
    layout, held = tmp_path / "layout", tmp_path / "held"
    with parse_image_name(f"oci:{layout}:arm").new_destination() as dest:
        arm = write_random_image(dest, platform="linux/arm64", seed=14, layer_sizes=(4000, 3000))
    copy_image(f"oci:{layout}:arm", f"oci:{held}:arm")
    put_image(tmp_path, "kept", seed=1)
    lists.create("l", ["store:kept", f"oci:{layout}:arm"], root=str(tmp_path))
    gone = arm.layers[0].digest
    (layout / "blobs" / "sha256" / gone.hex).unlink()
    out = tmp_path / "out"  # a store destination writes blobs as they come: any early write would show
    with pytest.raises(InstanceUnavailableError) as caught:
        lists.push("l", f"store:[{out}]x", root=str(tmp_path))
    message = str(caught.value)
    assert str(arm.digest) in message and str(gone) in message and f"oci:{layout}:arm" in message
    assert "\n" not in message
    assert list(Store(str(out)).blobs.digests()) == [] and Store(str(out)).catalog.all() == []
    # a destination that holds the blob already does not need it from the location
    result = lists.push("l", f"oci:{held}:list", root=str(tmp_path))
    assert result.digest == lists.load("l", root=str(tmp_path)).digest
    check_image(f"oci:{held}:list")
    # but recompressing reads every layer, so there the missing one is refused again
    with pytest.raises(InstanceUnavailableError, match=str(gone)):
        lists.push("l", f"oci:{held}:zstd", lists.PushOptions(compression="zstd"), root=str(tmp_path))


def test_instance_source_has_blob_answers_without_a_location(tmp_path: Path) -> None:
    put_index(tmp_path, "copied", seed=6)
    lst = lists.load("copied", root=str(tmp_path))
    assert lst.locations == {}  # its instances live in the store only
    with InstanceSource(Store(str(tmp_path)), lst, lst.index.manifests[0]) as source:
        manifest = parse_manifest(*source.manifest())
        assert isinstance(manifest, ImageManifest)
        assert source.has_blob(manifest.layers[0]) and source.has_blob(manifest.config)
        assert not source.has_blob(Descriptor(mt.OCI_LAYER_GZIP, digest_bytes(b"never stored"), 12))


def test_list_copied_into_the_store_pushes_from_its_blobs(tmp_path: Path) -> None:
    index = put_index(tmp_path, "copied", seed=6)
    lst = lists.load("copied", root=str(tmp_path))
    assert lst.locations == {} and lst.digest == index.digest
    result = lists.push("copied", "store:again", root=str(tmp_path))
    assert result.digest == index.digest
    check_image("store:again", opts(tmp_path))


def test_inspect_verbose_shows_each_instance(tmp_path: Path) -> None:
    lst = make_list(tmp_path)
    plain = lists.inspect("l", root=str(tmp_path))
    assert plain == json.loads(lst.index.raw)
    verbose = lists.inspect("l", verbose=True, root=str(tmp_path))
    assert verbose["manifestList"] == plain
    for entry, desc in zip(verbose["instances"], lst.index.manifests, strict=True):
        assert entry["digest"] == str(desc.digest)
        assert entry["location"] == lst.locations[desc.digest]
        assert entry["manifest"]["config"]["mediaType"] == mt.OCI_CONFIG
