"""``lighter commit`` and ``lighter unpack``: root filesystems to images and back (lighter.build)."""

from __future__ import annotations

from typing import Any

import click

from lighter.build import Limits, commit, unpack
from lighter.cli.options import registry_options, retry_options, side_options, store_root_option

_DEFAULT_LIMITS = Limits()


@click.command("commit")
@click.argument("rootfs", type=click.Path(file_okay=False))
@click.argument("destination")
@click.option("--from", "base", metavar="IMAGE", help="Base image (any transport); the layer is the difference.")
@click.option("-f", "--format", "image_format", type=click.Choice(["oci", "docker"]), default="oci", show_default=True)
@click.option("--compress", "compression", default="gzip", show_default=True, metavar="gzip|zstd|none")
@click.option("--compress-level", type=int, default=None, help="Compression level (gzip 0-9, zstd 1-22).")
@click.option("--author", help="Author recorded in the config and the history entry.")
@click.option("-m", "--message", help="Comment of the history entry.")
@click.option("--created-by", help="created_by of the history entry.")
@click.option(
    "-c",
    "--change",
    "changes",
    multiple=True,
    metavar="INSTRUCTION",
    help="ENV, CMD, ENTRYPOINT, WORKDIR, USER, LABEL, EXPOSE, VOLUME or STOPSIGNAL, in Dockerfile syntax (repeatable).",
)
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="Platform of the image, or which image of --from's list to build on (then its platform is the base's). "
    "Default: the base's, else this host's (give it for the same digests on any machine).",
)
@click.option(
    "--timestamp",
    type=int,
    envvar="SOURCE_DATE_EPOCH",
    default=None,
    help="Created time in seconds since the epoch; also clamps file mtimes (default: $SOURCE_DATE_EPOCH, else now).",
)
@click.option("--devices", is_flag=True, help="Put device nodes in the layer (skipped with a warning otherwise).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@registry_options("src-", "base image")
@registry_options("dest-", "destination")
@retry_options
@store_root_option
def commit_cmd(rootfs: str, destination: str, **kw: Any) -> None:
    """Commit ROOTFS (a directory) as an image at DESTINATION (transport:name); print its manifest digest."""
    result = commit(
        rootfs,
        destination,
        base=kw["base"],
        format=kw["image_format"],
        compression=kw["compression"],
        compression_level=kw["compress_level"],
        author=kw["author"],
        message=kw["message"],
        created_by=kw["created_by"],
        changes=kw["changes"],
        platform=kw["platform"],
        timestamp=kw["timestamp"],
        devices=kw["devices"],
        dest_options=side_options(kw, "dest_"),
        base_options=side_options(kw, "src_"),
    )
    if not kw["quiet"]:
        click.echo(str(result.digest))


@click.command("unpack")
@click.argument("image")
@click.argument("rootfs", type=click.Path(file_okay=False))
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Which image of a list to unpack (default: this host's).")
@click.option("--devices", is_flag=True, help="Create device nodes (only when running as root).")
@click.option(
    "--max-entries",
    type=click.IntRange(1),
    default=_DEFAULT_LIMITS.max_entries,
    show_default=True,
    help="Refuse images with more tar entries than this in all.",
)
@click.option(
    "--max-size",
    type=click.IntRange(0),
    default=_DEFAULT_LIMITS.max_bytes,
    show_default=True,
    help="Refuse images declaring more content bytes than this in all.",
)
@registry_options()
@retry_options
@store_root_option
def unpack_cmd(image: str, rootfs: str, **kw: Any) -> None:
    """Apply IMAGE's layers (whiteouts included) to the new directory ROOTFS, refusing unsafe entries."""
    unpack(
        image,
        rootfs,
        platform=kw["platform"],
        options=side_options(kw, ""),
        devices=kw["devices"],
        limits=Limits(max_entries=kw["max_entries"], max_bytes=kw["max_size"]),
    )


COMMANDS: list[click.Command] = [commit_cmd, unpack_cmd]
