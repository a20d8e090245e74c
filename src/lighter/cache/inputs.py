"""Handing images to a pipeline step: osbuild's ``org.osbuild.containers`` input.

An input description names images by reference, in an object form
(``{"<id>": {"name": "app"}}``) or an array form
(``[{"id": "<id>", "options": {"name": "app"}}]``), from one of two origins:

* ``org.osbuild.source``: ids are image ids in the cache; each maps to
  its cached ``dir:`` image;
* ``org.osbuild.pipeline``: ids name pipeline trees; each maps to the
  first regular file of its tree (or symlink to one inside the tree),
  alphabetically, read as an ``oci-archive`` (what an ``oci-archive``
  stage leaves there).

Manifest lists fetched beside the images are then matched to the images
they contain (``attach_manifest_lists``), so that the step can keep the
list digest the image was pinned by (see ``merge``); a list that matches
no image is an error naming it, as it always means a mistake in the
pipeline description.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from lighter.cache.layout import Cache
from lighter.cache.schema import INPUT_SCHEMA, validate
from lighter.digest import Digest, parse_digest
from lighter.errors import CacheError, InvalidDescriptionError, LighterError
from lighter.manifest import Index, manifest_digest, parse_manifest

Format = Literal["dir", "oci-archive", "store"]
SOURCE_ORIGIN = "org.osbuild.source"
PIPELINE_ORIGIN = "org.osbuild.pipeline"


@dataclass(frozen=True, slots=True)
class ContainerImage:
    """One image for a pipeline step.

    ``path`` is a ``dir:`` image, an ``oci-archive`` file, or a store root
    (``format="store"``, ``ref`` then being the image id in that store).
    ``manifest_list`` is the file of the list the image was pinned by, when
    one was matched to it.
    """

    ref: str
    name: str
    format: Format
    path: str
    manifest_list: str | None = None


def references(refs: object) -> dict[str, dict[str, Any]]:
    """The object and array forms of ``references`` as one ordered ``{id: options}``."""
    if isinstance(refs, dict):
        return {str(k): dict(v) for k, v in refs.items()}
    if isinstance(refs, list):
        return {str(item["id"]): dict(item.get("options", {})) for item in refs}
    raise InvalidDescriptionError(f"invalid input: references must be an object or an array, got {refs!r}")


def _name(ref: str, options: Mapping[str, Any]) -> str:
    name = options.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidDescriptionError(f"invalid input: reference {ref}, field options.name: is required but missing")
    return name


def map_source_ref(cache: Cache, ref: str, options: Mapping[str, Any]) -> ContainerImage:
    """A cached image by its image id."""
    name = _name(ref, options)
    try:
        image_id = parse_digest(ref)
    except LighterError as exc:
        raise InvalidDescriptionError(f"invalid input: reference {ref!r} is not an image id: {exc}") from None
    if not cache.has("image", image_id):
        raise CacheError(f"image {image_id} is not in the cache {cache.root}: fetch it first (lighter cache fetch)")
    return ContainerImage(ref, name, "dir", cache.image_path(image_id))


def map_pipeline_ref(tree: str, ref: str, options: Mapping[str, Any]) -> ContainerImage:
    """The first regular file of a pipeline's tree, alphabetically, as an oci-archive.

    As in osbuild, a symlink to a regular file counts (``os.path.isfile``
    follows links) and takes its place in the order by its own name; but the
    chosen one must stay inside the tree, so that a pipeline never hands a
    step a file from elsewhere on the host.
    """
    try:
        files = sorted(e.name for e in os.scandir(tree) if e.is_file())
    except FileNotFoundError:
        raise CacheError(f"pipeline {ref}: its tree {tree} does not exist") from None
    if not files:
        raise CacheError(f"pipeline {ref}: its tree {tree} holds no regular file to use as an oci-archive")
    chosen = os.path.join(tree, files[0])
    if os.path.islink(chosen):
        target, root = os.path.realpath(chosen), os.path.realpath(tree)
        if os.path.commonpath([target, root]) != root:
            raise CacheError(
                f"pipeline {ref}: {files[0]} is a symlink to {target}, outside its tree {root}"
                " (expected a file inside the tree)"
            )
    return ContainerImage(ref, _name(ref, options), "oci-archive", chosen)


def map_input(
    description: object, cache: Cache | None = None, trees: Mapping[str, str] | None = None
) -> list[ContainerImage]:
    """Validate an input description and map its references to images.

    ``cache`` serves the source origin; ``trees`` (pipeline id → tree
    directory) the pipeline origin.
    """
    validate(description, INPUT_SCHEMA, "containers input")
    assert isinstance(description, dict)
    refs = references(description["references"])
    if description["origin"] == SOURCE_ORIGIN:
        if cache is None:
            raise CacheError("an input from org.osbuild.source needs a cache")
        return [map_source_ref(cache, ref, options) for ref, options in refs.items()]
    out = []
    for ref, options in refs.items():
        tree = (trees or {}).get(ref)
        if tree is None:
            raise CacheError(f"pipeline {ref} has no tree to read the image from")
        out.append(map_pipeline_ref(tree, ref, options))
    return out


def cached_lists(cache: Cache, digests: Iterable[Digest | str]) -> dict[Digest, str]:
    """The files of manifest lists in the cache, by digest; a missing one is an error."""
    out: dict[Digest, str] = {}
    for text in digests:
        digest = parse_digest(str(text))
        if not cache.has("list", digest):
            raise CacheError(f"manifest list {digest} is not in the cache {cache.root}: fetch it first")
        out[digest] = cache.list_path(digest)
    return out


def _instances(lists: Mapping[Digest, str]) -> dict[Digest, Digest]:
    """instance digest → digest of the list naming it."""
    out: dict[Digest, Digest] = {}
    for list_digest, path in lists.items():
        with open(path, "rb") as stream:
            index = parse_manifest(stream.read())
        if not isinstance(index, Index):
            raise CacheError(f"{path} is not a manifest list (it is {index.media_type})")
        for desc in index.manifests:
            out[desc.digest] = list_digest
    return out


def attach_manifest_lists(images: Iterable[ContainerImage], lists: Mapping[Digest, str]) -> list[ContainerImage]:
    """Give each ``dir`` image the list that names its manifest; every list must be used.

    Raises CacheError naming the lists that match no image.
    """
    by_instance = _instances(lists)
    unused = dict(lists)
    out = []
    for image in images:
        if image.format == "dir":
            with open(os.path.join(image.path, "manifest.json"), "rb") as stream:
                digest = manifest_digest(stream.read())
            list_digest = by_instance.get(digest)
            if list_digest is not None:
                unused.pop(list_digest, None)
                image = replace(image, manifest_list=lists[list_digest])
        out.append(image)
    if unused:
        names = ", ".join(str(d) for d in unused)
        raise CacheError(f"these manifest lists match none of the container images: {names}")
    return out
