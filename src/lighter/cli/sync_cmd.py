"""``lighter sync``: skopeo sync's flags over lighter.sync, plus what a mirror job needs.

Beyond skopeo: ``--immutable-tags``, ``--report``, ``--shard``,
``--parallel-images``.  A line per image goes to stderr as it finishes
(skopeo logs there too); the summary goes to stdout.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import click

from lighter.cli.options import registry_options, retry_options, side_options
from lighter.copy import CopyOptions
from lighter.errors import InvalidInputError, SyncFailedError
from lighter.localfs import atomic_write
from lighter.platform import Platform, host_platform, parse_platform
from lighter.sync import SyncOptions, SyncReport, UnitResult, parse_shard, sync
from lighter.transports import TransportOptions


def _system_platform(os_name: str | None, arch: str | None, variant: str | None) -> Platform | None:
    """--override-os/--override-arch/--override-variant, as skopeo's global flags."""
    if not (os_name or arch or variant):
        return None
    host = host_platform()
    parsed = parse_platform(f"{os_name or host.os}/{arch or host.architecture}")
    return Platform(parsed.os, parsed.architecture, variant or (parsed.variant if arch else host.variant))


def _creds(kw: dict[str, Any], prefix: str) -> str | None:
    """--PREFIX-creds, or --PREFIX-username with --PREFIX-password (skopeo refuses both at once)."""
    user, password, creds = kw[f"{prefix}username"], kw[f"{prefix}password"], kw[f"{prefix}creds"]
    if user is None and password is None:
        return creds  # type: ignore[no-any-return]
    flag = prefix.replace("_", "-")
    if creds is not None:
        raise click.UsageError(f"--{flag}creds and --{flag}username/--{flag}password cannot be used together")
    if user is None or password is None:
        raise click.UsageError(f"--{flag}username and --{flag}password must be given together")
    return f"{user}:{password}"


def _side(kw: dict[str, Any], prefix: str) -> TransportOptions:
    kw = {**kw, f"{prefix}creds": _creds(kw, prefix)}
    return side_options(kw, prefix, kw.get("authfile"))


