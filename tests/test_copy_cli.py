"""`lighter copy`'s flags end to end, through the CLI (and ``lighter.copy`` from Python).

Each flag is checked by what lands at the destination: files of a ``dir:``
compared with what skopeo writes for the same flags where skopeo has them,
digests read back with ``skopeo manifest-digest``, a registry's access log
for "nothing was written".  Progress output is checked on a real
pseudo-terminal.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

import lighter
from lighter import mediatype as mt
from lighter.compression import Algorithm
from lighter.copy import CopyOptions, copy_between
from lighter.digest import Digest, digest_bytes
from lighter.manifest import Descriptor, ImageManifest, Index, build_image_manifest, build_index, parse_manifest
from lighter.platform import parse_platform
from lighter.testing.random import (
    generate_image,
    layer_tar,
    make_config,
    make_layer,
    write_random_image,
    write_random_index,
)
from lighter.transports import ImageDestination, ImageReference, parse_image_name
from lighter.validate import check_image
from tests.fixtures_images import RunResult
from tests.fixtures_registry import RegistryServer

Run = Callable[..., RunResult]
THREE = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def _ok(result: RunResult) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _one_line_error(result: RunResult, code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lighter: error: "), result.stderr
    return lines[0]


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _dir_list(path: Path, platforms: tuple[str, ...] = THREE, oci: bool = True) -> Index:
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        return write_random_index(dest, platforms=platforms, oci=oci, layer_sizes=(1500, 9000), seed=31)


def _instance_files(path: Path) -> set[str]:
    return {p.name.removesuffix(".manifest.json") for p in path.glob("*.manifest.json")}


def _skopeo_digest(run_tool: Run, manifest: Path) -> str:
    return _ok(run_tool("skopeo", "manifest-digest", str(manifest))).strip()


def _layer_digests(path: Path) -> list[str]:
    manifest = parse_manifest((path / "manifest.json").read_bytes())
    assert not isinstance(manifest, Index)
    return [str(layer.digest) for layer in manifest.layers]


# -- --digestfile, --instance, --platform ------------------------------------------------------------


def test_digestfile_holds_the_digest_written(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    index = _dir_list(tmp_path / "src")
    src = f"dir:{tmp_path / 'src'}"
    _ok(run_lighter("copy", "-q", "--all", "--digestfile", str(tmp_path / "all.txt"), src, f"dir:{tmp_path / 'a'}"))
    assert (tmp_path / "all.txt").read_text() == str(index.digest)
    assert _skopeo_digest(run_tool, tmp_path / "a" / "manifest.json") == str(index.digest)
    # system mode writes one instance: the digest file names it, not the list
    args = ("--override-arch", "arm64", "--digestfile", str(tmp_path / "one.txt"), src, f"dir:{tmp_path / 'one'}")
    _ok(run_lighter("copy", "-q", *args))
    arm64 = index.choose(parse_platform("linux/arm64"))
    assert (tmp_path / "one.txt").read_text() == str(arm64.digest)
    assert _skopeo_digest(run_tool, tmp_path / "one" / "manifest.json") == str(arm64.digest)


def test_instance_flags_select_instances_by_digest(tmp_path: Path, run_lighter: Run) -> None:
    index = _dir_list(tmp_path / "src")
    first, _, third = index.manifests
    src = f"dir:{tmp_path / 'src'}"
    picked = ("--instance", str(first.digest), "--instance", str(third.digest))
    _ok(run_lighter("copy", "-q", *picked, src, f"dir:{tmp_path / 'sparse'}"))
    assert (tmp_path / "sparse" / "manifest.json").read_bytes() == index.raw
    assert _instance_files(tmp_path / "sparse") == {first.digest.hex, third.digest.hex}
    _ok(run_lighter("copy", "-q", *picked, "--strip-removed-platforms", src, f"dir:{tmp_path / 'strip'}"))
    stripped = parse_manifest((tmp_path / "strip" / "manifest.json").read_bytes())
    assert isinstance(stripped, Index) and stripped.manifests == (first, third)
    check_image(f"dir:{tmp_path / 'strip'}")
    missing = digest_bytes(b"not an instance")
    line = _one_line_error(run_lighter("copy", "--instance", str(missing), src, f"dir:{tmp_path / 'x'}"), code=2)
    assert f"instance {missing} is not in the manifest list {index.digest}" in line
    assert not (tmp_path / "x").exists()


def test_repeated_platform_flags(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    index = _dir_list(tmp_path / "src")
    arm64, armv7 = index.choose(parse_platform("linux/arm64")), index.choose(parse_platform("linux/arm/v7"))
    src = f"dir:{tmp_path / 'src'}"
    flags = ("--platform", "linux/arm64", "--platform", "linux/arm/v7", "--strip-removed-platforms")
    _ok(run_lighter("copy", "-q", *flags, src, f"dir:{tmp_path / 'out'}"))
    assert _instance_files(tmp_path / "out") == {arm64.digest.hex, armv7.digest.hex}
    raw = (tmp_path / "out" / "manifest.json").read_bytes()
    stripped = parse_manifest(raw)
    assert isinstance(stripped, Index) and stripped.manifests == (arm64, armv7)
    assert _ok(run_tool("skopeo", "inspect", "--raw", f"dir:{tmp_path / 'out'}")).encode() == raw


# -- --preserve-digests --------------------------------------------------------------------------------


def test_preserve_digests_refuses_and_writes_nothing(
    tmp_path: Path, registry: RegistryServer, repo_name: str, run_lighter: Run
) -> None:
    with parse_image_name(f"dir:{tmp_path / 'src'}").new_destination() as dest:
        image = write_random_image(dest, layer_sizes=(3000,), seed=32)
    src = f"dir:{tmp_path / 'src'}"
    line = _one_line_error(run_lighter("copy", "--preserve-digests", "--format", "v2s2", src, f"dir:{tmp_path / 'd'}"))
    assert f"needs a Docker v2s2 manifest, which would change the digest of {image.digest}" in line
    assert line.startswith("lighter: error: --preserve-digests: ")
    assert not (tmp_path / "d").exists()
    mark = registry.log_mark()
    args = ("--preserve-digests", "--dest-compress-format", "zstd", *registry.lighter_args("dest"), src)
    line = _one_line_error(run_lighter("copy", *args, registry.ref(f"{repo_name}:t")))
    assert f"--preserve-digests: layer {image.layers[0].digest} would be recompressed" in line
    assert [r for r in registry.requests(mark) if r.method not in ("GET", "HEAD")] == []


# -- --image-parallel-copies ---------------------------------------------------------------------------


class _Spy(ImageDestination):
    """A real ``dir:`` destination that counts how many blobs are being written at once.

    With ``meet`` > 1 the first ``meet`` writers wait for one another (a barrier with a
    timeout): the copy fails unless that many blobs really are written in parallel.
    """

    def __init__(self, inner: ImageDestination, meet: int) -> None:
        self.inner = inner
        self.active = 0
        self.most = 0
        self.started = 0
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(meet, timeout=30) if meet > 1 else None

    @property
    def reference(self) -> ImageReference:
        return self.inner.reference

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self.inner.has_blob(descriptor)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None, media_type: str = "") -> Descriptor:
        with self._lock:
            self.active += 1
            self.started += 1
            self.most = max(self.most, self.active)
            first = self.started <= (self._barrier.parties if self._barrier else 0)
        try:
            if self._barrier is not None and first:
                self._barrier.wait()
            return self.inner.put_blob(stream, descriptor, media_type)
        finally:
            with self._lock:
                self.active -= 1

    def put_manifest(self, raw: bytes, media_type: str, instance: Digest | None = None) -> None:
        self.inner.put_manifest(raw, media_type, instance)

    def commit(self) -> None:
        self.inner.commit()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("parallel", [1, 3])
def test_parallel_copies_bound_the_blobs_in_flight(tmp_path: Path, parallel: int) -> None:
    with parse_image_name(f"dir:{tmp_path / 'src'}").new_destination() as dest:
        image = write_random_image(dest, layer_sizes=(5000, 6000, 7000, 8000), seed=33)
    spy = _Spy(parse_image_name(f"dir:{tmp_path / 'out'}").new_destination(), meet=parallel)
    with parse_image_name(f"dir:{tmp_path / 'src'}").new_source() as source, spy:
        result = copy_between(source, spy, CopyOptions(parallel=parallel))
    assert result.digest == image.digest
    assert spy.started == 5  # four layers and the config
    assert spy.most == parallel


def test_image_parallel_copies_flag(tmp_path: Path, run_lighter: Run) -> None:
    _dir_list(tmp_path / "src")
    src = f"dir:{tmp_path / 'src'}"
    _ok(run_lighter("copy", "-q", "--all", src, f"dir:{tmp_path / 'default'}"))
    _ok(run_lighter("copy", "-q", "--all", "--image-parallel-copies", "1", src, f"dir:{tmp_path / 'one'}"))
    _ok(run_lighter("copy", "-q", "--all", "--image-parallel-copies", "8", src, f"dir:{tmp_path / 'eight'}"))
    assert _files(tmp_path / "one") == _files(tmp_path / "default") == _files(tmp_path / "eight")
    line = _one_line_error(run_lighter("copy", "--image-parallel-copies", "0", src, f"dir:{tmp_path / 'zero'}"))
    assert "--image-parallel-copies" in line and "0" in line
    assert not (tmp_path / "zero").exists()


# -- --override-os/--override-arch/--override-variant, --format -----------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(("--override-os", "freebsd"), id="os"),
        pytest.param(("--override-arch", "arm64"), id="arch"),
        pytest.param(("--override-arch", "arm", "--override-variant", "v6"), id="variant"),
        pytest.param(("--override-os", "linux", "--override-arch", "arm64", "--override-variant", "v8"), id="all"),
    ],
)
def test_overrides_pick_what_skopeo_picks(
    flags: tuple[str, ...], tmp_path: Path, run_lighter: Run, run_tool: Run
) -> None:
    platforms = ("linux/amd64", "freebsd/amd64", "linux/arm64", "linux/arm/v5", "linux/arm/v7")
    index = _dir_list(tmp_path / "src", platforms)
    src = f"dir:{tmp_path / 'src'}"
    _ok(run_lighter("copy", "-q", *flags, src, f"dir:{tmp_path / 'ours'}"))
    _ok(run_tool("skopeo", "copy", "-q", *flags, src, f"dir:{tmp_path / 'theirs'}"))
    ours = _files(tmp_path / "ours")
    assert ours == _files(tmp_path / "theirs")
    assert digest_bytes(ours["manifest.json"]) in {m.digest for m in index.manifests}


def test_format_oci_of_a_docker_list_matches_skopeo(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    index = _dir_list(tmp_path / "src", oci=False)
    assert index.media_type == mt.DOCKER_LIST
    src = f"dir:{tmp_path / 'src'}"
    digestfile = tmp_path / "digest"
    _ok(
        run_lighter(
            "copy", "-q", "--all", "--format", "oci", "--digestfile", str(digestfile), src, f"dir:{tmp_path / 'ours'}"
        )
    )
    _ok(run_tool("skopeo", "copy", "-q", "--all", "--format", "oci", src, f"dir:{tmp_path / 'theirs'}"))
    ours = _files(tmp_path / "ours")
    assert ours == _files(tmp_path / "theirs")  # list, instances, converted configs, layers
    assert json.loads(ours["manifest.json"])["mediaType"] == mt.OCI_INDEX
    assert digestfile.read_text() == _skopeo_digest(run_tool, tmp_path / "theirs" / "manifest.json")
    check_image(f"dir:{tmp_path / 'ours'}")
    # inspect --all-platforms: Docker rows before, OCI rows (other sizes) after
    converted = parse_manifest(ours["manifest.json"])
    assert isinstance(converted, Index)
    for listing, media_type in ((index, mt.DOCKER_MANIFEST), (converted, mt.OCI_MANIFEST)):
        where = tmp_path / ("src" if listing is index else "ours")
        rows = json.loads(_ok(run_lighter("inspect", "--all-platforms", f"dir:{where}")))
        sizes = [len((where / f"{m.digest.hex}.manifest.json").read_bytes()) for m in listing.manifests]
        assert [(r["Platform"], r["Digest"], r["Size"]) for r in rows] == [
            (str(m.platform), str(m.digest), size) for m, size in zip(listing.manifests, sizes, strict=True)
        ]
        assert {r["MediaType"] for r in rows} == {media_type}


# -- --dest-compress-level -------------------------------------------------------------------------


def _compressible_image(path: Path, compression: Algorithm = "none") -> Digest:
    """An image whose one layer compresses well, so that levels make different blobs."""
    text = b"".join(b"line %d of a compressible layer\n" % i for i in range(40_000))
    layer = make_layer(layer_tar([("words.txt", text)]), compression=compression)
    config = make_config(parse_platform("linux/amd64"), [layer.diff_id])
    config_desc = Descriptor(mt.OCI_CONFIG, config.digest, len(config.raw))
    manifest = build_image_manifest(config_desc, [layer.descriptor])
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        dest.put_blob(io.BytesIO(config.raw), config_desc)
        dest.put_blob(io.BytesIO(layer.blob), layer.descriptor)
        dest.put_manifest(manifest.raw, manifest.media_type)
        dest.commit()
    return layer.descriptor.digest


@pytest.mark.parametrize(("algorithm", "low", "high"), [("gzip", "1", "9"), ("zstd", "1", "19")])
def test_compress_level_in_range_changes_the_blobs(
    algorithm: str, low: str, high: str, tmp_path: Path, run_lighter: Run
) -> None:
    original = _compressible_image(tmp_path / "src")  # uncompressed: every level re-encodes it
    src = f"dir:{tmp_path / 'src'}"
    layers = {}
    for level in (low, high):
        args = ("--dest-compress-format", algorithm, "--dest-compress-level", level, src, f"dir:{tmp_path / level}")
        _ok(run_lighter("copy", "-q", *args))
        check_image(f"dir:{tmp_path / level}")  # the config's diffID still matches the re-encoded layer
        (layers[level],) = _layer_digests(tmp_path / level)
    # each level gives its own blob (sizes are not compared: ISA-L's levels are not monotonic on every input)
    assert len({layers[low], layers[high], str(original)}) == 3


def test_compress_level_keeps_a_layer_already_in_that_format(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    """As skopeo: a gzip layer asked for as gzip at another level is kept, not re-encoded."""
    original = _compressible_image(tmp_path / "src", "gzip")
    src = f"dir:{tmp_path / 'src'}"
    flags = ("--dest-compress-format", "gzip", "--dest-compress-level", "1")
    _ok(run_lighter("copy", "-q", *flags, src, f"dir:{tmp_path / 'ours'}"))
    _ok(run_tool("skopeo", "copy", "-q", *flags, src, f"dir:{tmp_path / 'theirs'}"))
    assert _layer_digests(tmp_path / "ours") == [str(original)]
    assert _files(tmp_path / "ours") == _files(tmp_path / "theirs") == _files(tmp_path / "src")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--dest-compress-format", "gzip"), "gzip compression level 42 is out of range: expected 0-9"),
        (("--dest-compress-format", "zstd"), "zstd compression level 42 is out of range: expected 1-22"),
        ((), "a compression level (42) needs gzip or zstd compression, got no compression format"),
    ],
)
def test_compress_level_42_is_one_line_error(
    flags: tuple[str, ...], message: str, tmp_path: Path, run_lighter: Run
) -> None:
    _compressible_image(tmp_path / "src")
    result = run_lighter(
        "copy", *flags, "--dest-compress-level", "42", f"dir:{tmp_path / 'src'}", f"dir:{tmp_path / 'out'}"
    )
    assert _one_line_error(result) == f"lighter: error: {message}"
    assert not (tmp_path / "out").exists()


# -- progress and --quiet ------------------------------------------------------------------------------


def _on_a_terminal(args: list[str], deadline_seconds: float = 120) -> tuple[int, str, bytes]:
    """Run lighter with stderr on a new pseudo-terminal; (exit code, stdout, what the terminal showed)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lighter.cli.main", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + deadline_seconds
    exited = False
    try:
        while time.monotonic() < deadline:
            # exit is checked before select: whatever the child wrote before exiting is then seen as ready
            exited = exited or process.poll() is not None
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if exited:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            shown += data
        stdout, _ = process.communicate(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return process.returncode, stdout.decode(), shown


def test_progress_bars_on_a_terminal_only(tmp_path: Path, run_lighter: Run) -> None:
    with parse_image_name(f"dir:{tmp_path / 'src'}").new_destination() as dest:
        image = write_random_image(dest, layer_sizes=(50_000, 60_000), seed=34)
    src = f"dir:{tmp_path / 'src'}"
    code, stdout, shown = _on_a_terminal(["copy", src, f"dir:{tmp_path / 'tty'}"])
    assert code == 0 and stdout == ""
    text = shown.decode(errors="replace")
    for layer in image.layers:
        assert f"layer {layer.digest.short}" in text
    assert f"config {image.config.digest.short}" in text
    assert f"Wrote {mt.OCI_MANIFEST} {image.digest}" in text
    assert "\x1b[" in text  # drawn with terminal control sequences, not printed lines
    # --quiet on a terminal: nothing at all
    code, stdout, shown = _on_a_terminal(["copy", "-q", src, f"dir:{tmp_path / 'quiet'}"])
    assert (code, stdout, shown) == (0, "", b"")
    # no terminal: nothing on stderr either, with or without -q
    for flags in ((), ("-q",)):
        result = run_lighter("copy", *flags, src, f"dir:{tmp_path / ('pipe' + ''.join(flags))}")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    for out in ("tty", "quiet", "pipe", "pipe-q"):
        assert (tmp_path / out / "manifest.json").read_bytes() == image.raw


# -- lighter.copy from Python, and what inspect --all-platforms says about the result -------------------


def test_python_copy_returns_digest_and_media_type(tmp_path: Path, run_tool: Run) -> None:
    index = _dir_list(tmp_path / "src", oci=False)
    src = f"dir:{tmp_path / 'src'}"
    kept = lighter.copy(src, f"dir:{tmp_path / 'kept'}", lighter.CopyOptions(multi_arch="all"))
    assert (kept.digest, kept.media_type) == (index.digest, mt.DOCKER_LIST)
    converted = lighter.copy(src, f"oci:{tmp_path / 'oci'}:t", lighter.CopyOptions(multi_arch="all", format="oci"))
    assert converted.media_type == mt.OCI_INDEX
    raw = _ok(run_tool("skopeo", "inspect", "--raw", f"oci:{tmp_path / 'oci'}:t")).encode()
    assert converted.digest == digest_bytes(raw)
    one = lighter.copy(
        src, f"dir:{tmp_path / 'one'}", lighter.CopyOptions(system_platform=parse_platform("linux/arm/v7"))
    )
    assert (one.digest, one.media_type) == (index.choose(parse_platform("linux/arm/v7")).digest, mt.DOCKER_MANIFEST)


def test_all_platforms_rows_after_recompression(tmp_path: Path, run_lighter: Run) -> None:
    """A list recompressed to zstd is rewritten; inspect --all-platforms describes the new instances."""
    index = _dir_list(tmp_path / "src")
    out = tmp_path / "zstd"
    _ok(run_lighter("copy", "-q", "--all", "--dest-compress-format", "zstd", f"dir:{tmp_path / 'src'}", f"dir:{out}"))
    written = parse_manifest((out / "manifest.json").read_bytes())
    assert isinstance(written, Index) and written.digest != index.digest
    rows = json.loads(_ok(run_lighter("inspect", "--all-platforms", f"dir:{out}")))
    assert [r["Platform"] for r in rows] == list(THREE)
    for row, desc in zip(rows, written.manifests, strict=True):
        instance = (out / f"{desc.digest.hex}.manifest.json").read_bytes()
        assert row["Digest"] == str(digest_bytes(instance))
        assert row["Size"] == len(instance)
        assert row["MediaType"] == mt.OCI_MANIFEST
        assert row["Compression"] == "zstd"
    source_rows = json.loads(_ok(run_lighter("inspect", "--all-platforms", f"dir:{tmp_path / 'src'}")))
    assert [(r["Digest"], r["Size"], r["Compression"]) for r in source_rows] == [
        (str(m.digest), m.size, "gzip") for m in index.manifests
    ]


def _mixed_list(path: Path) -> Index:
    """amd64 with zstd layers (kept as they are under --dest-compress-format zstd), then arm64 with gzip ones."""
    descriptors = []
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        mix: tuple[tuple[str, Algorithm], ...] = (("linux/amd64", "zstd"), ("linux/arm64", "gzip"))
        for platform, compression in mix:
            manifest, config, layers = generate_image(
                platform=platform, compression=compression, layer_sizes=(4000, 5000), seed=35
            )
            dest.put_blob(io.BytesIO(config.raw), manifest.config)
            for layer in layers:
                dest.put_blob(io.BytesIO(layer.blob), layer.descriptor)
            dest.put_manifest(manifest.raw, manifest.media_type, instance=manifest.digest)
            descriptors.append(
                Descriptor(manifest.media_type, manifest.digest, len(manifest.raw), platform=parse_platform(platform))
            )
        index = build_index(descriptors)
        dest.put_manifest(index.raw, index.media_type)
        dest.commit()
    return index


def test_preserve_digests_refuses_a_list_before_any_blob_moves(
    tmp_path: Path, registry: RegistryServer, repo_name: str, run_lighter: Run
) -> None:
    """One instance would be recompressed: refused before the other instance's blobs are uploaded."""
    index = _mixed_list(tmp_path / "src")
    mark = registry.log_mark()
    args = ("--all", "--preserve-digests", "--dest-compress-format", "zstd", *registry.lighter_args("dest"))
    line = _one_line_error(run_lighter("copy", *args, f"dir:{tmp_path / 'src'}", registry.ref(f"{repo_name}:t")))
    arm64 = parse_manifest((tmp_path / "src" / f"{index.manifests[1].digest.hex}.manifest.json").read_bytes())
    assert isinstance(arm64, ImageManifest)
    assert f"--preserve-digests: layer {arm64.layers[0].digest} would be recompressed" in line
    assert [r for r in registry.requests(mark) if r.method not in ("GET", "HEAD")] == []
    # without --preserve-digests the same copy goes through, rewriting only the arm64 instance
    _ok(run_lighter("copy", "-q", *args[:1], *args[2:], f"dir:{tmp_path / 'src'}", registry.ref(f"{repo_name}:t")))


def test_all_of_a_sparse_source_is_refused_before_anything_moves(
    tmp_path: Path, registry: RegistryServer, repo_name: str, run_lighter: Run, run_tool: Run
) -> None:
    """A sparse dir: (one instance of three) copied with --all: refused unless the destination holds the rest."""
    index = _dir_list(tmp_path / "full")
    amd64, _, armv7 = index.manifests
    _ok(
        run_lighter("copy", "-q", "--platform", "linux/arm64", f"dir:{tmp_path / 'full'}", f"dir:{tmp_path / 'sparse'}")
    )
    dst = registry.ref(f"{repo_name}:t")
    sides = registry.lighter_args("dest")
    mark = registry.log_mark()
    line = _one_line_error(run_lighter("copy", "--all", *sides, f"dir:{tmp_path / 'sparse'}", dst), code=2)
    assert (
        f"the source lacks its instances {amd64.digest}, {armv7.digest} and the destination does not hold them" in line
    )
    assert [r for r in registry.requests(mark) if r.method not in ("GET", "HEAD")] == []
    # once the destination holds them, the sparse source's list goes there unchanged
    _ok(run_lighter("copy", "-q", "--all", *sides, f"dir:{tmp_path / 'full'}", registry.ref(f"{repo_name}:full")))
    _ok(run_lighter("copy", "-q", "--all", *sides, f"dir:{tmp_path / 'sparse'}", dst))
    assert _ok(run_tool("skopeo", "inspect", "--raw", *registry.skopeo_args(), dst)).encode() == index.raw
