"""Parallel cache fetch: 8 images from a real local registry, 4 workers against 1.

A ``docker-registry`` on 127.0.0.1 is filled with 8 random images (4
incompressible layers each); the same source description is then fetched
into a fresh cache with ``--workers 1`` and ``--workers 4``, a few times
each, and the medians are compared.  Each run is a separate ``lighter cache
fetch`` process, timed by ``bench.measure.run``.

Run it with ``python -m bench.bench_cache`` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench.measure import median, run, say
from bench.registry import RegistryServer, running_registry
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name

IMAGES = 8
LAYERS = 4


def fill_registry(server: RegistryServer, layer_kib: int) -> dict[str, object]:
    """Push the images; return the source description that pins them."""
    items: dict[str, object] = {}
    for i in range(IMAGES):
        ref = parse_image_name(server.ref(f"bench/cache-{i}:v1"))
        with ref.new_destination(server.options()) as dest:
            manifest = write_random_image(dest, layer_sizes=(layer_kib * 1024,) * LAYERS, seed=1000 + i)
        items[str(manifest.config.digest)] = {
            "image": {"name": f"{server.host}/bench/cache-{i}", "digest": str(manifest.digest), "tls-verify": False}
        }
    return {"org.osbuild.skopeo": {"items": items}}


def time_fetch(sources: Path, workdir: Path, workers: int, repeat: int) -> float:
    """Median seconds of ``lighter cache fetch --workers N`` into a fresh cache."""
    seconds = []
    for attempt in range(repeat):
        cache = workdir / f"cache-{workers}-{attempt}"
        argv = [sys.executable, "-m", "lighter.cli.main", "cache", "fetch", "--cache", str(cache)]
        result = run([*argv, "--workers", str(workers), str(sources)], what=f"cache fetch --workers {workers}")
        seconds.append(result.seconds)
        shutil.rmtree(cache)
    return median(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer-kib", type=int, default=2048, help="size of each layer (KiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count (the median is kept)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lighter-bench-cache-") as tmp:
        workdir = Path(tmp)
        with running_registry(workdir / "registry") as server:
            sources = workdir / "sources.json"
            sources.write_text(json.dumps(fill_registry(server, args.layer_kib)))
            total_mib = IMAGES * LAYERS * args.layer_kib / 1024
            say(f"cache fetch: {IMAGES} images, {LAYERS} layers of {args.layer_kib} KiB each ({total_mib:.0f} MiB)")
            one = time_fetch(sources, workdir, 1, args.repeat)
            say(f"  --workers 1: {one:.2f} s")
            four = time_fetch(sources, workdir, 4, args.repeat)
            say(f"  --workers 4: {four:.2f} s")
            say(f"  4 workers are {one / four:.2f}x as fast as 1")


if __name__ == "__main__":
    main()
