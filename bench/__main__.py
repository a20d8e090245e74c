"""``make bench``: run every benchmark module present, each in its own process.

    python -m bench [--quick] [--size-mb N] [--rounds N] [NAME ...]

NAMEs choose a subset (``copy``, ``commit``, ``cache`` or the module names);
``LIGHTER_BENCH=copy,cache`` does the same.  ``--quick`` (or
``LIGHTER_BENCH_QUICK=1``) asks each module for its smoke-test mode: a small
image and one round, so the whole bench runs in a few minutes.  The modules
read the environment: ``LIGHTER_BENCH_QUICK``, ``LIGHTER_BENCH_SIZE_MB`` and
``LIGHTER_BENCH_ROUNDS``.
A module that fails does not stop the others; the exit code says whether all
passed.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Sequence

MODULES = ("bench_copy", "bench_commit", "bench_cache")


def _module_name(name: str) -> str:
    return name if name.startswith("bench_") else f"bench_{name}"


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run lighter's benchmarks.")
    parser.add_argument("names", nargs="*", help=f"modules to run (default all of {', '.join(MODULES)})")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (LIGHTER_BENCH_QUICK=1)")
    parser.add_argument("--size-mb", type=int, default=None, help="data size for every module (LIGHTER_BENCH_SIZE_MB)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds for every module (LIGHTER_BENCH_ROUNDS)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = _options(argv)
    chosen = opts.names or [n for n in os.environ.get("LIGHTER_BENCH", "").split(",") if n.strip()]
    names = [_module_name(n.strip()) for n in chosen] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown bench module(s) {', '.join(unknown)}: expected {', '.join(MODULES)}")
    env = dict(os.environ)
    if opts.quick:
        env["LIGHTER_BENCH_QUICK"] = "1"
    if opts.size_mb is not None:
        env["LIGHTER_BENCH_SIZE_MB"] = str(opts.size_mb)
    if opts.rounds is not None:
        env["LIGHTER_BENCH_ROUNDS"] = str(opts.rounds)
    # Every lighter run is a fresh interpreter.  With PYTHONDONTWRITEBYTECODE
    # set (as it is on some CI machines) an editable install never caches its
    # bytecode, and each run would spend ~0.15 s compiling lighter: a cost an
    # installed wheel (compiled at install time) does not pay.
    compileall.compile_dir(os.path.join(os.path.dirname(os.path.dirname(__file__)), "src", "lighter"), quiet=1)
    failed = []
    for name in names:
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"== bench.{name}: not present, skipped", flush=True)
            continue
        print(f"== bench.{name}", flush=True)
        start = time.monotonic()
        # the child's output goes straight to ours, as it comes
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"], env=env, check=False).returncode
        print(f"== bench.{name}: exit {code} after {time.monotonic() - start:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
