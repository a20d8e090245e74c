"""Benchmark: ``lighter commit`` of a large tree against ``tar | pigz``, ``tar | zstd -T0`` and ``umoci insert``.

Run with ``python -m bench.bench_commit [--quick] [--size-mb N] [--rounds N] [--files N] [--out DIR]``
(``LIGHTER_BENCH_QUICK=1``, ``LIGHTER_BENCH_SIZE_MB``, ``LIGHTER_BENCH_ROUNDS``,
``LIGHTER_BENCH_COMMIT_FILES`` and ``LIGHTER_BENCH_OUT`` do the same as the
flags; a flag beats the environment, which beats the default).  The tree
(default ~500 MiB in ~30k files, 60 files a MiB: many small text-like files,
fewer large ones, half of the bytes compressible) is generated once under
``bench-out/`` and reused.  Quick mode (the smoke test's) commits 8 MiB in
one round.  Every contender reads the same warm tree and writes its output
to the same disk; the time of the best round is kept.  Only the work itself
is timed: removing the previous output and ``umoci init``/``umoci new``
happen before the clock starts.  pigz and zstd are installed from Debian
when missing (not in quick mode, which skips their rows instead).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lighter.build import commit

OUT = Path("bench-out").resolve()  # set by main() from --out / LIGHTER_BENCH_OUT
MIB = 1024 * 1024
FILES_PER_MIB = 60
_WORDS = [
    f"{w}{i % 97}" for i, w in enumerate(("lorem ipsum dolor sit amet config value path usr lib share " * 20).split())
]


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value else None


def _sizes(rng: random.Random, files: int, total: int) -> list[int]:
    """Log-normal file sizes (most small, a few large), scaled to ``total`` bytes."""
    raw = [rng.lognormvariate(8.0, 2.0) for _ in range(files)]
    scale = total / sum(raw)
    return [max(0, int(r * scale)) for r in raw]


def _content(rng: random.Random, size: int) -> bytes:
    if rng.random() < 0.5:  # text-like, compresses ~3-4x
        words = " ".join(rng.choices(_WORDS, k=size // 6 + 1)).encode()
        return words[:size]
    return rng.randbytes(size)  # binary-like, incompressible


def generate_tree(mib: int, files: int) -> Path:
    root = OUT / f"commit-tree-{mib}m-{files}f"
    stamp = root.with_suffix(".done")
    if stamp.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(f"lighter-bench-commit-{mib}-{files}")
    dirs = [root]
    for i in range(max(1, files // 40)):
        parent = rng.choice(dirs)
        child = parent / f"d{i:05d}"
        child.mkdir(parents=True, exist_ok=True)
        dirs.append(child)
    for i, size in enumerate(_sizes(rng, files, mib * MIB)):
        path = rng.choice(dirs) / f"f{i:06d}.dat"
        path.write_bytes(_content(rng, size))
        if i % 50 == 0:
            path.chmod(0o755)
    stamp.write_text("ok\n")
    return root


def ensure_tools(install: bool) -> None:
    missing = [pkg for pkg, tool in (("pigz", "pigz"), ("zstd", "zstd")) if shutil.which(tool) is None]
    if install and missing and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env, capture_output=True)
    for tool in ("pigz", "zstd", "umoci", "tar"):
        if shutil.which(tool) is None:
            print(f"note: {tool} not found; its row is skipped", file=sys.stderr)


@dataclass(frozen=True)
class Row:
    """One contender: ``prepare(i)`` readies round ``i`` (untimed), ``run(i)`` is what is timed."""

    label: str
    run: Callable[[int], None]
    output: Path
    prepare: Callable[[int], None] | None = None


def _best(row: Row, rounds: int) -> float:
    best = float("inf")
    for i in range(rounds):
        if row.prepare is not None:
            row.prepare(i)
        start = time.perf_counter()
        row.run(i)
        best = min(best, time.perf_counter() - start)
    return best


def _shell(command: str) -> Callable[[int], None]:
    def run(_: int) -> None:
        subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)

    return run


def _lighter_row(tree: Path, compression: str) -> Row:
    def layout(i: int) -> Path:
        return OUT / f"commit-lighter-{compression}-{i}"

    def run(i: int) -> None:
        commit(tree, f"oci:{layout(i)}:bench", compression=compression, timestamp=0)

    return Row(
        f"lighter commit ({compression})", run, layout(0), lambda i: shutil.rmtree(layout(i), ignore_errors=True)
    )


def _umoci_row(tree: Path) -> Row:
    def layout(i: int) -> Path:
        return OUT / f"commit-umoci-{i}"

    def prepare(i: int) -> None:  # an empty image to insert into: not what is being compared
        shutil.rmtree(layout(i), ignore_errors=True)
        subprocess.run(["umoci", "init", "--layout", str(layout(i))], check=True)
        subprocess.run(["umoci", "new", "--image", f"{layout(i)}:bench"], check=True)

    def run(i: int) -> None:
        subprocess.run(["umoci", "insert", "--image", f"{layout(i)}:bench", str(tree), "/"], check=True)

    return Row("umoci insert", run, layout(0), prepare)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    quick = os.environ.get("LIGHTER_BENCH_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser(prog="python -m bench.bench_commit", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", default=quick, help="8 MiB, one round")
    parser.add_argument("--size-mb", type=int, default=None, help="tree size (default 500, quick 8)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds, best kept (default 2, quick 1)")
    parser.add_argument("--files", type=int, default=None, help=f"files in the tree (default {FILES_PER_MIB} a MiB)")
    parser.add_argument("--out", default=None, help="work directory (default bench-out)")
    opts = parser.parse_args(argv)
    if opts.size_mb is None:
        opts.size_mb = (
            _env_int("LIGHTER_BENCH_SIZE_MB") or _env_int("LIGHTER_BENCH_COMMIT_MIB") or (8 if opts.quick else 500)
        )
    if opts.rounds is None:
        opts.rounds = _env_int("LIGHTER_BENCH_ROUNDS") or _env_int("LIGHTER_BENCH_REPEAT") or (1 if opts.quick else 2)
    if opts.files is None:
        opts.files = _env_int("LIGHTER_BENCH_COMMIT_FILES") or max(1, opts.size_mb * FILES_PER_MIB)
    opts.out = Path(opts.out or os.environ.get("LIGHTER_BENCH_OUT") or "bench-out").resolve()
    return opts


def _rows(tree: Path) -> list[Row]:
    tar = f"tar -C {tree} --sort=name --numeric-owner -cf - ."
    rows = [_lighter_row(tree, "gzip"), _lighter_row(tree, "zstd")]
    if shutil.which("pigz"):
        rows.append(Row("tar | pigz", _shell(f"{tar} | pigz > {OUT}/commit-pigz.tar.gz"), OUT / "commit-pigz.tar.gz"))
    if shutil.which("zstd"):
        zstd = _shell(f"{tar} | zstd -q -T0 -f -o {OUT}/commit-zstd.tar.zst")
        rows.append(Row("tar | zstd -T0", zstd, OUT / "commit-zstd.tar.zst"))
    if shutil.which("umoci"):
        rows.append(_umoci_row(tree))
    return rows


RATIOS = (
    ("lighter gzip / tar|pigz", "lighter commit (gzip)", "tar | pigz", "goal <= 1.3"),
    ("lighter zstd / tar|zstd -T0", "lighter commit (zstd)", "tar | zstd -T0", "goal <= 1.3"),
    ("lighter gzip / umoci insert", "lighter commit (gzip)", "umoci insert", "goal < 1"),
)


def main(argv: Sequence[str] | None = None) -> None:
    global OUT
    opts = _options(argv)
    OUT = opts.out
    mib, files, rounds = opts.size_mb, opts.files, opts.rounds
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_tools(install=not opts.quick)
    tree = generate_tree(mib, files)
    subprocess.run(["tar", "-C", str(tree), "-cf", "/dev/null", "."], check=True)  # warm the page cache
    print(f"commit of {mib} MiB in {files} files (best of {rounds}, {os.cpu_count()} cores)")
    times: dict[str, float] = {}
    for row in _rows(tree):
        times[row.label] = _best(row, rounds)
        rate = mib / times[row.label]
        print(
            f"  {row.label:<24} {times[row.label]:7.2f} s  {rate:7.1f} MiB/s  output {_size(row.output) / MIB:8.1f} MiB"
        )
    for name, a, b, goal in RATIOS:
        if a in times and b in times:
            print(f"  {name:<30} {times[a] / times[b]:5.2f}x  ({goal})")


if __name__ == "__main__":
    main()
