"""A whole sync, as ``skopeo sync`` runs it: discover, plan, (shard,) run.

The three steps are public on their own (``discover``, ``plan_units``,
``select_shard``, ``run_units``) for a job runner that wants to list the
units once and hand them out; ``sync`` chains them for the CLI and for
Python callers.
"""

from __future__ import annotations

from lighter.sync.discover import discover
from lighter.sync.plan import check_kinds, plan_units, select_shard
from lighter.sync.run import SyncOptions, SyncReport, UnitResult, run_units
from lighter.transports import TransportOptions


def sync(
    source: str,
    destination: str,
    *,
    src: str,
    dest: str,
    options: SyncOptions | None = None,
    src_options: TransportOptions | None = None,
    scoped: bool = False,
    append_suffix: str = "",
    shard: tuple[int, int] | None = None,
) -> SyncReport:
    """Sync every image ``source`` holds (``src``: docker, dir or yaml) to ``destination`` (``dest``: docker, dir).

    Source entries that could not be listed are reported as failures first;
    without ``keep_going`` they stop the run before any copy.

    >>> sync("127.0.0.1:5000/app", "/media/usb", src="docker", dest="dir")  # doctest: +SKIP
    SyncReport(results=(UnitResult(source='docker://127.0.0.1:5000/app:1', destination='dir:/media/usb/app:1', ...
    """
    opts = options or SyncOptions()
    src_kind, dest_kind = check_kinds(src, dest)
    found = discover(src_kind, source, src_options or TransportOptions())
    units = plan_units(found.images, dest_kind, destination, scoped=scoped, append_suffix=append_suffix)
    if shard is not None:
        units = select_shard(units, *shard)
    failed = tuple(UnitResult(f.source, "", "failed", f.reason) for f in found.failures)
    if failed and not opts.keep_going:
        reason = "a source entry could not be listed (no --keep-going)"
        skipped = tuple(UnitResult(u.source, u.destination, "not-run", reason) for u in units)
        return SyncReport(failed + skipped, opts.dry_run)
    report = run_units(units, opts)
    return SyncReport(failed + report.results, opts.dry_run)
