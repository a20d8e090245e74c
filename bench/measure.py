"""Timing a child process and reading its peak memory.

The peak RSS comes from GNU ``time`` (``%M``, from its own ``wait4``), not
from our ``wait4``: Linux carries a process's high-water mark across
``fork``/``exec``, so a child started from this ~100 MiB Python process
would report at least 100 MiB whatever it did, while ``time`` is a few MiB.
``RUSAGE_CHILDREN`` deltas would not work either: it keeps only the
largest child seen so far.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GNU_TIME = "/usr/bin/time"


class RunFailed(RuntimeError):
    """A measured command exited non-zero."""


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mib: float


def run(argv: Sequence[str], env: Mapping[str, str] | None = None, what: str = "") -> Run:
    """Run ``argv`` to its end; wall time and peak RSS.  Raises RunFailed with its stderr's tail."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        done = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", rss.name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=dict(env or os.environ),
            check=False,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise RunFailed(f"{what or argv[0]} exited {done.returncode}: {' '.join(argv)}\n{tail}")
        kib = int(rss.read().split()[-1])  # the last line: "Command exited ..." may come before it
    return Run(seconds, kib / 1024)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def say(text: str = "") -> None:
    """Print at once: the parent runner shows our output as it comes."""
    print(text, flush=True)
    sys.stdout.flush()
