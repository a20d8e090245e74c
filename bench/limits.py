"""What the disk and the registry allow, measured with bare ``curl`` on the same blobs.

* pull: ``curl -o FILE`` of each blob from the registry, then ``fsync`` (lighter
  and skopeo both make their blobs durable, so the limit does too);
* push: ``curl -X POST`` to open an upload, then one ``curl -X PUT -T FILE
  ...?digest=`` (a monolithic upload: the fewest requests a registry allows;
  ``-T`` streams the file, where ``--data-binary @FILE`` would first read it
  whole into memory).

Each is timed one blob after another (the sum) and all blobs at once (the
wall time); the better of the two is the limit a client is held to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from urllib.parse import urljoin

from bench.measure import RunFailed

CURL = "curl"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    path: str  # a local copy (pushes read it)


@dataclass(frozen=True)
class Limit:
    sequential: float
    parallel: float

    @property
    def best(self) -> float:
        return min(self.sequential, self.parallel)


def ensure_tools(names: Sequence[str] = ("curl",)) -> None:
    """``apt-get install`` whatever is missing (the brief allows curl, pigz and zstd)."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def _curl(args: Sequence[str]) -> str:
    done = subprocess.run([CURL, "-sS", "--fail", *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise RunFailed(f"curl {' '.join(args)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout.decode(errors="replace")


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pull_one(base_url: str, repository: str, blob: Blob, directory: str) -> None:
    target = os.path.join(directory, blob.digest.replace(":", "-"))
    _curl(["-L", "-o", target, f"{base_url}/v2/{repository}/blobs/{blob.digest}"])
    _fsync(target)


def _push_one(base_url: str, repository: str, blob: Blob) -> None:
    headers = _curl(["-X", "POST", "-D", "-", "-o", "/dev/null", f"{base_url}/v2/{repository}/blobs/uploads/"])
    location = next(
        (line.split(":", 1)[1].strip() for line in headers.splitlines() if line.lower().startswith("location:")), ""
    )
    if not location:
        raise RunFailed(f"no Location in the answer to POST /v2/{repository}/blobs/uploads/")
    url = urljoin(base_url + "/", location)
    url += ("&" if "?" in url else "?") + f"digest={blob.digest}"
    _curl(["-X", "PUT", "-H", "Expect:", "-H", "Content-Type: application/octet-stream", "-T", blob.path, url])


def _timed(jobs: Sequence[Callable[[], None]], parallel_jobs: Sequence[Callable[[], None]]) -> Limit:
    """The sum of ``jobs`` run one after another, and the wall time of ``parallel_jobs`` run at once.

    Each timing starts from a clean page cache (``sync``), as the copies measured against it do.
    """
    sequential = 0.0
    for job in jobs:
        os.sync()
        start = time.perf_counter()
        job()
        sequential += time.perf_counter() - start
    os.sync()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(parallel_jobs))) as pool:
        for future in [pool.submit(job) for job in parallel_jobs]:
            future.result()
    return Limit(sequential, time.perf_counter() - start)


def pull_limit(base_url: str, repository: str, blobs: Sequence[Blob], directory: str) -> Limit:
    """``curl -o`` + fsync of every blob into ``directory`` (removed after)."""
    seq_dir, par_dir = os.path.join(directory, "seq"), os.path.join(directory, "par")
    os.makedirs(seq_dir)
    os.makedirs(par_dir)
    try:
        return _timed(
            [partial(_pull_one, base_url, repository, b, seq_dir) for b in blobs],
            [partial(_pull_one, base_url, repository, b, par_dir) for b in blobs],
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def push_limit(base_url: str, blobs: Sequence[Blob]) -> Limit:
    """A bare monolithic upload of every blob, into fresh repositories (nothing is there yet)."""
    seq_repo, par_repo = f"bench/curl-{uuid.uuid4().hex[:8]}", f"bench/curl-{uuid.uuid4().hex[:8]}"
    return _timed(
        [partial(_push_one, base_url, seq_repo, b) for b in blobs],
        [partial(_push_one, base_url, par_repo, b) for b in blobs],
    )
