"""Doing a sync: check each unit cheaply, copy what differs, report every outcome.

Each unit costs, before anything else, one HEAD on each side
(``ImageSource.top_digest``): when the destination already has the
source's digest the unit is *skipped* with no manifest GET and no blob
moved.  A tag matching ``immutable_tags`` (and any destination pinned by
digest) costs one HEAD on the destination only: if it exists there it is
skipped without even looking at the source.  When the destination holds
an image with another digest and the source is a list copied in
``system`` mode, the list is read (one GET) and the unit skipped if the
destination holds this platform's instance — what the previous run wrote.

Units run on a bounded pool (``parallel_images``) with the run's
``BlobLedger``, so a blob shared by several images moves once.  Results
come back in the units' order whatever the pool did, so reports of two
runs compare line by line.  Without ``keep_going`` the first failure stops
units that have not started (they are reported ``not-run``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from lighter.copy import CopyOptions, copy_between
from lighter.digest import Digest
from lighter.errors import LighterError, NoMatchingPlatformError, NotFoundError
from lighter.manifest import Index, parse_manifest
from lighter.platform import host_platform
from lighter.sync.ledger import BlobLedger, LedgerDestination
from lighter.sync.plan import SyncUnit
from lighter.transports import ImageReference, ImageSource, TransportOptions, parse_image_name

log = logging.getLogger(__name__)

Status = Literal["copied", "skipped", "failed", "would-copy", "not-run"]
STATUSES: tuple[Status, ...] = ("copied", "skipped", "failed", "would-copy", "not-run")


@dataclass(frozen=True, slots=True)
class UnitResult:
    """The outcome of one unit (or of a source entry that could not be listed: ``destination`` empty)."""

    source: str
    destination: str
    status: Status
    reason: str = ""
    digest: str | None = None
    blobs_copied: int = 0
    blobs_reused: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "status": self.status,
            "reason": self.reason,
            "digest": self.digest,
            "blobs_copied": self.blobs_copied,
            "blobs_reused": self.blobs_reused,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Every unit's outcome, in plan order."""

    results: tuple[UnitResult, ...] = ()
    dry_run: bool = False

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failures(self) -> tuple[UnitResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = {status.replace("-", "_"): self.count(status) for status in STATUSES}
        counts["images"] = len(self.results)
        counts["blobs_copied"] = sum(r.blobs_copied for r in self.results)
        counts["blobs_reused"] = sum(r.blobs_reused for r in self.results)
        counts["dry_run"] = self.dry_run
        return counts

    def summary_line(self) -> str:
        """``copied N, skipped N, failed N`` (and what a dry run would copy, and what did not run)."""
        parts = [f"copied {self.count('copied')}", f"skipped {self.count('skipped')}", f"failed {self.count('failed')}"]
        if self.dry_run:
            parts.append(f"would copy {self.count('would-copy')}")
        if self.count("not-run"):
            parts.append(f"not run {self.count('not-run')}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "images": [r.to_json() for r in self.results]}


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How units are copied: the copy options, the destination's transport options, and the sync's own flags."""

    copy: CopyOptions = field(default_factory=CopyOptions)
    dest_options: TransportOptions = field(default_factory=TransportOptions)
    dry_run: bool = False
    keep_going: bool = False
    #: tags matching it (searched, like images-by-tag-regex) are skipped when present at the destination
    immutable_tags: re.Pattern[str] | None = None
    parallel_images: int = 1
    #: called (from worker threads) as each unit finishes
    on_result: Callable[[UnitResult], None] | None = field(default=None, compare=False)


def _destination_digest(ref: ImageReference, options: TransportOptions) -> Digest | None:
    """The digest at the destination (one HEAD on a registry), or None when nothing is there."""
    try:
        with ref.new_source(options) as existing:
            return existing.top_digest()
    except NotFoundError:
        return None


def _system_instance(source: ImageSource, options: CopyOptions) -> Digest | None:
    """For a list copied in ``system`` mode: the digest of the instance that would be written."""
    if options.multi_arch != "system" or options.platforms or options.instances:
        return None
    raw, media_type = source.manifest()
    manifest = parse_manifest(raw, media_type)
    if not isinstance(manifest, Index):
        return None
    try:
        return manifest.choose(options.system_platform or host_platform()).digest
    except NoMatchingPlatformError:
        return None


class _UnitRun:
    """One unit's check-then-copy."""

    def __init__(self, unit: SyncUnit, options: SyncOptions, ledger: BlobLedger) -> None:
        self.unit = unit
        self.options = options
        self.ledger = ledger
        self.started = time.monotonic()

    def result(self, status: Status, reason: str = "", digest: Digest | None = None, **kw: int) -> UnitResult:
        seconds = time.monotonic() - self.started
        return UnitResult(
            self.unit.source,
            self.unit.destination,
            status,
            reason,
            str(digest) if digest else None,
            seconds=seconds,
            **kw,
        )

    def immutable(self) -> bool:
        pattern = self.options.immutable_tags
        tag = self.unit.tag
        return self.unit.pinned or (pattern is not None and tag is not None and pattern.search(tag) is not None)

    def run(self) -> UnitResult:
        unit, opts = self.unit, self.options
        src_ref, dst_ref = parse_image_name(unit.source), parse_image_name(unit.destination)
        immutable = self.immutable()
        present = _destination_digest(dst_ref, opts.dest_options) if immutable else None
        if present is not None:
            return self.result("skipped", "immutable tag already at the destination", present)
        with src_ref.new_source(unit.source_options) as source:
            src_digest = source.top_digest()
            if not immutable:
                present = _destination_digest(dst_ref, opts.dest_options)
            if present == src_digest:
                return self.result("skipped", "up to date", src_digest)
            if present is not None and _system_instance(source, opts.copy) == present:
                return self.result("skipped", "up to date (this platform's image of the list)", present)
            if opts.dry_run:
                return self.result("would-copy", "absent" if present is None else f"differs ({present})", src_digest)
            with LedgerDestination(dst_ref.new_destination(opts.dest_options), self.ledger) as dest:
                copied = copy_between(source, dest, opts.copy)
        return self.result(
            "copied", "", copied.digest, blobs_copied=copied.blobs_copied, blobs_reused=copied.blobs_reused
        )


def sync_unit(unit: SyncUnit, options: SyncOptions, ledger: BlobLedger | None = None) -> UnitResult:
    """Check and (unless up to date) copy one unit; a failure is returned, not raised."""
    run = _UnitRun(unit, options, ledger if ledger is not None else BlobLedger())
    try:
        result = run.run()
    except (LighterError, OSError) as exc:
        log.debug("syncing %s failed", unit.source, exc_info=True)
        result = run.result("failed", str(exc) or type(exc).__name__)
    log.info("%s %s -> %s %s", result.status, unit.source, unit.destination, result.reason)
    return result


def run_units(units: Sequence[SyncUnit], options: SyncOptions, ledger: BlobLedger | None = None) -> SyncReport:
    """Run every unit (``parallel_images`` at once) and report them in order."""
    shared = ledger if ledger is not None else BlobLedger()
    stop = threading.Event()

    def work(unit: SyncUnit) -> UnitResult:
        if stop.is_set():
            return UnitResult(unit.source, unit.destination, "not-run", "an earlier image failed (no --keep-going)")
        result = sync_unit(unit, options, shared)
        if result.status == "failed" and not options.keep_going:
            stop.set()
        if options.on_result is not None:
            options.on_result(result)
        return result

    workers = max(1, min(options.parallel_images, len(units)))
    if workers == 1:
        results = [work(unit) for unit in units]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lighter-sync") as pool:
            results = list(pool.map(work, units))
    return SyncReport(tuple(results), options.dry_run)
