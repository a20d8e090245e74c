"""Faults between lighter and a real registry, injected by tests/faultproxy.py."""

from __future__ import annotations

import email.utils
import io
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from lighter import mediatype as mt
from lighter.copy import copy_image
from lighter.digest import digest_bytes
from lighter.errors import (
    AuthenticationError,
    DigestMismatchError,
    ManifestNotFoundError,
    RegistryError,
    RegistryTransientError,
)
from lighter.manifest import Descriptor, ImageManifest
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name
from lighter.transports.registry import RegistryReference, list_tags, upload
from lighter.transports.registry.body import BlobReader
from lighter.transports.registry.client import (
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    RegistryClient,
    backoff_delay,
    retry_after_seconds,
)
from lighter.transports.registry.upload import CHUNK_SIZE, SMALL_BLOB
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


def test_resume_from_a_server_that_ignores_range(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    """A 200 to a ranged GET is the whole blob again: what was already handed on is skipped, not repeated."""
    pushed = push(registry, f"{repo_name}:1")
    layer = pushed.layers[0]
    proxy = fault_proxy(registry)
    proxy.drop_once(after=1024 * 1024 + 123, contains=str(layer.digest))
    proxy.ignore_range(contains=str(layer.digest))
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options()) as src:
        stream = src.blob(layer)
        assert isinstance(stream, BlobReader)
        with stream:
            data = stream.read()
        assert stream.resumes == 1
    assert digest_bytes(data) == layer.digest and len(data) == layer.size
    asked = proxy.find("GET", str(layer.digest))
    assert [r.status for r in asked] == [200, 200]
    resumed_at = asked[1].headers["Range"]  # asked for a range, answered with everything
    assert re.fullmatch(r"bytes=(\d+)-", resumed_at) and 0 < int(resumed_at[6:-1]) <= 1024 * 1024 + 123


@pytest.mark.parametrize("value", [None, "bytes garbage"])
def test_resume_with_a_wrong_content_range_fails_clearly(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, value: str | None
) -> None:
    """A 206 that does not start where we asked would splice the wrong bytes in: refused, naming the range."""
    pushed = push(registry, f"{repo_name}:1")
    layer = pushed.layers[0]
    proxy = fault_proxy(registry)
    proxy.drop_once(after=1024 * 1024 + 123, contains=str(layer.digest))
    proxy.bad_content_range(shift=1, value=value, contains=str(layer.digest))
    source = ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options())
    with source, source.blob(layer) as stream, pytest.raises(RegistryError) as info:
        stream.read()
    assert not isinstance(info.value, RegistryTransientError)  # a broken server, not a passing failure
    message = str(info.value)
    match = re.fullmatch(rf"resuming blob {layer.digest} at byte (\d+): the server sent range '(.*)'", message)
    assert match is not None, message
    offset = int(match.group(1))
    assert match.group(2) == (value or f"bytes {offset + 1}-{layer.size - 1}/{layer.size}")
    assert proxy.count("GET", str(layer.digest), status=206) == 1  # no further attempt


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


# -- retries and back-off -------------------------------------------------------

NOW = 1_700_000_000.0  # a fixed clock for the back-off: Retry-After dates are relative to it


def _no_sleep(client: RegistryClient) -> list[float]:
    """Make ``client`` record its back-off instead of sleeping; the list it records into."""
    waited: list[float] = []
    client.sleep = waited.append
    client.clock = lambda: NOW
    return waited


