"""Benchmark: ``lighter commit`` of a large tree against ``tar | pigz``, ``tar | zstd -T0`` and ``umoci insert``.

Run with ``python -m bench.bench_commit``.  The tree (default ~500 MiB in
~30k files: many small text-like files, fewer large ones, half of the bytes
compressible) is generated once under ``bench-out/`` and reused.  Size it
with ``LIGHTER_BENCH_COMMIT_MIB`` and ``LIGHTER_BENCH_COMMIT_FILES`` (e.g.
``LIGHTER_BENCH_COMMIT_MIB=50 LIGHTER_BENCH_COMMIT_FILES=3000`` for a quick
run) and the number of timed runs (best kept) with
``LIGHTER_BENCH_REPEAT``.  Every contender reads the same warm tree and
writes its output to the same disk; pigz and zstd are installed from Debian
when missing.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lighter.build import commit

OUT = Path(os.environ.get("LIGHTER_BENCH_OUT", "bench-out")).resolve()
MIB = 1024 * 1024
_WORDS = [
    f"{w}{i % 97}" for i, w in enumerate(("lorem ipsum dolor sit amet config value path usr lib share " * 20).split())
]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


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


def ensure_tools() -> None:
    missing = [pkg for pkg, tool in (("pigz", "pigz"), ("zstd", "zstd")) if shutil.which(tool) is None]
    if missing and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env, capture_output=True)
    for tool in ("pigz", "zstd", "umoci", "tar"):
        if shutil.which(tool) is None:
            print(f"note: {tool} not found; its row is skipped", file=sys.stderr)


def _best(fn: Callable[[int], None], repeat: int) -> float:
    best = float("inf")
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        best = min(best, time.perf_counter() - start)
    return best


def _shell(command: str) -> Callable[[int], None]:
    def run(_: int) -> None:
        subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)

    return run


def _lighter(tree: Path, compression: str) -> Callable[[int], None]:
    def run(i: int) -> None:
        layout = OUT / f"commit-lighter-{compression}-{i}"
        shutil.rmtree(layout, ignore_errors=True)
        commit(tree, f"oci:{layout}:bench", compression=compression, timestamp=0)

    return run


def _umoci(tree: Path) -> Callable[[int], None]:
    def run(i: int) -> None:
        layout = OUT / f"commit-umoci-{i}"
        shutil.rmtree(layout, ignore_errors=True)
        subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
        subprocess.run(["umoci", "new", "--image", f"{layout}:bench"], check=True)
        subprocess.run(["umoci", "insert", "--image", f"{layout}:bench", str(tree), "/"], check=True)

    return run


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    mib = _env_int("LIGHTER_BENCH_COMMIT_MIB", 500)
    files = _env_int("LIGHTER_BENCH_COMMIT_FILES", 30_000)
    repeat = _env_int("LIGHTER_BENCH_REPEAT", 2)
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_tools()
    tree = generate_tree(mib, files)
    subprocess.run(["tar", "-C", str(tree), "-cf", "/dev/null", "."], check=True)  # warm the page cache
    tar = f"tar -C {tree} --sort=name --numeric-owner -cf - ."
    rows: list[tuple[str, Callable[[int], None], Path]] = [
        ("lighter commit (gzip)", _lighter(tree, "gzip"), OUT / "commit-lighter-gzip-0"),
        ("lighter commit (zstd)", _lighter(tree, "zstd"), OUT / "commit-lighter-zstd-0"),
    ]
    if shutil.which("pigz"):
        rows.append(("tar | pigz", _shell(f"{tar} | pigz > {OUT}/commit-pigz.tar.gz"), OUT / "commit-pigz.tar.gz"))
    if shutil.which("zstd"):
        rows.append(
            (
                "tar | zstd -T0",
                _shell(f"{tar} | zstd -q -T0 -f -o {OUT}/commit-zstd.tar.zst"),
                OUT / "commit-zstd.tar.zst",
            )
        )
    if shutil.which("umoci"):
        rows.append(("umoci insert", _umoci(tree), OUT / "commit-umoci-0"))
    print(f"commit of {mib} MiB in {files} files (best of {repeat}, {os.cpu_count()} cores)")
    times: dict[str, float] = {}
    for label, fn, output in rows:
        times[label] = _best(fn, repeat)
        rate = mib / times[label]
        print(f"  {label:<24} {times[label]:7.2f} s  {rate:7.1f} MiB/s  output {_size(output) / MIB:8.1f} MiB")
    ratios = [
        ("lighter gzip / tar|pigz", "lighter commit (gzip)", "tar | pigz", "goal <= 1.3"),
        ("lighter zstd / tar|zstd -T0", "lighter commit (zstd)", "tar | zstd -T0", "goal <= 1.3"),
        ("lighter gzip / umoci insert", "lighter commit (gzip)", "umoci insert", "goal < 1"),
    ]
    for name, a, b, goal in ratios:
        if a in times and b in times:
            print(f"  {name:<30} {times[a] / times[b]:5.2f}x  ({goal})")


if __name__ == "__main__":
    main()
