"""``lighter list-tags`` and ``lighter delete``: skopeo's commands of the same names."""

from __future__ import annotations

from typing import Any

import click

from lighter.cli.common import print_json
from lighter.cli.options import registry_options, retry_options, side_options
from lighter.transports import parse_image_name


@click.command("list-tags")
@click.argument("image", metavar="docker://HOST/NAME")
@registry_options()
@retry_options
def list_tags(image: str, **kwargs: Any) -> None:
    """List the tags of a repository (follows the registry's pagination)."""
    ref = parse_image_name(image)
    tags = ref.list_tags(side_options(kwargs, ""))
    docker = ref.docker_reference
    print_json({"Repository": docker.name if docker is not None else ref.display_name, "Tags": tags})


@click.command("delete")
@click.argument("image", metavar="IMAGE-NAME")
@registry_options()
@retry_options
def delete(image: str, **kwargs: Any) -> None:
    """Delete an image: by tag, the manifest the tag points at (as skopeo does)."""
    parse_image_name(image).delete(side_options(kwargs, ""))


COMMANDS: list[click.Command] = [list_tags, delete]
