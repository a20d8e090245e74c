"""``make bench``'s cache benchmark runs end to end in quick mode: no timing is asserted.

It proves what the full run relies on: the registry filled with 8 images,
``lighter cache fetch`` with 1 and 4 workers, and the report (the ratio line
with the blob streams of both runs beside it, on loopback and through
bench/latency.py's far-away proxy), and that the module reads
``LIGHTER_BENCH_QUICK``, ``LIGHTER_BENCH_SIZE_MB`` and ``LIGHTER_BENCH_ROUNDS``
as ``python -m bench`` says every module does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_cache import IMAGES, LAYERS
from lighter.cache.fetch import BLOB_STREAMS
from tests.fixtures_registry import requires_registry

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [requires_registry, pytest.mark.registry]


def _bench(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTER_BENCH")}
    return subprocess.run(
        [sys.executable, "-m", "bench.bench_cache", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_quick_cache_bench_prints_the_ratio_with_equal_blob_streams() -> None:
    done = _bench({"LIGHTER_BENCH_QUICK": "1", "LIGHTER_BENCH_SIZE_MB": "1", "LIGHTER_BENCH_ROUNDS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    layer_kib = 1024 // (IMAGES * LAYERS)
    header = f"cache fetch: {IMAGES} images, {LAYERS} layers of {layer_kib} KiB each (1 MiB), median of 1 round\n"
    assert done.stdout.startswith(header), done.stdout
    for where in ("loopback", "20 ms away"):
        one = rf"^  {where}, --workers 1: \d+\.\d\d s  \(1 item x 8 blob streams = 8\)$"
        four = rf"^  {where}, --workers 4: \d+\.\d\d s  \(4 items x 2 blob streams = 8\)$"
        assert re.search(one, done.stdout, re.M), done.stdout
        assert re.search(four, done.stdout, re.M), done.stdout
        ratio = re.search(
            rf"^  {where}: 4 workers are (\d+\.\d\d)x as fast as 1 \(blob streams: 4 items x 2 blob streams = (\d+)"
            r" vs 1 item x 8 blob streams = (\d+)\)$",
            done.stdout,
            re.M,
        )
        assert ratio is not None, done.stdout
        assert float(ratio.group(1)) > 0
        assert int(ratio.group(2)) == int(ratio.group(3)) == BLOB_STREAMS


def test_quick_flag_without_the_environment_uses_the_quick_size() -> None:
    done = _bench({}, "--quick", "--rounds", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"layers of {8 * 1024 // (IMAGES * LAYERS)} KiB each (8 MiB), median of 1 round" in done.stdout
    bad = _bench({"LIGHTER_BENCH_ROUNDS": "1"}, "--size-mb", "0")
    assert bad.returncode == 2 and "--size-mb and --rounds must be at least 1" in bad.stderr
