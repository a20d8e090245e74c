"""``make bench``'s copy benchmark runs end to end (quick mode, tiny image): no timing is asserted.

It proves what the full run relies on: the streamed image generator, both
registries, the curl limits, lighter and skopeo on every scenario, and the
report (one ``lighter/skopeo`` ratio line per scenario, same manifest digest
as skopeo where nothing is recompressed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_copy import SCENARIOS
from tests.fixtures_registry import requires_registry

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    requires_registry,
    pytest.mark.registry,
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]


def test_quick_copy_bench_prints_a_ratio_for_every_scenario(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTER_BENCH")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_copy", "--quick", "--size-mb", "4", "--workdir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for scenario in SCENARIOS:
        assert re.search(rf"^lighter/skopeo {re.escape(scenario.key)} = \d+\.\d\d ", done.stdout, re.M), done.stdout
    assert re.search(r"^limits \(curl, median\): pull \d+ MB/s", done.stdout, re.M), done.stdout
    assert "peak RSS goal" in done.stdout
    # the work directory is cleaned up: nothing but what pytest made is left
    assert list(tmp_path.iterdir()) == []


def test_json_report_has_a_row_per_chosen_scenario(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    chosen = ["r2oci", "r2dir-plain"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_copy",
            "--quick",
            "--size-mb",
            "4",
            "--scenarios",
            ",".join(chosen),
            "--workdir",
            str(tmp_path / "work"),
            "--json",
            str(report),
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("LIGHTER_BENCH")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(report.read_text())["rows"]
    assert [row["scenario"] for row in rows] == chosen
    for row in rows:
        assert row["lighter_s"] > 0 and row["skopeo_s"] > 0
        assert row["lighter_rss_mib"] > 0
        # nothing is recompressed here: lighter writes exactly the manifest skopeo writes
        assert row["same_digest_as_skopeo"], row
    assert "limit_mbps" in rows[0] and rows[1]["goal"].startswith("ratio")
