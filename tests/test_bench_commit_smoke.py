"""``make bench``'s commit benchmark runs end to end in quick mode (a tiny tree, seconds): no timing is asserted.

It proves what the full run relies on: the environment ``bench/__main__.py``
hands every module (``LIGHTER_BENCH_QUICK``, ``LIGHTER_BENCH_SIZE_MB``,
``LIGHTER_BENCH_ROUNDS``) is honoured, every installed contender runs, and
the report has its ratio lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTER_BENCH")}
    return subprocess.run(
        [sys.executable, "-m", "bench.bench_commit"],
        cwd=ROOT,
        env={**base, "LIGHTER_BENCH_OUT": str(tmp_path / "out"), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_quick_commit_bench_prints_its_ratios(tmp_path: Path) -> None:
    done = _run(tmp_path, LIGHTER_BENCH_QUICK="1", LIGHTER_BENCH_SIZE_MB="2", LIGHTER_BENCH_ROUNDS="2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^commit of 2 MiB in 120 files \(best of 2, \d+ cores\)$", done.stdout, re.M), done.stdout
    for label in ("lighter commit (gzip)", "lighter commit (zstd)"):
        assert re.search(rf"^  {re.escape(label)} +\d+\.\d\d s .* MiB/s  output +\d+\.\d MiB$", done.stdout, re.M)
    expected = [
        ("lighter gzip / tar|pigz", "pigz"),
        ("lighter zstd / tar|zstd -T0", "zstd"),
        ("lighter gzip / umoci insert", "umoci"),
    ]
    for ratio, tool in expected:
        if shutil.which(tool):  # a missing tool's row (and ratio) is left out, with a note
            assert re.search(rf"^  {re.escape(ratio)} +\d+\.\d\dx  \(goal", done.stdout, re.M), done.stdout
    # the tree is the size asked for, in the work directory asked for
    trees = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("commit-tree-") and p.is_dir()]
    assert [t.name for t in trees] == ["commit-tree-2m-120f"]
    size = sum(p.stat().st_size for p in trees[0].rglob("*") if p.is_file())
    assert 1.5 * 1024 * 1024 < size <= 2 * 1024 * 1024


def test_quick_mode_defaults_to_a_small_tree_and_one_round(tmp_path: Path) -> None:
    done = _run(tmp_path, LIGHTER_BENCH_QUICK="1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^commit of 8 MiB in 480 files \(best of 1, ", done.stdout, re.M), done.stdout
