"""``lighter copy`` against ``skopeo copy`` on a ~1 GiB image, with the disk's and registry's limits beside.

Run ``python -m bench.bench_copy [--size-mb N] [--rounds N] [--quick] [--scenarios a,b]``
(``LIGHTER_BENCH_SIZE_MB``, ``LIGHTER_BENCH_ROUNDS`` and ``LIGHTER_BENCH_QUICK=1`` do the same as the flags).

Set-up, once per run: a 5-layer image (4 random layers, 1 compressible) is
generated as a stream into an ``oci:`` layout (bench/image.py), copied to a
``dir:``, and pushed with lighter to registry A; registry B starts empty.
Both are Debian's docker-registry over plain HTTP on 127.0.0.1.

Each round measures the limits first (bench/limits.py: ``curl -o`` + fsync
of the blobs from A; a bare ``curl`` POST + PUT upload of them to B), then
runs every scenario with lighter and skopeo one after the other, the order
swapped every round.  Every run writes to a destination nothing has seen:
a new repository name, a new directory (removed after), and starts from a
clean page cache (``sync``: on ext4 an ``fsync`` also waits for earlier
writers' dirty data).  skopeo keeps a "blob info cache" of where it saw
blobs and would mount them from earlier runs' repositories instead of
uploading; each skopeo run gets a cache of its own (a private mount over the
cache directory): empty, as lighter (which remembers locations only in
memory) starts empty too, except in the mount scenario, where it is a copy
of one warmed by a pull of the source: with an empty cache skopeo does not
mount at all but uploads every blob again.

Both tools run as CLI subprocesses; wall time and the child's peak RSS come
from ``os.wait4`` (bench/measure.py).  MB are 10^6 bytes of source blobs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.image import write_image
from bench.limits import Blob, Limit, ensure_tools, pull_limit, push_limit
from bench.measure import Run, median, run, say
from bench.registry import RegistryServer, running_registry
from lighter.copy import copy_image
from lighter.manifest import parse_manifest
from lighter.transports import TransportOptions

SOURCE_REPO = "bench/src"
RSS_GOAL_MIB = 200.0
CLIENT_RATIO_GOAL = 0.6
LIMIT_SLACK = 1.10
SKOPEO_CACHE_DIR = "/var/lib/containers/cache"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    src: str  # "A" (registry A), "oci", "dir"
    dst: str  # "A", "B", "oci", "dir"
    flags: tuple[str, ...] = ()
    #: what bounds it: "pull" / "push" (a curl limit), "client" (ratio goal), "" (no bytes move)
    bound: str = ""
    same_digest: bool = True
    #: skopeo mounts only blobs its blob info cache knows: give it one that has seen the source
    skopeo_warm_cache: bool = False


SCENARIOS = (
    Scenario("mount", "registry→registry, same registry (mount)", "A", "A", skopeo_warm_cache=True),
    Scenario("r2r", "registry→registry, second registry", "A", "B", bound="push"),
    Scenario("r2oci", "registry→oci:", "A", "oci", bound="pull"),
    Scenario("oci2r", "oci:→registry", "oci", "B", bound="push"),
    Scenario("dir2r", "dir:→registry", "dir", "B", bound="push"),
    Scenario(
        "r2oci-zstd",
        "registry→oci: --dest-compress-format zstd",
        "A",
        "oci",
        ("--dest-compress-format", "zstd"),
        "client",
        same_digest=False,
    ),
    Scenario("r2dir-plain", "registry→dir: --dest-decompress", "A", "dir", ("--dest-decompress",), "client"),
)


@dataclass
class Setup:
    work: Path
    a: RegistryServer
    b: RegistryServer
    blobs: list[Blob]
    skopeo_isolation: list[str]
    #: a skopeo blob info cache that has seen the source's blobs (copied into each run's cache)
    warm_cache: Path | None = None

    @property
    def total_bytes(self) -> int:
        return sum(b.size for b in self.blobs)

    def name(self, side: str, token: str, source: bool) -> str:
        if side in ("A", "B"):
            server = self.a if side == "A" else self.b
            return server.ref(SOURCE_REPO + ":latest" if source else f"bench/{token}:latest")
        if side == "oci":
            return f"oci:{self.work / ('src-oci' if source else token)}:bench"
        return f"dir:{self.work / ('src-dir' if source else token)}"


@dataclass
class Results:
    runs: dict[tuple[str, str], list[Run]] = field(default_factory=dict)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    pull: list[Limit] = field(default_factory=list)
    push: list[Limit] = field(default_factory=list)


# -- set-up ---------------------------------------------------------------------


def _skopeo_isolation(work: Path) -> list[str]:
    """A command prefix giving skopeo an empty blob info cache (see the module docstring)."""
    if os.geteuid() != 0:
        return []  # rootless skopeo keeps it under $XDG_DATA_HOME, which each run gets fresh
    os.makedirs(SKOPEO_CACHE_DIR, exist_ok=True)
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind {work} {SKOPEO_CACHE_DIR}"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        say("warning: cannot give skopeo a private blob info cache: it may mount blobs from earlier runs")
        return []
    return ["unshare", "-m", "sh", "-c", f'mount --bind "$0" {SKOPEO_CACHE_DIR} && exec "$@"']


def _blobs_of(layout: Path) -> list[Blob]:
    index = json.loads((layout / "index.json").read_bytes())
    digest = index["manifests"][0]["digest"]
    raw = (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    manifest = parse_manifest(raw)
    descs = [manifest.config, *manifest.layers]  # type: ignore[union-attr]
    return [Blob(str(d.digest), d.size, str(layout / "blobs" / "sha256" / d.digest.hex)) for d in descs]


def prepare(work: Path, a: RegistryServer, b: RegistryServer, size_mb: int) -> Setup:
    say(f"generating a {size_mb} MB image of 5 layers in {work} ...")
    write_image(f"oci:{work / 'src-oci'}:bench", size_mb)
    plain = TransportOptions(tls_verify=False)
    copy_image(f"oci:{work / 'src-oci'}:bench", f"dir:{work / 'src-dir'}")
    copy_image(f"oci:{work / 'src-oci'}:bench", a.ref(SOURCE_REPO + ":latest"), dst_options=plain)
    blobs = _blobs_of(work / "src-oci")
    say(f"image: {len(blobs)} blobs, {sum(x.size for x in blobs) / 1e6:.0f} MB; pushed to {a.host}/{SOURCE_REPO}")
    setup = Setup(work, a, b, blobs, _skopeo_isolation(work))
    setup.warm_cache = _warm_skopeo_cache(setup)
    return setup


def _warm_skopeo_cache(setup: Setup) -> Path:
    """A cache filled by one skopeo pull of the source: it then knows where the source's blobs live."""
    cache = setup.work / "skopeo-warm-cache"
    cache.mkdir()
    target = setup.work / "warm-pull"
    argv = ["skopeo", "copy", "-q", "--src-tls-verify=false", setup.a.ref(SOURCE_REPO + ":latest"), f"dir:{target}"]
    run(_isolated(setup, cache, argv), _skopeo_env(cache), "skopeo (warming its cache)")
    shutil.rmtree(target)
    return cache


