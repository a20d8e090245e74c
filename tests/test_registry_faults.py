"""Faults between lighter and a real registry, injected by tests/faultproxy.py."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest

from lighter import mediatype as mt
from lighter.copy import copy_image
from lighter.digest import digest_bytes
from lighter.errors import DigestMismatchError, RegistryTransientError
from lighter.manifest import Descriptor, ImageManifest
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name
from lighter.transports.registry import RegistryReference, list_tags
from lighter.transports.registry.body import BlobReader
from tests.faultproxy import FaultProxy
from tests.fixtures_registry import RegistryServer

pytestmark = pytest.mark.registry

Proxy = Callable[[RegistryServer], FaultProxy]


def push(
    server: RegistryServer, name: str, sizes: tuple[int, ...] = (3 * 1024 * 1024,), seed: int = 1
) -> ImageManifest:
    with parse_image_name(server.ref(name)).new_destination(server.options()) as dest:
        return write_random_image(dest, layer_sizes=sizes, seed=seed)


def ref(text: str) -> RegistryReference:
    parsed = parse_image_name(text)
    assert isinstance(parsed, RegistryReference)
    return parsed


def test_dropped_download_is_resumed(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    pushed = push(registry, f"{repo_name}:1")
    layer = pushed.layers[0]
    proxy = fault_proxy(registry)
    proxy.drop_once(after=1024 * 1024 + 123, contains=str(layer.digest))
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options()) as src:
        stream = src.blob(layer)
        assert isinstance(stream, BlobReader)
        with stream:
            data = stream.read()
        assert stream.resumes == 1
    assert digest_bytes(data) == layer.digest and len(data) == layer.size
    # one cut GET, then one ranged GET answered 206 — not a second full download
    assert proxy.count("GET", str(layer.digest)) == 2
    assert proxy.count("GET", str(layer.digest), status=206) == 1


def test_copy_completes_across_a_drop(registry: RegistryServer, repo_name: str, fault_proxy: Proxy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pushed = push(registry, f"{repo_name}:1", sizes=(2 * 1024 * 1024, 1000), seed=2)
    proxy = fault_proxy(registry)
    proxy.drop_once(after=500_000, contains=str(pushed.layers[0].digest))
    result = copy_image(proxy.ref(f"{repo_name}:1"), f"oci:{tmp_path / 'out'}:x", src_options=proxy.options())
    assert result.digest == pushed.digest
    assert proxy.count("GET", str(pushed.layers[0].digest), status=206) == 1


def test_503_then_success_within_retry_times(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    proxy.fail(times=3, status=503, contains="/manifests/")
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_times=3)) as src:
        assert src.manifest()[0] == pushed.raw
    assert proxy.count("GET", "/manifests/", status=503) == 3
    proxy.fail(times=2, status=503, contains="/manifests/")
    source = ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_times=1))
    with source, pytest.raises(RegistryTransientError) as info:
        source.manifest()
    assert "503" in str(info.value) and "\n" not in str(info.value)


def test_5xx_after_retries_names_the_request_not_unknown(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy
) -> None:
    """A registry that stays down is "answered 503 for manifest NAME:TAG", never "manifest unknown"."""
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    injected = "(UNAVAILABLE: injected failure)"
    proxy.fail(times=2, status=503, contains="/manifests/")
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_times=1)) as src:
        with pytest.raises(RegistryTransientError) as info:
            src.manifest()
        assert str(info.value) == f"{proxy.host} answered 503 for manifest {repo_name}:1 {injected}"
        assert info.value.status == 503
        layer = pushed.layers[0]
        proxy.fail(times=2, status=502, contains=str(layer.digest))
        with pytest.raises(RegistryTransientError) as info:
            src.blob(layer)
        assert str(info.value) == f"{proxy.host} answered 502 for blob {repo_name}@{layer.digest} {injected}"
    proxy.fail(times=1, status=500, contains="/tags/list")
    with pytest.raises(RegistryTransientError) as info:
        list_tags(ref(proxy.ref(repo_name)), proxy.options(retry_times=0))
    assert str(info.value) == f"{proxy.host} answered 500 for repository {repo_name} {injected}"


def test_retry_after_is_honoured(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    proxy.fail(times=1, status=429, contains="/manifests/", retry_after="1")
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_delay=0.0)) as src:
        start = time.monotonic()
        src.manifest()
        assert time.monotonic() - start >= 0.9


def test_upload_retries_5xx(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    proxy = fault_proxy(registry)
    proxy.fail(times=2, status=502, contains="/blobs/uploads/", method="POST")
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest:
        pushed = write_random_image(dest, layer_sizes=(5000,), seed=4)
    with ref(registry.ref(f"{repo_name}:1")).new_source(registry.options()) as src:
        assert src.manifest()[0] == pushed.raw


def test_flipped_byte_fails_with_both_digests(
    registry_factory: Callable[[str], RegistryServer], fault_proxy: Proxy
) -> None:
    first, second = registry_factory("plain"), registry_factory("plain")
    for sizes in ((1000,), (6 * 1024 * 1024,)):  # monolithic and streamed uploads
        name = f"app{len(sizes) + sizes[0]}"
        pushed = push(first, f"{name}:1", sizes=sizes, seed=5)
        proxy = fault_proxy(first)
        proxy.flip_byte(offset=100, contains=str(pushed.layers[0].digest))
        mark = second.log_mark()
        with pytest.raises(DigestMismatchError) as info:
            copy_image(
                proxy.ref(f"{name}:1"),
                second.ref(f"{name}:1"),
                src_options=proxy.options(),
                dst_options=second.options(),
            )
        message = str(info.value)
        with ref(first.ref(f"{name}:1")).new_source(first.options()) as src, src.blob(pushed.layers[0]) as stream:
            flipped = bytearray(stream.read())
        flipped[100] ^= 0xFF
        assert f"expected {pushed.layers[0].digest}, got {digest_bytes(bytes(flipped))}" in message
        assert "\n" not in message
        with ref(second.ref(f"{name}:1")).new_source(second.options()) as src:
            assert src.head_manifest() is None
        assert second.blob_upload_count(mark) <= 1  # only the config, never the bad layer
        assert not any(str(pushed.layers[0].digest) in e.path and e.method == "PUT" for e in second.requests(mark))


def test_manifest_by_tag_is_checked_against_docker_content_digest(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy
) -> None:
    """By tag there is no digest to ask for: the registry's Docker-Content-Digest is what catches a flipped byte."""
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    proxy.flip_byte(offset=40, contains=f"/{repo_name}/manifests/1", times=1)
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options()) as src:
        with pytest.raises(DigestMismatchError) as info:
            src.manifest()
        flipped = bytearray(pushed.raw)
        flipped[40] ^= 0xFF
        assert str(info.value) == (
            f"digest mismatch for manifest {repo_name}:1: expected {pushed.digest}, got {digest_bytes(bytes(flipped))}"
        )
        assert (info.value.expected, info.value.actual) == (str(pushed.digest), str(digest_bytes(bytes(flipped))))
        # the rule is spent: the same source reads the true bytes
        assert src.manifest()[0] == pushed.raw
    assert proxy.count("GET", f"/{repo_name}/manifests/1", status=200) == 2