def test_backoff_is_exponential_and_capped() -> None:
    assert [backoff_delay(attempt, None, None, NOW) for attempt in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert MAX_BACKOFF == 30
    assert backoff_delay(10_000, None, None, NOW) == MAX_BACKOFF  # no overflow however long it goes on
    assert backoff_delay(3, None, 0.25, NOW) == 0.25  # --retry-delay: fixed
    assert backoff_delay(3, None, -1.0, NOW) == 0.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("0", 0.0),
        ("3600", MAX_RETRY_AFTER),  # a registry cannot park us for an hour
        (email.utils.formatdate(NOW + 20, usegmt=True), 20.0),
        (email.utils.formatdate(NOW + 7200, usegmt=True), MAX_RETRY_AFTER),
        (email.utils.formatdate(NOW - 50, usegmt=True), 0.0),  # already past: go now
    ],
)
def test_retry_after_wins_over_the_backoff(header: str, expected: float) -> None:
    assert backoff_delay(4, header, None, NOW) == expected
    assert backoff_delay(4, header, 0.5, NOW) == expected  # over --retry-delay too


@pytest.mark.parametrize("header", ["", "soon", "Mon, 99 Foo 2024 99:99:99 GMT", "-5"])
def test_unusable_retry_after_falls_back(header: str) -> None:
    assert retry_after_seconds(header, NOW) is None
    assert backoff_delay(2, header, None, NOW) == 4.0


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(registry: RegistryServer, repo_name: str, fault_proxy: Proxy, form: str) -> None:
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    header = "3" if form == "seconds" else email.utils.formatdate(NOW + 12, usegmt=True)
    proxy.fail(times=2, status=429, contains="/manifests/", retry_after=header)
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_delay=0.0)) as src:
        waited = _no_sleep(src.repository.client)
        assert src.manifest()[0] == pushed.raw
    assert waited == ([3.0, 3.0] if form == "seconds" else [12.0, 12.0])
    assert proxy.count("GET", "/manifests/", status=429) == 2


def test_5xx_backs_off_exponentially(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    proxy.fail(times=3, status=503, contains="/manifests/")
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_delay=None, retry_times=3)) as src:
        waited = _no_sleep(src.repository.client)
        assert src.manifest()[0] == pushed.raw
    assert waited == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (400, RegistryError, "{host} answered 400 for manifest {name}:1 (UNAVAILABLE: injected failure)"),
        (403, AuthenticationError, "access denied to {name} on {host} (UNAVAILABLE: injected failure)"),
        (404, ManifestNotFoundError, "manifest unknown: {name}:1 on {host}"),
    ],
)
def test_4xx_is_sent_exactly_once(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, status: int, error: type[Exception], message: str
) -> None:
    push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    proxy.fail(times=5, status=status, contains="/manifests/")
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_times=3)) as src:
        waited = _no_sleep(src.repository.client)
        with pytest.raises(error) as info:
            src.manifest()
    assert type(info.value) is error and not isinstance(info.value, RegistryTransientError)
    assert str(info.value) == message.format(host=proxy.host, name=repo_name)
    assert proxy.count("GET", "/manifests/") == 1
    assert waited == []


def test_connection_reset_is_retried(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    proxy.reset(times=2, contains="/manifests/", method="GET")
    with ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_delay=None, retry_times=2)) as src:
        waited = _no_sleep(src.repository.client)
        assert src.manifest()[0] == pushed.raw
    assert waited == [1.0, 2.0]
    assert proxy.count("GET", "/manifests/", status=0) == 2
    assert proxy.count("GET", "/manifests/", status=200) == 1
    # once more than --retry-times: the reset is reported, in one line
    proxy.reset(times=2, contains="/manifests/", method="GET")
    source = ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_times=1))
    with source, pytest.raises(RegistryTransientError) as info:
        _no_sleep(source.repository.client)
        source.manifest()
    assert str(info.value).startswith(f"GET http://{proxy.host}/v2/{repo_name}/manifests/1 failed: ")
    assert "\n" not in str(info.value)


