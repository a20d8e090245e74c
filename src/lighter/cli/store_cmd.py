"""``lighter images``, ``tag``, ``rmi`` and ``store gc``: the local store, as podman shows it."""

from __future__ import annotations

import calendar
import time
from datetime import datetime
from typing import Any

import click

from lighter.cli.common import print_json
from lighter.cli.options import store_root_option
from lighter.store import ImageRecord, Store, collect_garbage, normalize_name, split_name


def human_size(size: float) -> str:
    """Decimal units with three significant digits, as podman (go-units) prints sizes."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g} {units[i]}"


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration: "5 minutes", "About an hour", "3 weeks"."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _timestamp(created: str) -> int:
    """Seconds since the epoch of an RFC 3339 UTC time ("2024-01-01T00:00:00Z", fractions allowed)."""
    text = created.rstrip("Z").split(".")[0].replace("T", " ")
    try:
        return calendar.timegm(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timetuple())
    except ValueError:
        return 0


def _rows(records: list[ImageRecord]) -> list[tuple[str, str, ImageRecord]]:
    """One row per name (podman's layout), ``<none>`` for records without names; newest first."""
    rows = []
    for record in sorted(records, key=lambda r: (_timestamp(r.created), r.id), reverse=True):
        if not record.names:
            rows.append(("<none>", "<none>", record))
        for name in record.names:
            repo, tag = split_name(name)
            rows.append((repo, tag, record))
    return rows


def _json(record: ImageRecord) -> dict[str, Any]:
    repos = dict.fromkeys(split_name(n)[0] for n in record.names)
    return {
        "Id": record.id,
        "Names": list(record.names),
        "RepoTags": list(record.names),
        "RepoDigests": [f"{repo}@{d}" for repo in repos for d in (record.digest, *record.extra_digests)],
        "Digest": str(record.digest),
        "MediaType": record.media_type,
        "IsManifestList": record.is_list,
        "Created": _timestamp(record.created),
        "CreatedAt": record.created,
        "Size": record.size,
    }


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        click.echo("  ".join(cells).rstrip())


@click.command("images")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--digests", is_flag=True, help="Show each image's manifest digest.")
@click.option("--no-trunc", is_flag=True, help="Show full image ids.")
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@store_root_option
def images_command(fmt: str, digests: bool, no_trunc: bool, quiet: bool, store_root: str | None) -> None:
    """List the images and manifest lists in the local store."""
    records = Store(store_root).catalog.all()
    if fmt == "json":
        print_json([_json(r) for r in sorted(records, key=lambda r: _timestamp(r.created), reverse=True)])
        return
    rows = _rows(records)
    if quiet:
        for image_id in dict.fromkeys(r.id if no_trunc else r.id[:12] for _, _, r in rows):
            click.echo(image_id)
        return
    now = time.time()
    header = ["REPOSITORY", "TAG", *(["DIGEST"] if digests else []), "IMAGE ID", "CREATED", "SIZE"]
    table = [header]
    for repo, tag, record in rows:
        created = _timestamp(record.created)
        # as docker does, one row per digest the image answers to (its own, then the lists it came from)
        for digest in (record.digest, *record.extra_digests) if digests else (record.digest,):
            table.append(
                [
                    repo,
                    tag,
                    *([str(digest)] if digests else []),
                    record.id if no_trunc else record.id[:12],
                    human_duration(now - created) + " ago" if created else "unknown",
                    human_size(record.size),
                ]
            )
    _table(table)


@click.command("tag")
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
@store_root_option
def tag_command(image: str, names: tuple[str, ...], store_root: str | None) -> None:
    """Give IMAGE (a name or id in the local store) more NAMES."""
    store = Store(store_root)
    record = store.resolve(image)
    normalized = [normalize_name(n) for n in names]  # all valid before any is added
    for name in normalized:
        store.catalog.add_name(record.id, name)


@click.command("rmi")
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even when a manifest list needs the image.")
@store_root_option
def rmi_command(images: tuple[str, ...], force: bool, store_root: str | None) -> None:
    """Remove IMAGES (names or ids) from the local store; their blobs go at the next ``store gc``."""
    store = Store(store_root)
    for text in images:
        record, what = store.remove(text, force=force)
        if what == "untagged":
            click.echo(f"Untagged: {normalize_name(text)}")
            continue
        for name in record.names:
            click.echo(f"Untagged: {name}")
        click.echo(f"Deleted: {record.id}")


@click.group("store")
def store_group() -> None:
    """Maintain the local store."""


@store_group.command("gc")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@store_root_option
def gc_command(dry_run: bool, store_root: str | None) -> None:
    """Remove the blobs no image or list in the store reaches."""
    result = collect_garbage(Store(store_root), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(result.removed)} blobs ({human_size(result.bytes_freed)})")


COMMANDS = [images_command, tag_command, rmi_command, store_group]