def test_redirect_drops_authorization(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    pushed = push(registry, f"{repo_name}:1", sizes=(2000,))
    storage = fault_proxy(registry)  # plays the storage backend on another host:port
    front = fault_proxy(registry)
    front.redirect(to=storage.url)
    options = front.options(registry_token="not-for-storage")
    with ref(front.ref(f"{repo_name}:1")).new_source(options) as src, src.blob(pushed.layers[0]) as stream:
        assert digest_bytes(stream.read()) == pushed.layers[0].digest
    assert front.count("GET", str(pushed.layers[0].digest), status=307) == 1
    assert all(r.authorization for r in front.requests if "/blobs/" in r.path)
    assert storage.count("GET", str(pushed.layers[0].digest), status=200) == 1
    assert not any(r.authorization for r in storage.requests)


def test_seekable_upload_is_sent_again(registry: RegistryServer, repo_name: str, fault_proxy: Proxy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * (6 * 4096)  # 6 MiB: a streamed PATCH
    path = tmp_path / "blob"
    path.write_bytes(data)
    proxy = fault_proxy(registry)
    proxy.fail(times=1, status=503, contains="/blobs/uploads/", method="PATCH")
    desc = Descriptor(mt.OCI_LAYER, digest_bytes(data), len(data))
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        assert dest.put_blob(stream, desc) == desc
        assert dest.has_blob(desc)
    assert proxy.count("PATCH", status=503) == 1 and proxy.count("PATCH", status=202) == 1
    # a stream that cannot be rewound is not sent twice: the failure is reported
    proxy.fail(times=1, status=503, contains="/blobs/uploads/", method="PATCH")
    other = data[::-1]
    desc = Descriptor(mt.OCI_LAYER, digest_bytes(other), len(other))
    with ref(proxy.ref(f"{repo_name}:2")).new_destination(proxy.options()) as dest:
        with pytest.raises(RegistryTransientError):
            dest.put_blob(_Unseekable(other), desc)
        assert not dest.has_blob(desc)


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)