def test_no_resume_with_retry_times_0(registry: RegistryServer, repo_name: str, fault_proxy: Proxy) -> None:
    pushed = push(registry, f"{repo_name}:1")
    layer = pushed.layers[0]
    proxy = fault_proxy(registry)
    proxy.drop_once(after=1024 * 1024 + 123, contains=str(layer.digest))
    source = ref(proxy.ref(f"{repo_name}:1")).new_source(proxy.options(retry_times=0))
    with source, source.blob(layer) as stream, pytest.raises(RegistryTransientError) as info:
        stream.read()
    assert str(info.value).startswith(f"download of blob {layer.digest} failed at byte ")
    assert proxy.count("GET", str(layer.digest)) == 1  # no ranged GET


def test_cli_retry_times_and_delay(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, run_lighter: Callable[..., Any], tmp_path: Path
) -> None:
    pushed = push(registry, f"{repo_name}:1", sizes=(100,))
    proxy = fault_proxy(registry)
    source = proxy.ref(f"{repo_name}:1")
    proxy.fail(times=2, status=503, contains="/manifests/")
    flags = ("copy", "-q", "--src-tls-verify=false", "--retry-delay", "0.01")
    done = run_lighter(*flags, "--retry-times", "2", source, f"oci:{tmp_path / 'ok'}:x")
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "ok" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == str(pushed.digest)
    assert proxy.count(contains="/manifests/", status=503) == 2
    proxy.fail(times=2, status=503, contains="/manifests/")
    failed = run_lighter(*flags, "--retry-times", "1", source, f"oci:{tmp_path / 'failed'}:x")
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"lighter: error: {proxy.host} answered 503 for manifest {repo_name}:1 ")
    assert failed.stderr.count("\n") == 1
    assert proxy.count(contains="/manifests/", status=503) == 4


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
    data = bytes(range(256)) * (6 * 4096)  # 6 MiB: a chunked upload (one chunk)
    path = tmp_path / "blob"
    path.write_bytes(data)
    proxy = fault_proxy(registry)
    proxy.fail(times=1, status=503, contains="/blobs/uploads/", method="PATCH", retry_after="5")
    desc = Descriptor(mt.OCI_LAYER, digest_bytes(data), len(data))
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        waited = _no_sleep(dest.repository.client)
        assert dest.put_blob(stream, desc) == desc
        assert dest.has_blob(desc)
    assert proxy.count("PATCH", status=503) == 1 and proxy.count("PATCH", status=202) == 1
    assert waited == [5.0]  # the client's back-off, honouring the PATCH answer's Retry-After
    # a stream that cannot be rewound is not sent twice: the failure is reported
    proxy.fail(times=1, status=503, contains="/blobs/uploads/", method="PATCH")
    other = data[::-1]
    desc = Descriptor(mt.OCI_LAYER, digest_bytes(other), len(other))
    with ref(proxy.ref(f"{repo_name}:2")).new_destination(proxy.options()) as dest:
        with pytest.raises(RegistryTransientError):
            dest.put_blob(_Unseekable(other), desc)
        assert not dest.has_blob(desc)


def test_upload_of_unknown_size_is_sent_again_when_seekable(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, tmp_path: Path
) -> None:
    """No descriptor (a recompressed layer): one streamed PATCH, sent again from the start in a new session."""
    path, desc = _blob_file(tmp_path, 5 * MiB + 1, seed=11)
    proxy = fault_proxy(registry)
    proxy.fail(times=1, status=503, contains="/blobs/uploads/", method="PATCH", retry_after="2")
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        waited = _no_sleep(dest.repository.client)
        stored = dest.put_blob(stream, None, media_type=mt.OCI_LAYER)
    assert (stored.digest, stored.size) == (desc.digest, desc.size)
    patches = proxy.find("PATCH", "/blobs/uploads/")
    assert [(r.status, "Content-Range" in r.headers) for r in patches] == [(503, False), (202, False)]
    assert proxy.count("POST", "/blobs/uploads/") == 2 and waited == [2.0]
    assert _stored_digest(registry, repo_name, desc) == desc.digest


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)


# -- uploads: monolithic for small blobs, chunked for large ones ------------------

MiB = 1024 * 1024


