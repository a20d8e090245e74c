"""``lighter manifest …`` as a user types it: podman's verbs and flags, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter import lists
from lighter import mediatype as mt
from lighter.digest import digest_bytes, parse_digest
from lighter.manifest import COMPRESSION_ANNOTATION, ImageManifest, Index, parse_manifest
from lighter.platform import host_platform
from lighter.store import Store
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import TransportOptions, parse_image_name
from lighter.validate import check_image

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    for n, platform in enumerate(("linux/amd64", "linux/arm64")):
        with parse_image_name(f"store:demo/img:{n}").new_destination(TransportOptions(store_root=str(path))) as dest:
            write_random_image(dest, platform=platform, seed=n)
    return path


@pytest.fixture
def lighter(run_lighter: Run, root: Path) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_lighter(*args, env={"LIGHTER_ROOT": str(root)})

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def snapshot(root: Path) -> tuple[str, list[str]]:
    """What a user could see of a store: its records and its blobs."""
    store = Store(str(root))
    return json.dumps([repr(r) for r in store.catalog.all()]), sorted(str(d) for d in store.blobs.digests())


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lighter: error: "), result.stderr
    return lines[0]


def test_create_add_annotate_inspect_remove_rm(lighter: Run, root: Path) -> None:
    list_id = ok(lighter("manifest", "create", "demo/app:multi")).strip()
    assert len(list_id) == 64
    assert ok(lighter("manifest", "add", "demo/app:multi", "store:demo/img:0")).strip() == list_id
    ok(lighter("manifest", "add", "--annotation", "k=v", "--os-version", "10", "demo/app:multi", "store:demo/img:1"))
    document = json.loads(ok(lighter("manifest", "inspect", "demo/app:multi")))
    assert document["mediaType"] == mt.OCI_INDEX
    amd, arm = document["manifests"]
    assert amd["platform"] == {"architecture": "amd64", "os": "linux"}
    assert arm["platform"] == {"architecture": "arm64", "os": "linux", "os.version": "10"}
    assert arm["annotations"] == {"k": "v"}
    ok(lighter("manifest", "annotate", "--arch", "arm64", "--variant", "v8", "demo/app:multi", arm["digest"]))
    ok(lighter("manifest", "annotate", "--index", "--annotation", "org.example=1", "demo/app:multi"))
    raw = lighter("manifest", "inspect", "--raw", "demo/app:multi").stdout.encode()
    parsed = parse_manifest(raw)
    assert isinstance(parsed, Index)
    assert parsed.annotations == {"org.example": "1"}
    assert parsed.manifests[1].platform is not None and parsed.manifests[1].platform.variant == "v8"
    assert Store(str(root)).resolve("demo/app:multi").digest == digest_bytes(raw)  # --raw is the stored bytes
    verbose = json.loads(ok(lighter("manifest", "inspect", "--verbose", "demo/app:multi")))
    assert [i["location"] for i in verbose["instances"]] == ["store:localhost/demo/img:0", "store:localhost/demo/img:1"]
    assert all(i["manifest"]["schemaVersion"] == 2 for i in verbose["instances"])
    ok(lighter("manifest", "remove", "demo/app:multi", amd["digest"]))
    assert [m["digest"] for m in json.loads(ok(lighter("manifest", "inspect", "demo/app:multi")))["manifests"]] == [
        arm["digest"]
    ]
    assert lighter("manifest", "exists", "demo/app:multi").returncode == 0
    assert lighter("manifest", "exists", "demo/img:0").returncode == 1  # an image, not a list
    removed = ok(lighter("manifest", "rm", "demo/app:multi"))
    assert removed.splitlines() == ["Untagged: localhost/demo/app:multi", f"Deleted: {list_id}"]
    assert lighter("manifest", "exists", "demo/app:multi").returncode == 1


def test_create_with_images_and_push_to_the_store(lighter: Run, root: Path, tmp_path: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0", "store:demo/img:1"))
    digestfile = tmp_path / "digest"
    out = ok(lighter("manifest", "push", "--all", "--digestfile", str(digestfile), "l", "store:pushed:1"))
    pushed = Store(str(root)).resolve("pushed:1")
    assert out.strip() == digestfile.read_text() == str(pushed.digest)
    assert pushed.digest == Store(str(root)).resolve("l").digest
    check_image("store:pushed:1", TransportOptions(store_root=str(root)))


def test_push_format_v2s2_and_add_compression(lighter: Run, root: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0", "store:demo/img:1"))
    options = TransportOptions(store_root=str(root))
    ok(lighter("manifest", "push", "--format", "v2s2", "l", "store:docker"))
    with parse_image_name("store:docker").new_source(options) as source:
        docker = parse_manifest(*source.manifest())
        assert isinstance(docker, Index) and docker.media_type == mt.DOCKER_LIST
        assert {source.manifest(m.digest)[1] for m in docker.manifests} == {mt.DOCKER_MANIFEST}
    ok(lighter("manifest", "push", "--add-compression", "zstd", "l", "store:zstd"))
    with parse_image_name("store:zstd").new_source(options) as source:
        index = parse_manifest(*source.manifest())
    assert isinstance(index, Index) and len(index.manifests) == 4
    assert [COMPRESSION_ANNOTATION in m.annotations for m in index.manifests] == [False, False, True, True]
    check_image("store:zstd", options)
    refused = lighter("manifest", "push", "--format", "v2s2", "--add-compression", "zstd", "l", "store:x")
    assert "OCI" in one_line_error(refused)


def test_push_all_false_pushes_one_image_and_rm_removes_the_list(lighter: Run, root: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0", "store:demo/img:1"))
    ok(lighter("manifest", "push", "--all=false", "--rm", "l", "store:single"))
    single = Store(str(root)).resolve("single")
    assert not single.is_list
    assert lighter("manifest", "exists", "l").returncode == 1


def test_add_all_or_one_instance_of_a_list(lighter: Run, root: Path) -> None:
    with parse_image_name("store:upstream").new_destination(TransportOptions(store_root=str(root))) as dest:
        index = write_random_index(dest, platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"), seed=7)
    # a list named by transport is inspected where it is
    assert json.loads(ok(lighter("manifest", "inspect", "store:upstream"))) == json.loads(index.raw)
    ok(lighter("manifest", "create", "all"))
    ok(lighter("manifest", "add", "--all", "all", "store:upstream"))
    assert len(lists.load("all", root=str(root)).index.manifests) == 3
    ok(lighter("manifest", "create", "arm"))
    ok(lighter("manifest", "add", "--arch", "arm", "--variant", "v7", "arm", "store:upstream"))
    assert [m.digest for m in lists.load("arm", root=str(root)).index.manifests] == [index.manifests[2].digest]


# -- errors: one line, exit 1, store unchanged ------------------------------------------------------


def test_add_to_a_missing_list(lighter: Run, root: Path) -> None:
    before = snapshot(root)
    line = one_line_error(lighter("manifest", "add", "nolist", "store:demo/img:0"))
    assert "nolist" in line
    assert snapshot(root) == before


def test_create_with_an_image_that_cannot_be_added_leaves_no_list(lighter: Run, root: Path) -> None:
    before = snapshot(root)
    line = one_line_error(lighter("manifest", "create", "l2", "store:demo/img:0", "store:nothere"), code=2)
    assert "nothere" in line
    assert snapshot(root) == before  # no half-built list
    assert lighter("manifest", "exists", "l2").returncode == 1
    # --amend of an existing list: all or nothing too
    ok(lighter("manifest", "create", "l3", "store:demo/img:0"))
    before = snapshot(root)
    one_line_error(lighter("manifest", "create", "--amend", "l3", "store:demo/img:1", "store:nothere"), code=2)
    assert snapshot(root) == before


def test_remove_a_digest_not_in_the_list(lighter: Run, root: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0"))
    before = snapshot(root)
    stranger = digest_bytes(b"stranger")
    line = one_line_error(lighter("manifest", "remove", "l", str(stranger)))
    assert str(stranger) in line and "'l'" in line
    assert snapshot(root) == before


def test_push_with_a_vanished_instance_source(lighter: Run, root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    with parse_image_name("store:far").new_destination(TransportOptions(store_root=str(elsewhere))) as dest:
        far = write_random_image(dest, platform="linux/ppc64le", seed=42)
    ok(lighter("manifest", "create", "l", "store:demo/img:0", f"store:[{elsewhere}]far"))
    for path in sorted(elsewhere.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    before = snapshot(root)
    line = one_line_error(lighter("manifest", "push", "l", "store:out"))
    assert str(far.digest) in line and f"store:[{elsewhere}]localhost/far:latest" in line
    assert snapshot(root) == before


def test_push_with_a_vanished_blob_writes_nothing(lighter: Run, root: Path, tmp_path: Path) -> None:
    """The manifest is still where it was added from, one layer is not: the pre-flight names it."""
    elsewhere = tmp_path / "elsewhere"
    with parse_image_name("store:far").new_destination(TransportOptions(store_root=str(elsewhere))) as dest:
        far = write_random_image(dest, platform="linux/ppc64le", seed=43, layer_sizes=(3000, 2000, 1000))
    ok(lighter("manifest", "create", "l", "store:demo/img:0", f"store:[{elsewhere}]far"))
    gone = far.layers[1].digest
    (elsewhere / "blobs" / "sha256" / gone.hex).unlink()
    before = snapshot(root)
    line = one_line_error(lighter("manifest", "push", "l", "store:out"))
    assert str(far.digest) in line and str(gone) in line and f"store:[{elsewhere}]localhost/far:latest" in line
    assert snapshot(root) == before  # not even the config or the other layers were copied in


def test_rmi_of_an_image_a_list_needs(lighter: Run, root: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0"))
    before = snapshot(root)
    line = one_line_error(lighter("rmi", "demo/img:0"))
    assert "localhost/l:latest" in line and "--force" in line
    assert snapshot(root) == before
    ok(lighter("rmi", "--force", "demo/img:0"))
    # the list still pushes: the image's blobs stay reachable from it until it is gone
    ok(lighter("store", "gc"))
    ok(lighter("manifest", "push", "l", "store:still"))
    check_image("store:still", TransportOptions(store_root=str(root)))


# -- flags: platform fields, create --all / --amend, push conversions and compression ----------------


def test_add_sets_os_features_and_os_features_from_comma_separated_flags(lighter: Run) -> None:
    ok(lighter("manifest", "create", "l"))
    flags = ["--os", "freebsd", "--features", "sse4,avx", "--features", "aes", "--os-features", "win32k,x"]
    ok(lighter("manifest", "add", *flags, "l", "store:demo/img:1"))
    (entry,) = json.loads(ok(lighter("manifest", "inspect", "l")))["manifests"]
    assert entry["platform"] == {
        "architecture": "arm64",
        "os": "freebsd",
        "os.features": ["win32k", "x"],
        "features": ["sse4", "avx", "aes"],
    }


def test_add_os_chooses_the_instance_of_a_list(lighter: Run, root: Path) -> None:
    with parse_image_name("store:mixed").new_destination(TransportOptions(store_root=str(root))) as dest:
        index = write_random_index(dest, platforms=("linux/amd64", "windows/amd64"), seed=17)
    ok(lighter("manifest", "create", "win"))
    ok(lighter("manifest", "add", "--os", "windows", "--arch", "amd64", "win", "store:mixed"))
    assert [m.digest for m in lists.load("win", root=str(root)).index.manifests] == [index.manifests[1].digest]


def test_create_all_adds_every_instance_and_amend_reuses_the_list(lighter: Run, root: Path) -> None:
    with parse_image_name("store:upstream").new_destination(TransportOptions(store_root=str(root))) as dest:
        index = write_random_index(dest, platforms=("linux/amd64", "linux/arm64", "linux/s390x"), seed=18)
    every = ok(lighter("manifest", "create", "--all", "every", "store:upstream")).strip()
    assert [m.digest for m in lists.load("every", root=str(root)).index.manifests] == [
        m.digest for m in index.manifests
    ]
    ok(lighter("manifest", "create", "one", "store:upstream"))
    assert [m.digest for m in lists.load("one", root=str(root)).index.manifests] == [
        index.choose(host_platform()).digest
    ]  # without --all, this machine's instance
    before = snapshot(root)
    refused = one_line_error(lighter("manifest", "create", "every", "store:demo/img:0"))
    assert "--amend" in refused and snapshot(root) == before
    amended = ok(lighter("manifest", "create", "--amend", "every", "store:demo/img:0")).strip()
    assert amended == every
    assert len(lists.load("every", root=str(root)).index.manifests) == 4


def test_push_format_oci_converts_a_docker_list_as_skopeo_does(lighter: Run, root: Path, tmp_path: Path) -> None:
    with parse_image_name("store:docker").new_destination(TransportOptions(store_root=str(root))) as dest:
        docker = write_random_index(dest, oci=False, platforms=("linux/amd64", "linux/arm64"), seed=19)
    assert docker.media_type == mt.DOCKER_LIST
    with parse_image_name(f"dir:{tmp_path / 'src'}").new_destination() as dest:
        assert write_random_index(dest, oci=False, platforms=("linux/amd64", "linux/arm64"), seed=19) == docker
    ok(lighter("manifest", "push", "--format", "oci", "docker", f"dir:{tmp_path / 'ours'}"))
    skopeo = subprocess.run(
        ["skopeo", "copy", "--all", "--format", "oci", f"dir:{tmp_path / 'src'}", f"dir:{tmp_path / 'theirs'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert skopeo.returncode == 0, skopeo.stderr
    ours = parse_manifest((tmp_path / "ours" / "manifest.json").read_bytes())
    assert isinstance(ours, Index) and ours.media_type == mt.OCI_INDEX
    assert {m.media_type for m in ours.manifests} == {mt.OCI_MANIFEST}
    # the list, every instance manifest and every converted config: the same bytes as skopeo's
    for path in sorted((tmp_path / "theirs").iterdir()):
        if path.name != "version":
            assert (tmp_path / "ours" / path.name).read_bytes() == path.read_bytes(), path.name
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == sorted(
        p.name for p in (tmp_path / "theirs").iterdir()
    )
    check_image(f"dir:{tmp_path / 'ours'}")


def layers_of(root: Path, digest: str) -> set[str]:
    manifest = parse_manifest(Store(str(root)).blobs.read(parse_digest(digest)))
    assert isinstance(manifest, ImageManifest)
    return {layer.media_type for layer in manifest.layers}


def test_push_compression_format_then_add_compression_gzip(lighter: Run, root: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0", "store:demo/img:1"))
    ok(lighter("manifest", "push", "--compression-format", "zstd", "l", "store:zl"))
    zstd = json.loads(ok(lighter("manifest", "inspect", "zl")))["manifests"]
    assert [m["annotations"] for m in zstd] == [{COMPRESSION_ANNOTATION: "true"}] * 2
    assert all(layers_of(root, m["digest"]) == {mt.OCI_LAYER_ZSTD} for m in zstd)
    ok(lighter("manifest", "push", "--add-compression", "gzip", "zl", "store:both"))
    both = json.loads(ok(lighter("manifest", "inspect", "both")))["manifests"]
    assert [COMPRESSION_ANNOTATION in m.get("annotations", {}) for m in both] == [False, False, True, True]
    assert [m["digest"] for m in both[2:]] == [m["digest"] for m in zstd]
    assert all(layers_of(root, m["digest"]) == {mt.OCI_LAYER_GZIP} for m in both[:2])
    check_image("store:both", TransportOptions(store_root=str(root)))


def test_force_compression_needs_a_format_and_then_never_reuses_other_compression(lighter: Run, root: Path) -> None:
    ok(lighter("manifest", "create", "l", "store:demo/img:0", "store:demo/img:1"))
    before = snapshot(root)
    refused = one_line_error(lighter("manifest", "push", "--force-compression", "l", "store:out"))
    assert "--compression-format" in refused and snapshot(root) == before
    # the destination holds every gzip blob already; forced zstd still writes zstd layers, reusing none of them
    gzip_blobs = set(snapshot(root)[1])
    ok(lighter("manifest", "push", "--compression-format", "zstd", "--force-compression", "l", "store:forced"))
    pushed = json.loads(ok(lighter("manifest", "inspect", "forced")))["manifests"]
    for entry in pushed:
        manifest = parse_manifest(Store(str(root)).blobs.read(parse_digest(entry["digest"])))
        assert isinstance(manifest, ImageManifest)
        assert {layer.media_type for layer in manifest.layers} == {mt.OCI_LAYER_ZSTD}
        assert not {str(layer.digest) for layer in manifest.layers} & gzip_blobs
    check_image("store:forced", TransportOptions(store_root=str(root)))
