"""``lighter inspect`` and ``lighter manifest-digest``."""

from __future__ import annotations

import os
from typing import Any

import click

from lighter.cli.common import print_json, write_raw
from lighter.cli.options import registry_options, retry_options, side_options, store_root_option
from lighter.errors import ManifestNotFoundError, ManifestTooLargeError
from lighter.inspect import config_json, inspect_platforms, inspect_resolved, list_note, resolve
from lighter.manifest import MAX_MANIFEST_SIZE, manifest_digest, parse_manifest
from lighter.platform import parse_platform
from lighter.transports import parse_image_name


@click.command("inspect")
@click.argument("image")
@click.option("--raw", is_flag=True, help="Print the manifest (or, with --config, the config) bytes as they are.")
@click.option("--config", "show_config", is_flag=True, help="Print the image configuration.")
@click.option("--all-platforms", is_flag=True, help="List every instance of a manifest list.")
@click.option("--platform", "platform_text", metavar="OS/ARCH[/VARIANT]", help="Instance to describe in a list.")
@click.option("-n", "--no-tags", is_flag=True, help="Do not list the repository's tags.")
@registry_options()
@retry_options
@store_root_option
def inspect_command(
    image: str, raw: bool, show_config: bool, all_platforms: bool, platform_text: str | None, no_tags: bool, **kw: Any
) -> None:
    """Print what IMAGE is: digest, platform, layers, environment (skopeo inspect's fields)."""
    ref = parse_image_name(image)
    platform = parse_platform(platform_text) if platform_text else None
    with ref.new_source(side_options(kw, "")) as source:
        if raw and not show_config:
            data, _ = source.manifest()
            write_raw(data)
            return
        if show_config:
            config_raw, config = config_json(source, platform)
            if raw:
                write_raw(config_raw)
            else:
                print_json(config)
            return
        if all_platforms:
            print_json(inspect_platforms(source))
            return
        resolved = resolve(source, platform)
        print_json(inspect_resolved(source, resolved, tags=not no_tags))
        note = list_note(resolved)
        if note:
            click.echo(note, err=True)


@click.command("manifest-digest")
@click.argument("manifest_file", type=click.Path(dir_okay=False))
def manifest_digest_command(manifest_file: str) -> None:
    """Print the digest of the manifest in MANIFEST_FILE (as skopeo manifest-digest)."""
    try:
        with open(manifest_file, "rb") as handle:
            # the cap is checked before reading (DESIGN.md rule 4): a huge file is never read
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_MANIFEST_SIZE:
                raise ManifestTooLargeError(f"manifest is {size} bytes, over the {MAX_MANIFEST_SIZE} byte limit")
            data = handle.read(MAX_MANIFEST_SIZE + 1)  # a pipe has no size: read one byte past the cap
    except FileNotFoundError:
        raise ManifestNotFoundError(f"manifest file {manifest_file} does not exist") from None
    if len(data) > MAX_MANIFEST_SIZE:
        raise ManifestTooLargeError(f"manifest is over the {MAX_MANIFEST_SIZE} byte limit")
    parse_manifest(data)  # refuse what is not a manifest rather than hash anything
    click.echo(str(manifest_digest(data)))


COMMANDS = [inspect_command, manifest_digest_command]
