"""``lighter copy``: skopeo copy's flags over lighter.copy."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from lighter.cli.options import registry_options, retry_options, side_options, store_root_option
from lighter.cli.progress import RichProgress, wants_progress
from lighter.compression import Algorithm, parse_algorithm
from lighter.copy import CopyOptions, copy_image
from lighter.digest import parse_digest
from lighter.localfs import atomic_write
from lighter.platform import Platform, host_platform, parse_platform


def _compression(name: str | None, compress: bool, decompress: bool) -> Algorithm | None:
    if decompress:
        if name or compress:
            raise click.UsageError(
                "--dest-decompress cannot be combined with --dest-compress or --dest-compress-format"
            )
        return "none"
    if name:
        return parse_algorithm(name)
    return "gzip" if compress else None


def _system_platform(os_name: str | None, arch: str | None, variant: str | None) -> Platform | None:
    if not (os_name or arch or variant):
        return None
    host = host_platform()
    if arch:
        # "arm64" or "arm/v7"-style aliases normalise through parse_platform
        parsed = parse_platform(f"{os_name or host.os}/{arch}")
        return Platform(parsed.os, parsed.architecture, variant or parsed.variant)
    return Platform(os_name or host.os, host.architecture, variant if variant is not None else host.variant)


@click.command("copy")
@click.argument("source")
@click.argument("destination")
@click.option(
    "--multi-arch",
    type=click.Choice(["system", "all", "index-only"]),
    default="system",
    show_default=True,
    help="What to copy of a manifest list.",
)
@click.option("-a", "--all", "copy_all", is_flag=True, help="Same as --multi-arch all.")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="OS/ARCH[/VARIANT]",
    help="Copy only this platform's instance of a list (repeatable).",
)
@click.option(
    "--instance", "instances", multiple=True, metavar="DIGEST", help="Copy only this instance of a list (repeatable)."
)
@click.option(
    "--strip-removed-platforms",
    is_flag=True,
    help="With --platform/--instance, write a list trimmed to the copied instances.",
)
@click.option(
    "-f",
    "--format",
    "manifest_format",
    type=click.Choice(["oci", "v2s2"]),
    default=None,
    help="Manifest format to write.",
)
@click.option("--preserve-digests", is_flag=True, help="Fail rather than change any digest.")
@click.option("--dest-compress-format", metavar="gzip|zstd", help="Recompress layers with this algorithm.")
@click.option("--dest-compress-level", type=int, default=None, help="Compression level.")
@click.option("--dest-compress", is_flag=True, help="Compress layers (gzip unless --dest-compress-format).")
@click.option("--dest-decompress", is_flag=True, help="Store layers uncompressed.")
@click.option(
    "--remove-signatures", is_flag=True, help="Accepted for skopeo compatibility: lighter copies no signatures."
)
@click.option("--digestfile", type=click.Path(dir_okay=False), help="Write the digest of the written manifest here.")
@click.option(
    "--image-parallel-copies", type=click.IntRange(1, 64), default=6, show_default=True, help="Blobs copied at once."
)
@click.option("--override-os", metavar="OS", help="Use OS instead of this machine's when choosing from a list.")
@click.option("--override-arch", metavar="ARCH", help="Use ARCH instead of this machine's.")
@click.option("--override-variant", metavar="VARIANT", help="Use VARIANT instead of this machine's.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--authfile", metavar="PATH", help="Auth file for both sides.")
@registry_options("src-", "source")
@registry_options("dest-", "destination")
@retry_options
@store_root_option
def copy_command(source: str, destination: str, **kw: Any) -> None:
    """Copy an image or a manifest list from SOURCE to DESTINATION (any transports)."""
    progress = RichProgress() if wants_progress(kw["quiet"]) else None
    options = CopyOptions(
        multi_arch="all" if kw["copy_all"] else kw["multi_arch"],
        platforms=tuple(parse_platform(p) for p in kw["platforms"]),
        instances=tuple(parse_digest(d) for d in kw["instances"]),
        strip_removed_platforms=kw["strip_removed_platforms"],
        format=kw["manifest_format"],
        preserve_digests=kw["preserve_digests"],
        compression=_compression(kw["dest_compress_format"], kw["dest_compress"], kw["dest_decompress"]),
        compression_level=kw["dest_compress_level"],
        parallel=kw["image_parallel_copies"],
        system_platform=_system_platform(kw["override_os"], kw["override_arch"], kw["override_variant"]),
        progress=progress,
    )
    authfile = kw.get("authfile")
    src_options = side_options(kw, "src_", authfile)
    dst_options = side_options(kw, "dest_", authfile)
    with progress if progress is not None else contextlib.nullcontext():
        result = copy_image(source, destination, options, src_options=src_options, dst_options=dst_options)
    if kw["digestfile"]:
        atomic_write(kw["digestfile"], str(result.digest).encode())
    if not kw["quiet"] and progress is not None:
        click.echo(f"Wrote {result.media_type} {result.digest}", err=True)


COMMANDS = [copy_command]