def _blob_file(tmp_path: Path, size: int, seed: int) -> tuple[Path, Descriptor]:
    data = random.Random(seed).randbytes(size)
    path = tmp_path / f"blob-{seed}"
    path.write_bytes(data)
    return path, Descriptor(mt.OCI_LAYER, digest_bytes(data), size)


def _stored_digest(server: RegistryServer, name: str, desc: Descriptor) -> object:
    """The digest of the blob as the registry serves it (read directly, not through a proxy)."""
    with ref(server.ref(f"{name}:1")).new_source(server.options()) as src, src.blob(desc) as stream:
        return digest_bytes(stream.read())


def _ranges(proxy: FaultProxy) -> list[tuple[str | None, int]]:
    return [(r.headers.get("Content-Range"), r.status) for r in proxy.find("PATCH", "/blobs/uploads/")]


def test_small_blob_is_one_monolithic_post_and_put(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy
) -> None:
    proxy = fault_proxy(registry)
    data = random.Random(3).randbytes(SMALL_BLOB)
    desc = Descriptor(mt.OCI_LAYER, digest_bytes(data), len(data))
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest:
        dest.chunk_size = MiB  # a small blob is never chunked, whatever the chunk size
        assert dest.put_blob(io.BytesIO(data), desc) == desc
    uploads = proxy.find(contains="/blobs/uploads/")
    assert [(r.method, r.status) for r in uploads] == [("POST", 202), ("PUT", 201)]
    assert uploads[1].headers["Content-Length"] == str(SMALL_BLOB)
    assert f"digest={desc.digest}" in unquote(uploads[1].path)
    assert _stored_digest(registry, repo_name, desc) == desc.digest


