"""Fetching into the cache from a real registry: skip what is cached, verify, refuse what does not match."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lighter import check_image
from lighter import mediatype as mt
from lighter.cache import Cache, fetch, load_sources, parse_sources, verify
from lighter.digest import Digest, parse_digest
from lighter.errors import DigestMismatchError, InvalidManifestError, NotAManifestListError
from lighter.manifest import Descriptor, ImageManifest, Index, build_image_manifest, manifest_digest
from lighter.platform import parse_platform
from lighter.testing.random import generate_image, make_config, write_random_image, write_random_index
from lighter.transports import ImageDestination, parse_image_name
from tests.faultproxy import BLOBS, FaultProxy, Rule
from tests.fixtures_registry import RegistryServer

RunResult = subprocess.CompletedProcess[str]


def push_image(server: RegistryServer, repo: str, tag: str, seed: int, **kwargs: Any) -> ImageManifest:
    with parse_image_name(server.ref(f"{repo}:{tag}")).new_destination(server.options()) as dest:
        return write_random_image(dest, seed=seed, **kwargs)


def push_index(server: RegistryServer, repo: str, tag: str, seed: int, **kwargs: Any) -> Index:
    with parse_image_name(server.ref(f"{repo}:{tag}")).new_destination(server.options()) as dest:
        return write_random_index(dest, seed=seed, **kwargs)


def image_item(host: str, repo: str, manifest: ImageManifest) -> dict[str, Any]:
    return {
        str(manifest.config.digest): {
            "image": {"name": f"{host}/{repo}", "digest": str(manifest.digest), "tls-verify": False}
        }
    }


def list_item(host: str, repo: str, digest: str) -> dict[str, Any]:
    return {digest: {"image": {"name": f"{host}/{repo}", "tls-verify": False}}}


def description(images: dict[str, Any] | None = None, lists: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if images:
        out["org.osbuild.skopeo"] = {"items": images}
    if lists:
        out["org.osbuild.skopeo-index"] = {"items": lists}
    return out


def blob_requests(server: RegistryServer, since: int) -> list[str]:
    return [e.path for e in server.requests(since) if "/blobs/" in e.path]


def cache_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@dataclass
class HoldingProxy(FaultProxy):
    """A FaultProxy that holds blob GETs back, to make overlaps happen for sure.

    Each blob GET waits (before it is forwarded) until ``open_when`` is true
    of the blob GETs held or in flight at that moment, path by path; from
    then on the gate stays open.  A request gives up waiting after ``hold``
    seconds.  ``snapshots`` keeps, after every change, which blob GETs were
    in flight (arrived, and not answered yet) at once.
    """

    hold: float = 60.0
    open_when: Callable[[Counter[str]], bool] = field(default=lambda _: False)
    opened_with: Counter[str] | None = None
    snapshots: list[Counter[str]] = field(default_factory=list)
    _in_flight: Counter[str] = field(default_factory=Counter)
    _gate: threading.Condition = field(default_factory=threading.Condition)

    def take_rule(self, method: str, path: str) -> Rule | None:
        if method == "GET" and BLOBS in path:
            deadline = time.monotonic() + self.hold
            with self._gate:
                self._in_flight[path] += 1
                self.snapshots.append(Counter(self._in_flight))
                if self.opened_with is None and self.open_when(self._in_flight):
                    self.opened_with = Counter(self._in_flight)
                    self._gate.notify_all()
                while self.opened_with is None and (left := deadline - time.monotonic()) > 0:
                    self._gate.wait(left)
        return super().take_rule(method, path)

    def record(self, method: str, path: str, status: int, authorization: bool) -> None:
        if method == "GET" and BLOBS in path:
            with self._gate:
                self._in_flight[path] -= 1
                self._in_flight += Counter()  # drop the zeros
                self.snapshots.append(Counter(self._in_flight))
        super().record(method, path, status, authorization)


@pytest.fixture
def holding_proxy(registry: RegistryServer) -> Iterator[Callable[..., HoldingProxy]]:
    """``holding_proxy(hold=…, open_when=…)``: a started HoldingProxy in front of ``registry``."""
    started: list[HoldingProxy] = []

    def start(**kwargs: Any) -> HoldingProxy:
        proxy = HoldingProxy(registry.host, **kwargs)
        started.append(proxy)
        proxy.start()
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def blob_of(path: str) -> Digest:
    return parse_digest(path.rsplit("/", 1)[1])


def test_fetch_twice_then_verify_and_a_flipped_byte(
    registry: RegistryServer, repo_name: str, tmp_path: Path, run_lighter: Callable[..., RunResult]
) -> None:
    one = push_image(registry, repo_name, "one", seed=1, layer_sizes=(2048, 1024))
    two = push_image(registry, repo_name, "two", seed=2, oci=False)
    index = push_index(registry, repo_name, "multi", seed=3)
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps(
            description(
                {**image_item(registry.host, repo_name, one), **image_item(registry.host, repo_name, two)},
                list_item(registry.host, repo_name, str(index.digest)),
            )
        )
    )
    cache = tmp_path / "cache"

    first = run_lighter("cache", "fetch", "--cache", str(cache), "--workers", "3", str(sources))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("fetched") == 3

    mark = registry.log_mark()
    second = run_lighter("cache", "fetch", "--cache", str(cache), str(sources))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("cached") == 3 and "fetched" not in second.stdout
    assert blob_requests(registry, mark) == []

    listing = run_lighter("cache", "ls", "--cache", str(cache))
    assert listing.returncode == 0, listing.stderr
    for key in (one.config.digest, two.config.digest, index.digest):
        assert str(key) in listing.stdout
    # the cached list is the registry's exact bytes; the images are whole dir: images
    assert (cache / "org.osbuild.files" / str(index.digest)).read_bytes() == index.raw
    stored = cache / "org.osbuild.containers" / str(one.config.digest) / "image"
    assert (stored / "manifest.json").read_bytes() == one.raw

    ok = run_lighter("cache", "verify", "--cache", str(cache))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("ok ") == 3

    layer = stored / one.layers[0].digest.hex
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0x01
    layer.write_bytes(bytes(data))
    bad = run_lighter("cache", "verify", "--cache", str(cache))
    assert bad.returncode == 1
    assert f"corrupt  image {one.config.digest}" in bad.stdout
    assert str(one.layers[0].digest) in bad.stdout
    assert "1 corrupt cache entries found and removed" in bad.stderr
    assert not stored.exists()
    assert sorted(e.key for e in Cache(str(cache)).entries()) == sorted([two.config.digest, index.digest])

    # the removed entry is simply fetched again, and is whole
    again = run_lighter("cache", "fetch", "--cache", str(cache), str(sources))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("fetched") == 1
    assert verify(str(cache)).corrupt == ()
    for image in (one, two):
        check_image(f"dir:{Cache(str(cache)).image_path(image.config.digest)}")


def test_list_digest_that_does_not_match_names_both(
    registry: RegistryServer, repo_name: str, tmp_path: Path, fault_proxy: Callable[[RegistryServer], FaultProxy]
) -> None:
    index = push_index(registry, repo_name, "multi", seed=4)
    proxy = fault_proxy(registry)
    proxy.flip_byte(offset=len(index.raw) - 3, contains=f"/manifests/{index.digest}")
    items = parse_sources(description(lists=list_item(proxy.host, repo_name, str(index.digest))))
    cache = tmp_path / "cache"
    with pytest.raises(DigestMismatchError) as info:
        fetch(str(cache), items)
    message = str(info.value)
    assert f"expected {index.digest}" in message
    assert message.count("sha256:") >= 3 and info.value.actual != str(index.digest)
    assert cache_files(cache) == []


def test_single_image_where_a_list_is_required(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = push_image(registry, repo_name, "single", seed=5)
    items = parse_sources(description(lists=list_item(registry.host, repo_name, str(image.digest))))
    cache = tmp_path / "cache"
    with pytest.raises(
        NotAManifestListError, match=f"{repo_name}@{image.digest} is a single image .*not a manifest list"
    ):
        fetch(str(cache), items)
    assert cache_files(cache) == []


def test_image_id_that_does_not_match_names_both(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = push_image(registry, repo_name, "single", seed=6)
    wrong = "sha256:" + "0" * 64
    items = parse_sources(
        description(
            {
                wrong: {
                    "image": {"name": f"{registry.host}/{repo_name}", "digest": str(image.digest), "tls-verify": False}
                }
            }
        )
    )
    cache = tmp_path / "cache"
    with pytest.raises(DigestMismatchError) as info:
        fetch(str(cache), items)
    assert wrong in str(info.value) and str(image.config.digest) in str(info.value)
    assert cache_files(cache) == []


def test_image_pinned_by_a_list_digest_is_cached_under_its_id(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    from lighter.platform import host_platform

    index = push_index(registry, repo_name, "multi", seed=7)
    chosen = index.choose(host_platform())
    with parse_image_name(registry.ref(f"{repo_name}@{chosen.digest}")).new_source(registry.options()) as src:
        instance = src.manifest(chosen.digest)[0]
    config = json.loads(instance)["config"]["digest"]
    items = parse_sources(
        description(
            {
                config: {
                    "image": {"name": f"{registry.host}/{repo_name}", "digest": str(index.digest), "tls-verify": False}
                }
            }
        )
    )
    cache = Cache(str(tmp_path / "cache"))
    report = fetch(cache, items)
    assert [i.key for i in report.fetched] == [parse_digest(config)]
    assert (Path(cache.image_path(parse_digest(config))) / "manifest.json").read_bytes() == instance
    check_image(f"dir:{cache.image_path(parse_digest(config))}")


def test_two_processes_fetching_into_one_cache(
    registry: RegistryServer, repo_name: str, tmp_path: Path, holding_proxy: Callable[..., HoldingProxy]
) -> None:
    images = [push_image(registry, repo_name, f"t{i}", seed=10 + i, layer_sizes=(256 * 1024,)) for i in range(3)]
    index = push_index(registry, repo_name, "multi", seed=20)
    # every blob GET waits until one blob is asked for twice at once: both processes are then
    # fetching the same image, so both runs overlap for sure (at most 60 s: then the test fails)
    proxy = holding_proxy(hold=60.0, open_when=lambda held: max(held.values()) >= 2)
    items: dict[str, Any] = {}
    for image in images:
        items.update(image_item(proxy.host, repo_name, image))
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(description(items, list_item(proxy.host, repo_name, str(index.digest)))))
    cache = tmp_path / "cache"
    argv = [sys.executable, "-m", "lighter.cli.main", "cache", "fetch", "--cache", str(cache), str(sources)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err

    assert proxy.opened_with is not None, "the two fetches never asked for a blob at the same time"
    [(shared, _)] = [(path, n) for path, n in proxy.opened_with.items() if n >= 2]
    [raced] = [i for i in images if blob_of(shared) in (i.config.digest, *(d.digest for d in i.layers))]
    distinct = {d.digest for i in images for d in (i.config, *i.layers)}
    assert proxy.count("GET", BLOBS) > len(distinct)  # blobs were fetched twice, not once

    # each item was put in place by exactly one of them; the other says it found it cached
    stdouts = [out for out, _ in outs]
    for key in [*(str(i.config.digest) for i in images), str(index.digest)]:
        lines = [line for out in stdouts for line in out.splitlines() if f" {key} " in line]
        assert len(lines) == 2 and sum(line.startswith("fetched ") for line in lines) == 1, stdouts
        assert sum(line.startswith("cached ") for line in lines) == 1, stdouts
    # both fetched the image of the shared blob to the end; the one that lost the race says so
    lost = [line for out in stdouts for line in out.splitlines() if "fetched by another process" in line]
    assert any(str(raced.config.digest) in line for line in lost), stdouts

    entries = Cache(str(cache)).entries()
    assert sorted(str(e.key) for e in entries) == sorted([*(str(i.config.digest) for i in images), str(index.digest)])
    assert [n for n in os.listdir(cache) if n.startswith(".tmp-")] == []
    assert verify(str(cache)).corrupt == ()
    for image in images:
        check_image(f"dir:{Cache(str(cache)).image_path(image.config.digest)}")


@pytest.mark.parametrize("workers", [1, 4])
def test_workers_fetch_that_many_images_at_once(
    registry: RegistryServer,
    repo_name: str,
    tmp_path: Path,
    run_lighter: Callable[..., RunResult],
    holding_proxy: Callable[..., HoldingProxy],
    workers: int,
) -> None:
    images = [push_image(registry, repo_name, f"w{i}", seed=60 + i) for i in range(6)]
    image_of = {d.digest: i.config.digest for i in images for d in (i.config, *i.layers)}

    def images_in_flight(held: Counter[str]) -> int:
        return len({image_of[blob_of(path)] for path in held})

    # hold every blob GET until `workers` images have one in flight, or for 0.5 s: long enough for
    # requests that could overlap to overlap (a serial fetch never opens the gate, and needs no more)
    proxy = holding_proxy(hold=0.5 if workers == 1 else 60.0, open_when=lambda held: images_in_flight(held) >= 4)
    items: dict[str, Any] = {}
    for image in images:
        items.update(image_item(proxy.host, repo_name, image))
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(description(items)))
    cache = tmp_path / "cache"
    done = run_lighter("cache", "fetch", "--cache", str(cache), "--workers", str(workers), str(sources))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("fetched ") == len(images)

    most_images = max(images_in_flight(held) for held in proxy.snapshots)
    most_requests = max(sum(held.values()) for held in proxy.snapshots)
    if workers == 1:
        assert proxy.opened_with is None
        assert most_images == 1  # one image after the other; its own blobs may overlap
    else:
        assert proxy.opened_with is not None and images_in_flight(proxy.opened_with) == 4
        assert most_images == 4  # never more than --workers at once
        assert most_requests >= 4
    assert verify(str(cache)).corrupt == ()
    for image in images:
        check_image(f"dir:{Cache(str(cache)).image_path(image.config.digest)}")


def test_install_never_replaces_an_entry(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "cache"))
    key = parse_digest("sha256:" + "1" * 64)
    results = []
    for content in (b"first", b"second"):
        with cache.workspace() as space:
            staged = Path(space.path) / "entry"
            (staged / "image").mkdir(parents=True)
            (staged / "image" / "manifest.json").write_bytes(content)
            results.append(cache.install("image", key, str(staged)))
    assert results == [True, False]
    assert (Path(cache.image_path(key)) / "manifest.json").read_bytes() == b"first"
    lists = []
    for content in (b"list-1", b"list-2"):
        with cache.workspace() as space:
            staged_file = Path(space.path) / "list"
            staged_file.write_bytes(content)
            lists.append(cache.install("list", key, str(staged_file)))
    assert lists == [True, False]
    assert Path(cache.list_path(key)).read_bytes() == b"list-1"
    assert [n for n in os.listdir(cache.root) if n.startswith(".tmp-")] == []


def test_killed_fetch_leaves_no_entry_and_the_next_fetch_sweeps_it(
    registry: RegistryServer,
    repo_name: str,
    tmp_path: Path,
    fault_proxy: Callable[[RegistryServer], FaultProxy],
    run_lighter: Callable[..., RunResult],
) -> None:
    image = push_image(registry, repo_name, "slow", seed=30)
    proxy = fault_proxy(registry)
    proxy.fail(times=1000, status=503, contains="/blobs/", method="GET")  # the fetch retries, with back-off
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(description(image_item(proxy.host, repo_name, image))))
    cache = tmp_path / "cache"
    argv = [sys.executable, "-m", "lighter.cli.main", "cache", "fetch", "--cache", str(cache), str(sources)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while proxy.count("GET", "/blobs/") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.count("GET", "/blobs/") > 0, "the fetch never reached the blobs"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    store = Cache(str(cache))
    assert store.entries() == []
    assert not store.has("image", image.config.digest)
    [dead] = [n for n in os.listdir(cache) if n.startswith(".tmp-")]  # the dead writer's workspace, unlocked now

    # the next fetch sweeps it first, but not what a live writer holds, nor a workspace still being made
    proxy.clear()
    (cache / ".new-stale").mkdir()
    os.utime(cache / ".new-stale", (time.time() - 120, time.time() - 120))
    (cache / ".new-young").mkdir()
    with store.workspace() as live:
        done = run_lighter("cache", "fetch", "--cache", str(cache), str(sources))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"fetched  image {image.config.digest}")
        assert sorted(n for n in os.listdir(cache) if n.startswith(".")) == sorted(
            [os.path.basename(live.path), ".new-young"]
        )
    assert dead not in os.listdir(cache)
    check_image(f"dir:{store.image_path(image.config.digest)}")
    assert store.sweep_temporaries(min_age=0) == 1  # the young one, once old enough
    assert os.listdir(cache) == ["org.osbuild.containers"]


def test_verify_catches_edited_manifests_and_a_flipped_list_byte(
    registry: RegistryServer, repo_name: str, tmp_path: Path, run_lighter: Callable[..., RunResult]
) -> None:
    images = [push_image(registry, repo_name, f"m{i}", seed=40 + i) for i in range(3)]
    index = push_index(registry, repo_name, "multi", seed=43)
    items: dict[str, Any] = {}
    for image in images:
        items.update(image_item(registry.host, repo_name, image))
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(description(items, list_item(registry.host, repo_name, str(index.digest)))))
    cache = Cache(str(tmp_path / "cache"))
    fetch(cache, load_sources(str(sources)))
    dirs = [Path(cache.image_path(i.config.digest)) for i in images]
    for image, stored in zip(images, dirs, strict=True):
        # fetch records each image's manifest under its digest, beside manifest.json
        assert (stored / f"{image.digest.hex}.manifest.json").read_bytes() == image.raw
        check_image(f"dir:{stored}")
    assert verify(cache, remove=False).corrupt == ()

    # the same content re-serialised: same config, same layers, another manifest digest
    pretty = json.dumps(json.loads(images[0].raw), indent=2).encode()
    (dirs[0] / "manifest.json").write_bytes(pretty)
    # an edited manifest: an annotation added, the blobs all still there and whole
    edited = json.loads(images[1].raw)
    edited["annotations"] = {"org.example.edited": "yes"}
    (dirs[1] / "manifest.json").write_bytes(json.dumps(edited).encode())
    # the record is gone: nothing vouches for manifest.json any more
    (dirs[2] / f"{images[2].digest.hex}.manifest.json").unlink()
    list_file = Path(cache.list_path(index.digest))
    data = bytearray(list_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    list_file.write_bytes(bytes(data))

    bad = run_lighter("cache", "verify", "--cache", cache.root)
    assert bad.returncode == 1
    assert "4 corrupt cache entries found and removed" in bad.stderr
    lines = {line.split()[2].rstrip(":"): line for line in bad.stdout.splitlines() if line.startswith("corrupt")}
    assert set(lines) == {*(str(i.config.digest) for i in images), str(index.digest)}
    first, second, third = (lines[str(i.config.digest)] for i in images)
    assert "manifest.json of cached image" in first
    assert f"expected {images[0].digest}" in first and str(manifest_digest(pretty)) in first
    assert f"expected {images[1].digest}" in second
    assert "expected one <hex>.manifest.json recording its manifest, found none" in third
    assert f"expected {index.digest}" in lines[str(index.digest)]
    assert cache.entries() == []

    # has() no longer keeps them: the next fetch gets all four again, and they are whole
    again = fetch(cache, load_sources(str(sources)))
    assert len(again.fetched) == 4 and again.cached == ()
    assert verify(cache).corrupt == ()
    assert Path(cache.list_path(index.digest)).read_bytes() == index.raw


def _inconsistent_image(dest: ImageDestination) -> ImageManifest:
    """An image whose config lists no diffID for its one layer, written to ``dest``."""
    _, _, layers = generate_image(seed=50)
    config = make_config(parse_platform("linux/amd64"), [])
    config_desc = Descriptor(mt.OCI_CONFIG, config.digest, len(config.raw))
    manifest = build_image_manifest(config_desc, [layers[0].descriptor])
    dest.put_blob(io.BytesIO(config.raw), config_desc)
    dest.put_blob(io.BytesIO(layers[0].blob), layers[0].descriptor)
    dest.put_manifest(manifest.raw, manifest.media_type)
    dest.commit()
    return manifest


def test_an_image_whose_config_does_not_list_its_layers(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    with parse_image_name(registry.ref(f"{repo_name}:bad")).new_destination(registry.options()) as dest:
        image = _inconsistent_image(dest)
    cache = Cache(str(tmp_path / "cache"))
    items = parse_sources(description(image_item(registry.host, repo_name, image)))
    with pytest.raises(InvalidManifestError, match="its config lists 0 diffIDs for the 1 layers of its manifest"):
        fetch(cache, items)
    assert cache_files(Path(cache.root)) == []

    # filed by hand (as another tool might), verify finds it and removes it
    with cache.workspace() as space:
        image_dir = Path(space.path) / "entry" / "image"
        with parse_image_name(f"dir:{image_dir}").new_destination() as dest:
            _inconsistent_image(dest)
        (image_dir / f"{image.digest.hex}.manifest.json").write_bytes(image.raw)
        assert cache.install("image", image.config.digest, str(image_dir.parent))
    report = verify(cache)
    assert [(e.key, "lists 0 diffIDs for the 1 layers" in p) for e, p in report.corrupt] == [
        (image.config.digest, True)
    ]
    assert cache.entries() == []