def _immutable(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidInputError(f"invalid --immutable-tags regular expression {pattern!r}: {exc}") from None


def _printer(quiet: bool) -> Any:
    lock = threading.Lock()

    def show(result: UnitResult) -> None:
        if quiet:
            return
        detail = result.reason
        if result.status == "copied":
            detail = f"{result.digest}, {result.blobs_copied} blobs copied, {result.blobs_reused} reused"
        with lock:
            click.echo(
                f"{result.status}: {result.source} -> {result.destination}" + (f" ({detail})" if detail else ""),
                err=True,
            )

    return show


def _write_outputs(report: SyncReport, report_file: str | None, digestfile: str | None) -> None:
    if report_file:
        atomic_write(report_file, (json.dumps(report.to_json(), indent=2) + "\n").encode())
    if digestfile and not report.dry_run:
        # skopeo's --digestfile: "DIGEST IMAGE-NAME" per image now at the destination
        lines = [f"{r.digest} {r.destination}\n" for r in report.results if r.status in ("copied", "skipped")]
        atomic_write(digestfile, "".join(lines).encode())


def _raise_for_failures(report: SyncReport, keep_going: bool) -> None:
    failures = report.failures
    if not failures:
        return
    first = failures[0]
    if not keep_going:
        raise SyncFailedError(f"error copying ref {first.source!r}: {first.reason}")
    raise SyncFailedError(
        f"sync failed for {len(failures)} of {len(report.results)} images "
        f"(first: {first.source}: {first.reason}); see the messages above or --report"
    )


@click.command("sync")
@click.argument("source")
@click.argument("destination")
@click.option("-s", "--src", "src_kind", required=True, metavar="docker|dir|yaml", help="SOURCE transport type.")
@click.option("-d", "--dest", "dest_kind", required=True, metavar="docker|dir", help="DESTINATION transport type.")
@click.option("-a", "--all", "copy_all", is_flag=True, help="Copy all images of a list, and the list itself.")
@click.option("--scoped", is_flag=True, help="Prefix destination paths with the full source image path.")
@click.option("--append-suffix", default="", metavar="SUFFIX", help="String to append to destination tags.")
@click.option("--dry-run", is_flag=True, help="Check what would be copied, write nothing.")
@click.option("--keep-going", is_flag=True, help="Do not stop at the first image that fails.")
@click.option(
    "-f", "--format", "manifest_format", metavar="oci|v2s2", help="Manifest type to write (default: the source's)."
)
@click.option("--preserve-digests", is_flag=True, help="Fail rather than change any digest.")
@click.option(
    "--remove-signatures", is_flag=True, help="Accepted for skopeo compatibility: lighter copies no signatures."
)
@click.option("--digestfile", type=click.Path(dir_okay=False), help="Write 'DIGEST DESTINATION' per image here.")
@click.option("--immutable-tags", metavar="REGEX", help="Tags matching REGEX are skipped when at the destination.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="Write the outcome as JSON here.")
@click.option("--shard", metavar="I/N", help="Sync only shard I (0-based) of N, chosen by a stable hash.")
@click.option("--parallel-images", type=click.IntRange(1, 64), default=4, show_default=True, help="Images at once.")
@click.option(
    "--image-parallel-copies", type=click.IntRange(1, 64), default=6, show_default=True, help="Blobs per image at once."
)
@click.option("--override-os", metavar="OS", help="Use OS instead of this machine's when choosing from a list.")
@click.option("--override-arch", metavar="ARCH", help="Use ARCH instead of this machine's.")
@click.option("--override-variant", metavar="VARIANT", help="Use VARIANT instead of this machine's.")
@click.option("-q", "--quiet", is_flag=True, help="No line per image; only the summary.")
@click.option("--authfile", metavar="PATH", help="Auth file for both sides.")
@registry_options("src-", "source")
@registry_options("dest-", "destination")
@click.option("--src-username", metavar="USER", help="Username for the source registry.")
@click.option("--src-password", metavar="PASSWORD", help="Password for the source registry.")
@click.option("--dest-username", metavar="USER", help="Username for the destination registry.")
@click.option("--dest-password", metavar="PASSWORD", help="Password for the destination registry.")
@retry_options
def sync_command(source: str, destination: str, **kw: Any) -> None:
    """Copy every image of SOURCE (a repository, a directory or a YAML file) to DESTINATION.

    Images already at the destination with the same digest are skipped after
    one HEAD on each side.
    """
    if kw["manifest_format"] not in (None, "oci", "v2s2"):
        raise click.BadParameter(f"expected oci or v2s2, got {kw['manifest_format']!r}", param_hint="--format")
    copy_options = CopyOptions(
        multi_arch="all" if kw["copy_all"] else "system",
        format=kw["manifest_format"],
        preserve_digests=kw["preserve_digests"],
        parallel=kw["image_parallel_copies"],
        system_platform=_system_platform(kw["override_os"], kw["override_arch"], kw["override_variant"]),
    )
    options = SyncOptions(
        copy=copy_options,
        dest_options=_side(kw, "dest_"),
        dry_run=kw["dry_run"],
        keep_going=kw["keep_going"],
        immutable_tags=_immutable(kw["immutable_tags"]),
        parallel_images=kw["parallel_images"],
        on_result=_printer(kw["quiet"]),
    )
    report = sync(
        source,
        destination,
        src=kw["src_kind"],
        dest=kw["dest_kind"],
        options=options,
        src_options=_side(kw, "src_"),
        scoped=kw["scoped"],
        append_suffix=kw["append_suffix"],
        shard=parse_shard(kw["shard"]) if kw["shard"] else None,
    )
    _write_outputs(report, kw["report_file"], kw["digestfile"])
    click.echo(("dry run: " if report.dry_run else "") + report.summary_line())
    _raise_for_failures(report, kw["keep_going"])


COMMANDS = [sync_command]
