"""Parallel cache fetch: 8 images from a real local registry, 4 workers against 1.

Run ``python -m bench.bench_cache [--quick] [--size-mb N] [--rounds N]``
(``LIGHTER_BENCH_QUICK=1``, ``LIGHTER_BENCH_SIZE_MB`` and
``LIGHTER_BENCH_ROUNDS`` do the same as the flags) from the repository root.

A ``docker-registry`` on 127.0.0.1 is filled with 8 random images (8
incompressible layers each, ``--size-mb`` in all); the same source
description is then fetched into a fresh cache with ``--workers 1`` and
``--workers 4``, ``--rounds`` times each, and the medians are compared.
Each run is a separate ``lighter cache fetch`` process, timed by
``bench.measure.run``.

A fetch shares a fixed number of blob streams among the items it fetches at
once (``lighter.cache.fetch.blob_streams_per_item``): one item gets all 8,
four get 2 each.  Every image has 8 layers, so one item alone can keep its
8 streams busy, and both runs have the same number of blobs in flight; the
ratio therefore measures item parallelism (manifests, configs, committing
and installing entries side by side), not more streams.  The stream counts
are printed beside it.

On loopback those serial steps cost next to nothing, so the same fetches
run a second time through ``bench/latency.py``, a proxy that makes every
request wait ``--rtt-ms`` (default 20 ms, a registry in another region):
that is where fetching several items at once pays.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.latency import far_away
from bench.measure import median, run, say
from bench.registry import RegistryServer, running_registry
from lighter.cache.fetch import blob_streams_per_item
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name

IMAGES = 8
LAYERS = 8
WORKER_COUNTS = (1, 4)


def fill_registry(server: RegistryServer, layer_kib: int) -> list[tuple[str, str]]:
    """Push the images; return each one's (config digest, manifest digest)."""
    pinned = []
    for i in range(IMAGES):
        ref = parse_image_name(server.ref(f"bench/cache-{i}:v1"))
        with ref.new_destination(server.options()) as dest:
            manifest = write_random_image(dest, layer_sizes=(layer_kib * 1024,) * LAYERS, seed=1000 + i)
        pinned.append((str(manifest.config.digest), str(manifest.digest)))
    return pinned


def description(host: str, pinned: list[tuple[str, str]]) -> dict[str, object]:
    """The source description that pins the images, as served at ``host``."""
    items = {
        image_id: {"image": {"name": f"{host}/bench/cache-{i}", "digest": digest, "tls-verify": False}}
        for i, (image_id, digest) in enumerate(pinned)
    }
    return {"org.osbuild.skopeo": {"items": items}}


def time_fetch(sources: Path, workdir: Path, workers: int, rounds: int) -> float:
    """Median seconds of ``lighter cache fetch --workers N`` into a fresh cache."""
    seconds = []
    for attempt in range(rounds):
        cache = workdir / f"cache-{workers}-{attempt}"
        argv = [sys.executable, "-m", "lighter.cli.main", "cache", "fetch", "--cache", str(cache)]
        result = run([*argv, "--workers", str(workers), str(sources)], what=f"cache fetch --workers {workers}")
        seconds.append(result.seconds)
        shutil.rmtree(cache)
    return median(seconds)


def streams(workers: int) -> str:
    """``4 items x 2 blob streams = 8`` for a worker count."""
    at_once = min(workers, IMAGES)
    per_item = min(blob_streams_per_item(workers), LAYERS)
    return f"{at_once} item{'s' if at_once > 1 else ''} x {per_item} blob streams = {at_once * per_item}"


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    quick = os.environ.get("LIGHTER_BENCH_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser(prog="python -m bench.bench_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=quick, help="small images, one round")
    parser.add_argument("--size-mb", type=int, default=None, help="all images together (default 64, quick 8)")
    parser.add_argument("--rounds", type=int, default=None, help="runs per worker count (default 3, quick 1)")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="delay per request of the far registry")
    opts = parser.parse_args(argv)
    if opts.size_mb is None:  # a flag beats the environment, which beats the (quick) default
        env_size = os.environ.get("LIGHTER_BENCH_SIZE_MB")
        opts.size_mb = int(env_size) if env_size else (8 if opts.quick else 64)
    if opts.rounds is None:
        env_rounds = os.environ.get("LIGHTER_BENCH_ROUNDS")
        opts.rounds = int(env_rounds) if env_rounds else (1 if opts.quick else 3)
    if opts.size_mb < 1 or opts.rounds < 1:
        parser.error(f"--size-mb and --rounds must be at least 1, got {opts.size_mb} and {opts.rounds}")
    return opts


def compare(sources: Path, workdir: Path, rounds: int, where: str) -> None:
    """Time every worker count against one registry; print the ratio."""
    medians = {}
    for workers in WORKER_COUNTS:
        medians[workers] = time_fetch(sources, workdir, workers, rounds)
        say(f"  {where}, --workers {workers}: {medians[workers]:.2f} s  ({streams(workers)})")
    one, four = medians[1], medians[4]
    say(f"  {where}: 4 workers are {one / four:.2f}x as fast as 1 (blob streams: {streams(4)} vs {streams(1)})")


def main(argv: Sequence[str] | None = None) -> None:
    opts = _options(argv)
    layer_kib = max(1, opts.size_mb * 1024 // (IMAGES * LAYERS))
    with tempfile.TemporaryDirectory(prefix="lighter-bench-cache-") as tmp:
        workdir = Path(tmp)
        with running_registry(workdir / "registry") as server:
            pinned = fill_registry(server, layer_kib)
            total_mib = IMAGES * LAYERS * layer_kib / 1024
            say(
                f"cache fetch: {IMAGES} images, {LAYERS} layers of {layer_kib} KiB each ({total_mib:.0f} MiB),"
                f" median of {opts.rounds} round{'s' if opts.rounds > 1 else ''}"
            )
            near = workdir / "sources-near.json"
            near.write_text(json.dumps(description(server.host, pinned)))
            compare(near, workdir, opts.rounds, "loopback")
            with far_away(server.host, opts.rtt_ms / 1000) as far_host:
                far = workdir / "sources-far.json"
                far.write_text(json.dumps(description(far_host, pinned)))
                compare(far, workdir, opts.rounds, f"{opts.rtt_ms:g} ms away")


if __name__ == "__main__":
    main()
