"""docker:// against a real docker-registry, checked with skopeo: push, pull, lists, tags, delete, mounts."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter import mediatype as mt
from lighter.copy import CopyOptions, copy_image
from lighter.digest import digest_bytes
from lighter.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidImageNameError,
    ManifestNotFoundError,
)
from lighter.manifest import Descriptor, manifest_digest
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name
from lighter.transports.registry import RegistryReference, list_tags
from lighter.transports.registry.destination import RegistryDestination
from lighter.transports.registry.source import RegistrySource
from tests.faultproxy import FaultProxy
from tests.fixtures_images import make_oci_image
from tests.fixtures_registry import RegistryServer, skopeo_raw

pytestmark = [pytest.mark.registry, pytest.mark.interop]


def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["skopeo", *args], capture_output=True, timeout=120, check=False)


def skopeo_digest(raw: bytes, tmp_path: Path) -> str:
    path = tmp_path / "manifest.json"
    path.write_bytes(raw)
    result = skopeo("manifest-digest", str(path))
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()


def source(server: RegistryServer, name: str) -> RegistrySource:
    ref = parse_image_name(server.ref(name))
    assert isinstance(ref, RegistryReference)
    return ref.new_source(server.options())


def destination(server: RegistryServer, name: str) -> RegistryDestination:
    ref = parse_image_name(server.ref(name))
    assert isinstance(ref, RegistryReference)
    return ref.new_destination(server.options())


def test_parse_names() -> None:
    ref = parse_image_name("docker://127.0.0.1:5000/a/b")
    assert str(ref) == "docker://127.0.0.1:5000/a/b:latest"
    assert ref.display_name == "127.0.0.1:5000/a/b"
    assert str(parse_image_name("docker://alpine")) == "docker://docker.io/library/alpine:latest"
    for bad in ("docker:alpine", "docker://UPPER/x/Y", "docker://a/b:t@sha256:" + "0" * 64, "docker://"):
        with pytest.raises(InvalidImageNameError):
            parse_image_name(bad)


@pytest.mark.parametrize("oci", [True, False], ids=["oci", "docker"])
@pytest.mark.parametrize("kind", ["plain", "tls", "basic", "token"])
def test_push_pull_image_each_setup(
    kind: str, oci: bool, repo_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server: RegistryServer = request.getfixturevalue("registry" if kind == "plain" else f"{kind}_registry")
    name = f"{repo_name}:v1"
    with destination(server, name) as dest:
        pushed = write_random_image(dest, layer_sizes=(2048, 5 * 1024 * 1024 + 17), oci=oci, seed=3)
    raw = skopeo_raw(server, name)
    assert raw == pushed.raw
    assert skopeo_digest(raw, tmp_path) == str(pushed.digest)
    with source(server, name) as src:
        got, media_type = src.manifest()
        assert got == pushed.raw
        assert media_type == (mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST)
        assert src.top_digest() == pushed.digest
        assert src.head_manifest() == (pushed.digest, media_type)
        for layer in (pushed.config, *pushed.layers):
            with src.blob(layer) as stream:
                assert digest_bytes(stream.read()) == layer.digest
    # and skopeo can read every blob: copy it out and compare the manifest it wrote
    out = tmp_path / "out"
    result = skopeo("copy", *server.skopeo_args("src"), server.ref(name), f"dir:{out}")
    assert result.returncode == 0, result.stderr.decode()
    assert (out / "manifest.json").read_bytes() == pushed.raw


@pytest.mark.parametrize("oci", [True, False], ids=["oci", "docker"])
def test_push_list_byte_identical(registry: RegistryServer, repo_name: str, oci: bool, tmp_path: Path) -> None:
    name = f"{repo_name}:multi"
    with destination(registry, name) as dest:
        index = write_random_index(dest, platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"), oci=oci, seed=5)
    raw = skopeo_raw(registry, name)
    assert raw == index.raw
    assert skopeo_digest(raw, tmp_path) == str(index.digest)
    out = tmp_path / "dir"
    result = skopeo("copy", "--all", *registry.skopeo_args("src"), registry.ref(name), f"dir:{out}")
    assert result.returncode == 0, result.stderr.decode()
    with source(registry, name) as src:
        top, media_type = src.manifest()
        assert (top, media_type) == (index.raw, index.media_type)
        for entry in index.manifests:
            inst_raw, inst_type = src.manifest(entry.digest)
            assert manifest_digest(inst_raw) == entry.digest
            assert inst_type == entry.media_type
            assert (out / f"{entry.digest.hex}.manifest.json").read_bytes() == inst_raw


def test_read_image_pushed_by_skopeo(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    manifest = make_oci_image(tmp_path / "in", "t", layer_sizes=(4096, 100), seed=9)
    result = skopeo("copy", *registry.skopeo_args("dest"), f"oci:{tmp_path / 'in'}:t", registry.ref(f"{repo_name}:s"))
    assert result.returncode == 0, result.stderr.decode()
    out = tmp_path / "out"
    copied = copy_image(registry.ref(f"{repo_name}:s"), f"oci:{out}:t", src_options=registry.options())
    assert copied.digest == manifest.digest
    assert skopeo_raw(registry, f"{repo_name}:s") == manifest.raw


def test_manifest_by_digest_and_pinned_destination(registry: RegistryServer, repo_name: str) -> None:
    with destination(registry, f"{repo_name}:a") as dest:
        pushed = write_random_image(dest, seed=11)
    by_digest = f"{repo_name}@{pushed.digest}"
    with source(registry, by_digest) as src:
        assert src.manifest() == (pushed.raw, mt.OCI_MANIFEST)
        assert src.top_digest() == pushed.digest
    with destination(registry, by_digest) as dest:
        dest.put_manifest(pushed.raw, pushed.media_type)  # same bytes: accepted
        with pytest.raises(DigestMismatchError) as info:
            dest.put_manifest(pushed.raw + b" ", pushed.media_type)
        assert str(pushed.digest) in str(info.value)


def test_missing_manifest_and_blob(registry: RegistryServer, repo_name: str) -> None:
    with source(registry, f"{repo_name}:nope") as src:
        with pytest.raises(ManifestNotFoundError) as info:
            src.manifest()
        assert str(info.value) == f"manifest unknown: {repo_name}:nope on {registry.host}"
        assert src.head_manifest() is None
        with pytest.raises(ManifestNotFoundError):
            src.top_digest()
        ghost = Descriptor(mt.OCI_LAYER_GZIP, digest_bytes(b"ghost"), 5)
        with pytest.raises(BlobNotFoundError) as blob_info:
            src.blob(ghost)
        assert str(blob_info.value) == f"blob unknown: {repo_name}@{ghost.digest} on {registry.host}"
    with source(registry, f"{repo_name}@{ghost.digest}") as src, pytest.raises(ManifestNotFoundError) as info:
        src.manifest()
    assert str(info.value) == f"manifest unknown: {repo_name}@{ghost.digest} on {registry.host}"


def test_put_blob_verifies_before_commit(registry: RegistryServer, repo_name: str) -> None:
    small = b"small blob"
    big = bytes(range(256)) * (5 * 4096 + 3)  # over the monolithic threshold: streamed
    with destination(registry, f"{repo_name}:x") as dest:
        for data in (small, big):
            wrong = Descriptor(mt.OCI_LAYER, digest_bytes(data + b"!"), len(data))
            with pytest.raises(DigestMismatchError) as info:
                dest.put_blob(io.BytesIO(data), wrong)
            assert str(wrong.digest) in str(info.value)
            assert str(digest_bytes(data)) in str(info.value)
            assert not dest.has_blob(Descriptor(mt.OCI_LAYER, digest_bytes(data), len(data)))
        # unknown digest: computed while streaming
        stored = dest.put_blob(io.BytesIO(big), None, media_type=mt.OCI_LAYER)
        assert (stored.digest, stored.size, stored.media_type) == (digest_bytes(big), len(big), mt.OCI_LAYER)
        assert dest.has_blob(stored)


def test_list_tags_pagination(registry: RegistryServer, repo_name: str, fault_proxy: Callable[..., FaultProxy]) -> None:
    with destination(registry, f"{repo_name}:t0") as dest:
        pushed = write_random_image(dest, seed=2)
    tags = ["t0", "t1", "t2", "t3", "t4"]
    for tag in tags[1:]:
        with destination(registry, f"{repo_name}:{tag}") as dest:
            dest.put_manifest(pushed.raw, pushed.media_type)
    ref = parse_image_name(registry.ref(repo_name))
    assert isinstance(ref, RegistryReference)
    assert sorted(ref.list_tags(registry.options())) == tags
    # distribution 2.8 answers in one page; a paginating registry (the proxy) in three
    proxy = fault_proxy(registry)
    proxy.paginate_tags(2)
    paged = parse_image_name(proxy.ref(repo_name))
    assert isinstance(paged, RegistryReference)
    assert list_tags(paged, proxy.options(), page_size=2) == tags
    assert proxy.count("GET", "/tags/list") == 3
    assert paged.list_tags(proxy.options()) == tags
    with source(registry, repo_name) as src:
        assert sorted(src.repo_tags()) == tags
    unknown = parse_image_name(registry.ref(f"{repo_name}-none"))
    with pytest.raises(ImageNotFoundError) as info:
        unknown.list_tags(registry.options())
    assert str(info.value) == f"repository unknown: {repo_name}-none on {registry.host}"


def test_delete(registry: RegistryServer, repo_name: str) -> None:
    with destination(registry, f"{repo_name}:gone") as dest:
        pushed = write_random_image(dest, seed=4)
    parse_image_name(registry.ref(f"{repo_name}:gone")).delete(registry.options())
    with source(registry, f"{repo_name}@{pushed.digest}") as src:
        assert src.head_manifest() is None
    assert skopeo("inspect", "--raw", *registry.skopeo_args(), registry.ref(f"{repo_name}:gone")).returncode != 0
    with pytest.raises(ManifestNotFoundError):
        parse_image_name(registry.ref(f"{repo_name}@{pushed.digest}")).delete(registry.options())


def test_delete_with_token_auth(token_registry: RegistryServer, repo_name: str) -> None:
    with destination(token_registry, f"{repo_name}:d") as dest:
        pushed = write_random_image(dest, seed=6)
    parse_image_name(token_registry.ref(f"{repo_name}@{pushed.digest}")).delete(token_registry.options())
    with source(token_registry, f"{repo_name}:d") as src:
        assert src.head_manifest() is None


def test_cross_repository_mount(token_registry: RegistryServer, repo_name: str) -> None:
    server = token_registry
    with destination(server, f"{repo_name}-a:1") as dest:
        pushed = write_random_image(dest, layer_sizes=(1000, 2000), seed=8)
    mark = server.log_mark()
    assert server.token_server is not None
    asked_before = len(server.token_server.requests)
    result = copy_image(
        server.ref(f"{repo_name}-a:1"),
        server.ref(f"{repo_name}-b:1"),
        src_options=server.options(),
        dst_options=server.options(),
    )
    assert result.digest == pushed.digest
    assert server.mount_count(mark, repository=f"{repo_name}-b") == 3  # config + 2 layers
    assert server.blob_upload_count(mark, repository=f"{repo_name}-b") == 0
    # a mount needs both repositories in ONE token: pull on the source, pull,push on the destination
    both = {f"repository:{repo_name}-a:pull", f"repository:{repo_name}-b:pull,push"}
    asked = server.token_server.requests[asked_before:]
    assert any(set(r.scopes) == both and r.granted for r in asked), [r.scopes for r in asked]
    assert skopeo_raw(server, f"{repo_name}-b:1") == pushed.raw


def test_registry_to_registry_copy_of_list(registry_factory: object, tmp_path: Path) -> None:
    assert callable(registry_factory)
    first, second = registry_factory("plain"), registry_factory("tls")
    with destination(first, "app:multi") as dest:
        index = write_random_index(dest, oci=False, seed=12)
    result = copy_image(
        first.ref("app:multi"),
        second.ref("mirror/app:multi"),
        CopyOptions(multi_arch="all"),
        src_options=first.options(),
        dst_options=second.options(),
    )
    assert result.digest == index.digest
    assert skopeo_raw(second, "mirror/app:multi") == index.raw
    assert json.loads(skopeo_raw(second, "mirror/app:multi"))["mediaType"] == mt.DOCKER_LIST
    assert second.blob_upload_count(repository="mirror/app") > 0


def test_second_copy_heads_each_blob_once_and_uploads_nothing(
    registry: RegistryServer, tls_registry: RegistryServer, repo_name: str
) -> None:
    """HEAD before upload: what the destination already holds is neither uploaded nor read from the source."""
    with destination(registry, f"{repo_name}:1") as dest:
        pushed = write_random_image(dest, layer_sizes=(1000, 5 * 1024 * 1024 + 3), seed=14)
    blobs = [pushed.config.digest, *(layer.digest for layer in pushed.layers)]

    def copy() -> None:
        result = copy_image(
            registry.ref(f"{repo_name}:1"),
            tls_registry.ref(f"{repo_name}:1"),
            src_options=registry.options(),
            dst_options=tls_registry.options(),
        )
        assert result.digest == pushed.digest

    copy()
    assert tls_registry.blob_upload_count(repository=repo_name) == len(blobs)
    src_mark, dst_mark = registry.log_mark(), tls_registry.log_mark()
    copy()
    seen = tls_registry.requests(dst_mark)
    for digest in blobs:
        on_blob = [e for e in seen if e.path == f"/v2/{repo_name}/blobs/{digest}"]
        assert [(e.method, e.status) for e in on_blob] == [("HEAD", 200)], digest
    assert not [e for e in seen if "/blobs/uploads/" in e.path]
    assert tls_registry.blob_upload_count(dst_mark) == 0
    assert not [e for e in registry.requests(src_mark) if "/blobs/" in e.path]  # nothing read at the source


def test_source_has_blob_is_one_head(registry: RegistryServer, repo_name: str) -> None:
    """A push's pre-flight asks the source for every blob: a HEAD each, no blob body read."""
    with destination(registry, f"{repo_name}:1") as dest:
        pushed = write_random_image(dest, layer_sizes=(1000,), seed=15)
    ghost = Descriptor(mt.OCI_LAYER_GZIP, digest_bytes(b"ghost"), 5)
    with source(registry, f"{repo_name}:1") as src:
        mark = registry.log_mark()
        assert src.has_blob(pushed.layers[0])
        assert not src.has_blob(ghost)
        on_blobs = [(e.method, e.path, e.status) for e in registry.requests(mark) if "/blobs/" in e.path]
    assert on_blobs == [
        ("HEAD", f"/v2/{repo_name}/blobs/{pushed.layers[0].digest}", 200),
        ("HEAD", f"/v2/{repo_name}/blobs/{ghost.digest}", 404),
    ]