def _isolated(setup: Setup, cache: Path, argv: list[str]) -> list[str]:
    """``argv`` run with ``cache`` as skopeo's blob info cache directory."""
    return [*setup.skopeo_isolation, str(cache), *argv] if setup.skopeo_isolation else argv


def _skopeo_env(cache: Path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(cache)}  # rootless skopeo keeps its cache there


# -- running --------------------------------------------------------------------


def _argv(tool: str, scenario: Scenario, src: str, dst: str, digestfile: str, setup: Setup) -> list[str]:
    flags = ["--src-tls-verify=false"] if scenario.src in ("A", "B") else []
    flags += ["--dest-tls-verify=false"] if scenario.dst in ("A", "B") else []
    flags += [*scenario.flags, "--digestfile", digestfile, src, dst]
    if tool == "lighter":
        return [sys.executable, "-m", "lighter.cli.main", "copy", "-q", *flags]
    return ["skopeo", "copy", "-q", *flags]


def run_once(setup: Setup, scenario: Scenario, tool: str, results: Results) -> Run:
    token = f"{scenario.key}-{tool}-{uuid.uuid4().hex[:8]}"
    src, dst = setup.name(scenario.src, token, True), setup.name(scenario.dst, token, False)
    digestfile = str(setup.work / f"{token}.digest")
    argv = _argv(tool, scenario, src, dst, digestfile, setup)
    env = dict(os.environ)
    cache = setup.work / f"cache-{token}"
    if tool == "skopeo":
        if scenario.skopeo_warm_cache and setup.warm_cache is not None:
            shutil.copytree(setup.warm_cache, cache)
        else:
            cache.mkdir()
        env, argv = _skopeo_env(cache), _isolated(setup, cache, argv)
    # Start from a clean page cache: on ext4 an fsync waits for every dirty block of the journal
    # transaction, so the previous run's (or registry's) unflushed writes would be billed to this one.
    os.sync()
    try:
        result = run(argv, env, f"{tool} ({scenario.key})")
        results.digests.setdefault((scenario.key, tool), Path(digestfile).read_text().strip())
    finally:
        for path in (setup.work / token, cache, Path(digestfile)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    results.runs.setdefault((scenario.key, tool), []).append(result)
    return result


def run_round(setup: Setup, scenarios: Sequence[Scenario], number: int, results: Results) -> None:
    a_url, b_url = setup.a.url, setup.b.url
    os.sync()  # as before each run (run_once)
    results.pull.append(pull_limit(a_url, SOURCE_REPO, setup.blobs, str(setup.work / "curl")))
    results.push.append(push_limit(b_url, setup.blobs))
    pulls, pushes = _limit_text(results.pull[-1], setup), _limit_text(results.push[-1], setup)
    say(f"round {number + 1}: limits pull {pulls}, push {pushes}")
    order = ("lighter", "skopeo") if number % 2 == 0 else ("skopeo", "lighter")
    for scenario in scenarios:
        for tool in order:
            done = run_once(setup, scenario, tool, results)
            say(f"  {scenario.key:<12} {tool:<8} {done.seconds:7.2f} s  {done.max_rss_mib:6.0f} MiB")


# -- report ---------------------------------------------------------------------


def _mbps(total: int, seconds: float) -> float:
    return total / seconds / 1e6 if seconds > 0 else float("inf")


def _limit_text(limit: Limit, setup: Setup) -> str:
    total = setup.total_bytes
    return f"{_mbps(total, limit.sequential):.0f} MB/s one by one, {_mbps(total, limit.parallel):.0f} MB/s at once"


def _yes_no(value: bool | None) -> str:
    return "n/a (each tool's own compressor)" if value is None else "yes" if value else "NO"


def _median_limit(limits: Sequence[Limit]) -> Limit:
    return Limit(median([x.sequential for x in limits]), median([x.parallel for x in limits]))


def _row(scenario: Scenario, setup: Setup, results: Results) -> dict[str, Any]:
    lighter, skopeo = results.runs[(scenario.key, "lighter")], results.runs[(scenario.key, "skopeo")]
    l_s, s_s = median([r.seconds for r in lighter]), median([r.seconds for r in skopeo])
    rss = max(r.max_rss_mib for r in lighter)
    row: dict[str, Any] = {
        "scenario": scenario.key,
        "title": scenario.title,
        "lighter_s": l_s,
        "skopeo_s": s_s,
        "lighter_mbps": _mbps(setup.total_bytes, l_s),
        "skopeo_mbps": _mbps(setup.total_bytes, s_s),
        "ratio": l_s / s_s,
        "lighter_rss_mib": rss,
        "skopeo_rss_mib": max(r.max_rss_mib for r in skopeo),
        "rss_goal_met": rss <= RSS_GOAL_MIB,
    }
    lighter_digest, skopeo_digest = (
        results.digests[(scenario.key, "lighter")],
        results.digests[(scenario.key, "skopeo")],
    )
    row["same_digest_as_skopeo"] = lighter_digest == skopeo_digest if scenario.same_digest else None
    if scenario.bound in ("pull", "push"):
        limit = _median_limit(results.pull if scenario.bound == "pull" else results.push)
        row["limit_s"] = limit.best
        row["limit_mbps"] = _mbps(setup.total_bytes, limit.best)
        row["goal"] = f"lighter ≤ {LIMIT_SLACK:.2f} x {scenario.bound} limit"
        row["goal_met"] = l_s <= LIMIT_SLACK * limit.best
    elif scenario.bound == "client":
        row["goal"] = f"ratio ≤ {CLIENT_RATIO_GOAL}"
        row["goal_met"] = row["ratio"] <= CLIENT_RATIO_GOAL
    return row


def report(setup: Setup, scenarios: Sequence[Scenario], results: Results, rounds: int) -> list[dict[str, Any]]:
    rows = [_row(s, setup, results) for s in scenarios]
    say()
    say(f"copy of {setup.total_bytes / 1e6:.0f} MB ({len(setup.blobs)} blobs), median of {rounds} round(s)")
    say(
        f"{'scenario':<12} {'lighter':>9} {'skopeo':>9} {'lighter':>9} {'skopeo':>9} {'ratio':>6} {'RSS':>6}  "
        f"{'limit':>9}  goal"
    )
    say(f"{'':<12} {'s':>9} {'s':>9} {'MB/s':>9} {'MB/s':>9} {'l/s':>6} {'MiB':>6}  {'MB/s':>9}")
    for row in rows:
        limit = f"{row['limit_mbps']:9.0f}" if "limit_mbps" in row else f"{'-':>9}"
        goal = f"{row['goal']}: {'met' if row['goal_met'] else 'NOT met'}" if "goal" in row else "-"
        say(
            f"{row['scenario']:<12} {row['lighter_s']:9.2f} {row['skopeo_s']:9.2f} {row['lighter_mbps']:9.0f} "
            f"{row['skopeo_mbps']:9.0f} {row['ratio']:6.2f} {row['lighter_rss_mib']:6.0f}  {limit}  {goal}"
        )
    say()
    for row in rows:
        say(
            f"lighter/skopeo {row['scenario']} = {row['ratio']:.2f}  ({row['title']}; "
            f"lighter peak RSS {row['lighter_rss_mib']:.0f} MiB, skopeo {row['skopeo_rss_mib']:.0f} MiB; "
            f"same manifest digest as skopeo: {_yes_no(row['same_digest_as_skopeo'])})"
        )
    say(
        f"limits (curl, median): pull {_limit_text(_median_limit(results.pull), setup)}; "
        f"push {_limit_text(_median_limit(results.push), setup)}"
    )
    rss_ok = all(r["rss_goal_met"] for r in rows)
    say(f"peak RSS goal (≤ {RSS_GOAL_MIB:.0f} MiB in every scenario): {'met' if rss_ok else 'NOT met'}")
    return rows


# -- entry point ----------------------------------------------------------------


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    quick = os.environ.get("LIGHTER_BENCH_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser(prog="python -m bench.bench_copy", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=quick, help="small image, one round")
    parser.add_argument("--size-mb", type=int, default=None, help="image size (default 1024, quick 64)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "--scenarios", default="", help="comma-separated subset of: " + ", ".join(s.key for s in SCENARIOS)
    )
    parser.add_argument(
        "--workdir", default=os.environ.get("LIGHTER_BENCH_DIR"), help="where to work (default a temp dir)"
    )
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    opts = parser.parse_args(argv)
    env_size = os.environ.get("LIGHTER_BENCH_SIZE_MB")
    opts.size_mb = opts.size_mb or (int(env_size) if env_size else (64 if opts.quick else 1024))
    env_rounds = os.environ.get("LIGHTER_BENCH_ROUNDS")
    opts.rounds = opts.rounds or (int(env_rounds) if env_rounds else (1 if opts.quick else 3))
    return opts


def _chosen(spec: str) -> list[Scenario]:
    wanted = [k.strip() for k in spec.split(",") if k.strip()]
    unknown = set(wanted) - {s.key for s in SCENARIOS}
    if unknown:
        raise SystemExit(
            f"unknown scenario(s) {', '.join(sorted(unknown))}: expected {', '.join(s.key for s in SCENARIOS)}"
        )
    return [s for s in SCENARIOS if not wanted or s.key in wanted]


@contextlib.contextmanager
def _workdir(parent: str | None) -> Iterator[Path]:
    if parent:
        os.makedirs(parent, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="lighter-bench-copy-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    opts = _options(argv)
    scenarios = _chosen(opts.scenarios)
    ensure_tools(["curl", "time"])
    if shutil.which("skopeo") is None:
        raise SystemExit("bench_copy needs skopeo: run `make debs`")
    with _workdir(opts.workdir) as work, running_registry(work / "reg-a") as a, running_registry(work / "reg-b") as b:
        setup = prepare(work, a, b, opts.size_mb)
        results = Results()
        for number in range(opts.rounds):
            run_round(setup, scenarios, number, results)
        rows = report(setup, scenarios, results, opts.rounds)
    if opts.json:
        Path(opts.json).write_text(json.dumps({"size_mb": opts.size_mb, "rounds": opts.rounds, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