def test_large_blob_goes_up_in_chunks(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, tmp_path: Path
) -> None:
    size, chunk = 5 * MiB + 17, 2 * MiB
    path, desc = _blob_file(tmp_path, size, seed=6)
    proxy = fault_proxy(registry)
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        dest.chunk_size = chunk
        assert dest.put_blob(stream, desc) == desc
    uploads = proxy.find(contains="/blobs/uploads/")
    assert [r.method for r in uploads] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    assert _ranges(proxy) == [("0-2097151", 202), ("2097152-4194303", 202), (f"4194304-{size - 1}", 202)]
    assert [r.headers["Content-Length"] for r in uploads[1:4]] == [str(chunk), str(chunk), str(size - 2 * chunk)]
    # each PATCH goes to the Location the previous answer gave (distribution puts the offset in it)
    assert len({r.path for r in uploads[1:5]}) == 4
    assert uploads[4].headers["Content-Length"] == "0" and f"digest={desc.digest}" in unquote(uploads[4].path)
    assert _stored_digest(registry, repo_name, desc) == desc.digest
    # the default chunk size sends this blob in one PATCH
    with ref(proxy.ref(f"{repo_name}-b:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        assert dest.chunk_size == CHUNK_SIZE
        dest.put_blob(stream, desc)
    assert _ranges(proxy)[3:] == [(f"0-{size - 1}", 202)]


def test_upload_dropped_mid_chunk_resumes_at_the_registrys_offset(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, tmp_path: Path
) -> None:
    size = 5 * MiB + 17
    path, desc = _blob_file(tmp_path, size, seed=7)
    proxy = fault_proxy(registry)
    proxy.cut_upload(after=MiB + 5, skip=1)  # the second chunk is cut half-way; the registry never sees it
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        dest.chunk_size = 2 * MiB
        waited = _no_sleep(dest.repository.client)
        assert dest.put_blob(stream, desc) == desc
    assert _ranges(proxy) == [
        ("0-2097151", 202),
        ("2097152-4194303", 0),  # cut
        ("2097152-4194303", 202),  # resumed where the registry stood: the first chunk is not sent again
        (f"4194304-{size - 1}", 202),
    ]
    status = proxy.find("GET", "/blobs/uploads/")
    assert [r.status for r in status] == [204]  # the one question: how far did you get?
    assert proxy.count("POST", "/blobs/uploads/") == 1 and proxy.count("DELETE") == 0
    assert waited == [0.01]  # --retry-delay, through the client's back-off
    assert _stored_digest(registry, repo_name, desc) == desc.digest


def test_torn_chunk_restarts_the_upload_cleanly(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy, tmp_path: Path
) -> None:
    """Distribution drops a session whose chunk was torn (404 on its status): a new session, from byte 0."""
    size = 5 * MiB + 17
    path, desc = _blob_file(tmp_path, size, seed=8)
    proxy = fault_proxy(registry)
    proxy.cut_upload(after=MiB + 5, skip=1, forward=True)  # the registry gets half a chunk, then EOF
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest, open(path, "rb") as stream:
        dest.chunk_size = 2 * MiB
        _no_sleep(dest.repository.client)
        assert dest.put_blob(stream, desc) == desc
    assert [r.status for r in proxy.find("GET", "/blobs/uploads/")] == [404]
    assert proxy.count("POST", "/blobs/uploads/") == 2
    assert [r for r, _ in _ranges(proxy)[2:]] == ["0-2097151", "2097152-4194303", f"4194304-{size - 1}"]
    assert _stored_digest(registry, repo_name, desc) == desc.digest


def test_dropped_chunk_of_an_unseekable_stream_fails_cleanly(
    registry: RegistryServer, repo_name: str, fault_proxy: Proxy
) -> None:
    data = random.Random(9).randbytes(5 * MiB + 17)
    desc = Descriptor(mt.OCI_LAYER, digest_bytes(data), len(data))
    proxy = fault_proxy(registry)
    proxy.cut_upload(after=MiB, skip=1)
    with ref(proxy.ref(f"{repo_name}:1")).new_destination(proxy.options()) as dest:
        dest.chunk_size = 2 * MiB
        waited = _no_sleep(dest.repository.client)
        with pytest.raises(RegistryTransientError) as info:
            dest.put_blob(_Unseekable(data), desc)
        assert not dest.has_blob(desc)
    assert str(info.value).startswith(f"PATCH http://{proxy.host}/v2/{repo_name}/blobs/uploads/")
    assert waited == [] and proxy.count("GET", "/blobs/uploads/") == 0  # nothing to resume with: no waiting
    assert proxy.count("DELETE", "/blobs/uploads/", status=204) == 1  # the session is cancelled


def test_registry_to_registry_upload_resumes_by_rereading_the_source(
    registry_factory: Callable[[str], RegistryServer], fault_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source blob (a registry's) is re-read from the destination's offset with a Range request."""
    first, second = registry_factory("plain"), registry_factory("plain")
    pushed = push(first, "app:1", sizes=(5 * MiB + 17,), seed=10)
    layer = pushed.layers[0]
    src_proxy, dst_proxy = fault_proxy(first), fault_proxy(second)
    dst_proxy.cut_upload(after=MiB + 5, skip=1)
    monkeypatch.setattr(upload, "CHUNK_SIZE", 2 * MiB)
    result = copy_image(
        src_proxy.ref("app:1"),
        dst_proxy.ref("app:1"),
        src_options=src_proxy.options(),
        dst_options=dst_proxy.options(),
    )
    assert result.digest == pushed.digest
    assert 4 * MiB < layer.size <= 6 * MiB
    end = f"4194304-{layer.size - 1}"
    assert [r for r, _ in _ranges(dst_proxy)] == ["0-2097151", "2097152-4194303", "2097152-4194303", end]
    # one full GET, then one from where the destination stood
    assert [(r.headers.get("Range"), r.status) for r in src_proxy.find("GET", str(layer.digest))] == [
        (None, 200),
        ("bytes=2097152-", 206),
    ]
    assert _stored_digest(second, "app", layer) == layer.digest
