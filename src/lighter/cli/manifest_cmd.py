"""``lighter manifest``: podman's manifest verbs and flags over lighter.lists."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lighter import lists
from lighter.cli.common import parse_bool, print_json, write_raw
from lighter.cli.options import registry_options, retry_options, side_options, store_root_option
from lighter.cli.progress import RichProgress, wants_progress
from lighter.compression import Algorithm, parse_algorithm
from lighter.localfs import atomic_write
from lighter.transports import TRANSPORTS, parse_image_name

F = TypeVar("F", bound=Callable[..., Any])


def _annotations(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--annotation")
        out[key] = val
    return out


def _split(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """Repeatable, comma-separated list flags (podman's string slices); None when not given."""
    if not values:
        return None
    return tuple(part for value in values for part in value.split(",") if part)


def platform_options(fn: F) -> F:
    """--arch, --os, --os-version, --variant, --features, --os-features."""
    fn = click.option("--os-features", multiple=True, metavar="F[,F]", help="Set the instance's os.features.")(fn)
    fn = click.option("--features", multiple=True, metavar="F[,F]", help="Set the instance's platform features.")(fn)
    fn = click.option("--variant", metavar="VARIANT", help="Choose / set the architecture variant.")(fn)
    fn = click.option("--os-version", metavar="VERSION", help="Set the instance's os.version.")(fn)
    fn = click.option("--os", "os_name", metavar="OS", help="Choose / set the operating system.")(fn)
    fn = click.option("--arch", metavar="ARCH", help="Choose / set the architecture.")(fn)
    return fn


def _platform(kw: dict[str, Any]) -> lists.PlatformChange | None:
    change = lists.PlatformChange(
        os=kw["os_name"],
        architecture=kw["arch"],
        variant=kw["variant"],
        os_version=kw["os_version"],
        os_features=_split(kw["os_features"]),
        features=_split(kw["features"]),
    )
    return change if change else None


def annotation_option(fn: F) -> F:
    return click.option("--annotation", "annotation", multiple=True, metavar="KEY=VALUE", help="Set an annotation.")(fn)


@click.group("manifest")
def manifest_group() -> None:
    """Create, edit, inspect and push manifest lists kept in the local store."""


@manifest_group.command("create")
@click.argument("list_name", metavar="LIST")
@click.argument("images", nargs=-1)
@click.option("--all", "add_all", is_flag=True, help="Add every instance of IMAGES that are lists.")
@click.option("--amend", is_flag=True, help="Add to LIST if it exists already.")
@annotation_option
@registry_options()
@retry_options
@store_root_option
def create_command(list_name: str, images: tuple[str, ...], add_all: bool, amend: bool, **kw: Any) -> None:
    """Create the manifest list LIST (an OCI index), optionally with IMAGES in it; prints its id."""
    created = lists.create(
        list_name,
        [_image_name(image) for image in images],
        all=add_all,
        amend=amend,
        annotations=_annotations(kw["annotation"]),
        root=kw["store_root"],
        options=side_options(kw, ""),
    )
    click.echo(created.id)


@manifest_group.command("add")
@click.argument("list_name", metavar="LIST")
@click.argument("image")
@click.option("--all", "add_all", is_flag=True, help="When IMAGE is a list, add all of its instances.")
@platform_options
@annotation_option
@registry_options()
@retry_options
@store_root_option
def add_command(list_name: str, image: str, add_all: bool, **kw: Any) -> None:
    """Add IMAGE (any transport) to LIST; prints the list's id."""
    lists.add(
        list_name,
        _image_name(image),
        all=add_all,
        platform=_platform(kw),
        annotations=_annotations(kw["annotation"]),
        root=kw["store_root"],
        options=side_options(kw, ""),
    )
    click.echo(lists.load(list_name, root=kw["store_root"]).id)


@manifest_group.command("annotate")
@click.argument("list_name", metavar="LIST")
@click.argument("digest", required=False)
@click.option("--index", "on_index", is_flag=True, help="Annotate the index itself, not an instance.")
@platform_options
@annotation_option
@store_root_option
def annotate_command(list_name: str, digest: str | None, on_index: bool, **kw: Any) -> None:
    """Set annotations and platform fields of the instance DIGEST of LIST (or of LIST itself with --index)."""
    if on_index == (digest is not None):
        raise click.UsageError("name an instance DIGEST, or use --index to annotate the list itself")
    changed = lists.annotate(
        list_name,
        digest,
        annotations=_annotations(kw["annotation"]),
        platform=_platform(kw),
        root=kw["store_root"],
    )
    click.echo(changed.id)


@manifest_group.command("remove")
@click.argument("list_name", metavar="LIST")
@click.argument("digest")
@store_root_option
def remove_command(list_name: str, digest: str, store_root: str | None) -> None:
    """Remove the instance DIGEST from LIST; prints the list's id."""
    click.echo(lists.remove(list_name, digest, root=store_root).id)


@manifest_group.command("inspect")
@click.argument("list_name", metavar="LIST")
@click.option("-v", "--verbose", is_flag=True, help="Add each instance's manifest and where it was added from.")
@click.option("--raw", is_flag=True, help="The list's exact bytes.")
@store_root_option
@registry_options()
@retry_options
def inspect_command(list_name: str, verbose: bool, raw: bool, store_root: str | None, **kw: Any) -> None:
    """Print the manifest list LIST as JSON (a list elsewhere when LIST names a transport or a registry)."""
    if not lists.exists(list_name, root=store_root) and _is_remote(list_name):
        with parse_image_name(_image_name(list_name)).new_source(
            side_options({**kw, "store_root": store_root}, "")
        ) as src:
            data = src.manifest()[0]
        if raw:
            write_raw(data)
        else:
            print_json(json.loads(data))
        return
    if raw:
        write_raw(lists.load(list_name, root=store_root).index.raw)
        return
    print_json(lists.inspect(list_name, verbose=verbose, root=store_root))


@manifest_group.command("exists")
@click.argument("list_name", metavar="LIST")
@store_root_option
def exists_command(list_name: str, store_root: str | None) -> None:
    """Exit 0 if LIST is a manifest list in the local store, 1 if not."""
    sys.exit(0 if lists.exists(list_name, root=store_root) else 1)


@manifest_group.command("rm")
@click.argument("list_names", metavar="LIST...", nargs=-1, required=True)
@store_root_option
def rm_command(list_names: tuple[str, ...], store_root: str | None) -> None:
    """Remove manifest lists from the local store (the images they name stay)."""
    for name in list_names:
        removed = lists.rm(name, root=store_root)
        for tag in removed.names:
            click.echo(f"Untagged: {tag}")
        click.echo(f"Deleted: {removed.id}")


def _is_remote(text: str) -> bool:
    """An explicit transport, or a first component that is a registry host (``quay.io/…``)."""
    prefix, sep, _ = text.partition(":")
    if sep and prefix in TRANSPORTS:
        return True
    first, slash, _ = text.partition("/")
    return bool(slash) and ("." in first or ":" in first) and first != "localhost"


def _image_name(text: str) -> str:
    """A name without a known transport prefix is a registry image, as podman reads it."""
    prefix, sep, _ = text.partition(":")
    if sep and prefix in TRANSPORTS:
        return text
    return f"docker://{text}"


def _algorithms(values: tuple[str, ...]) -> tuple[Algorithm, ...]:
    return tuple(parse_algorithm(v) for value in values for v in value.split(",") if v)


class GoBoolCommand(click.Command):
    """Reads podman's Go-style booleans: ``--all`` alone, or ``--all=false`` (only in that attached form,
    so ``--all LIST`` never takes LIST as the value)."""

    go_bools = ("--all",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            name, eq, value = arg.partition("=")
            rewritten.extend([f"{name}-value", value] if eq and name in self.go_bools else [arg])
        return super().parse_args(ctx, rewritten)


@manifest_group.command("push", cls=GoBoolCommand)
@click.argument("list_name", metavar="LIST")
@click.argument("destination", required=False)
@click.option(
    "--all", "push_all", is_flag=True, help="Push every instance (the default); --all=false: only this machine's image."
)
@click.option(
    "--all-value",
    "push_all_value",
    hidden=True,
    help="--all=false pushes only this machine's instance, as a single image.",
)
@click.option("-f", "--format", "manifest_format", type=click.Choice(["oci", "v2s2"]), help="Manifest format to write.")
@click.option("--add-compression", multiple=True, metavar="zstd|gzip", help="Add variants with this compression.")
@click.option(
    "--force-compression",
    is_flag=True,
    help="Use --compression-format for every layer, never a blob of other compression (lighter always does).",
)
@click.option("--compression-format", metavar="gzip|zstd", help="Recompress the instances' layers.")
@click.option("--compression-level", type=int, default=None, help="Compression level.")
@click.option("--rm", "remove", is_flag=True, help="Remove LIST from the local store after a successful push.")
@click.option("--digestfile", type=click.Path(dir_okay=False), help="Write the digest of the pushed list here.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@registry_options()
@retry_options
@store_root_option
def push_command(list_name: str, destination: str | None, **kw: Any) -> None:
    """Push LIST and its instances to DESTINATION (default: docker://LIST)."""
    progress = RichProgress() if wants_progress(kw["quiet"]) else None
    options = lists.PushOptions(
        all=True if kw["push_all_value"] is None else bool(parse_bool(kw["push_all_value"])),
        format=kw["manifest_format"],
        add_compression=_algorithms(kw["add_compression"]),
        force_compression=kw["force_compression"],
        compression=parse_algorithm(kw["compression_format"]) if kw["compression_format"] else None,
        compression_level=kw["compression_level"],
        remove=kw["remove"],
        progress=progress,
    )
    with progress if progress is not None else contextlib.nullcontext():
        result = lists.push(
            list_name,
            _image_name(destination or list_name),
            options,
            root=kw["store_root"],
            src_options=side_options(kw, ""),  # podman reads and writes with the same settings
            dst_options=side_options(kw, ""),
        )
    if kw["digestfile"]:
        atomic_write(kw["digestfile"], str(result.digest).encode())
    if not kw["quiet"]:
        click.echo(str(result.digest))


COMMANDS = [manifest_group]
