"""``lighter cache fetch|ls|verify`` and ``lighter merge-list``: the fetch-by-digest cache."""

from __future__ import annotations

import click

from lighter.cache import Cache, fetch, load_sources, merge_manifest, verify
from lighter.errors import CacheError, InvalidImageNameError

_cache_option = click.option(
    "--cache",
    "cache_dir",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="The cache directory (osbuild's sources layout).",
)


@click.group("cache")
def cache_group() -> None:
    """Fetch images and manifest lists pinned by digest into a verified cache."""


@cache_group.command("fetch")
@_cache_option
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Items fetched at once.")
@click.argument("sources", type=click.Path(dir_okay=False, exists=True))
def fetch_command(cache_dir: str, workers: int, sources: str) -> None:
    """Fetch every item of the SOURCES description that the cache lacks."""
    report = fetch(Cache(cache_dir), load_sources(sources), workers=workers)
    for item in report.cached:
        click.echo(f"cached   {item.kind:5} {item.key}  {item.display}")
    for item in report.elsewhere:
        click.echo(f"cached   {item.kind:5} {item.key}  {item.display}  (fetched by another process meanwhile)")
    for item in report.fetched:
        click.echo(f"fetched  {item.kind:5} {item.key}  {item.display}")


@cache_group.command("ls")
@_cache_option
def ls_command(cache_dir: str) -> None:
    """List the cache's entries: kind, digest (image id for images) and path."""
    for entry in Cache(cache_dir).entries():
        click.echo(f"{entry.kind:5} {entry.key}  {entry.path}")


@cache_group.command("verify")
@_cache_option
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Entries checked at once.")
@click.option("--keep", is_flag=True, help="Only report corrupt entries; do not remove them.")
def verify_command(cache_dir: str, workers: int, keep: bool) -> None:
    """Re-hash every entry; report corrupt ones and remove them (exit 1 when any was found)."""
    report = verify(Cache(cache_dir), remove=not keep, workers=workers)
    for entry in report.good:
        click.echo(f"ok       {entry.kind:5} {entry.key}")
    for entry, problem in report.corrupt:
        click.echo(f"corrupt  {entry.kind:5} {entry.key}: {problem}")
    if report.corrupt:
        verb = "kept" if keep else "removed"
        raise CacheError(f"{len(report.corrupt)} corrupt cache entries found and {verb}")


@click.command("merge-list")
@click.argument("list_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("destination")
def merge_list_command(list_file: str, destination: str) -> None:
    """Merge the manifest list in LIST_FILE into the image at dir:PATH, keeping the list's digest.

    The image's manifest becomes <hex>.manifest.json and the list manifest.json.
    """
    transport, sep, path = destination.partition(":")
    if not sep or transport != "dir" or not path:
        raise InvalidImageNameError(f"merge-list writes into a dir: image, got {destination!r} (expected dir:PATH)")
    digest = merge_manifest(list_file, path)
    click.echo(f"merged: {path} keeps its image {digest} under the list of {list_file}")


COMMANDS = [cache_group, merge_list_command]
