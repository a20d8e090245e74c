"""The ``docker save`` archive format, without I/O: its ``manifest.json`` and legacy metadata.

``manifest.json`` is a list of items ``{"Config", "RepoTags", "Layers"}``,
member paths inside the archive.  Next to the layers, containers/image
still writes the pre-1.10 metadata older ``docker load`` needs: one
directory per layer with ``layer.tar`` (a symlink to the layer), ``VERSION``
and ``json``, and a ``repositories`` file.  The layer ids are digests of
small JSON documents chained through the layers (writer.go's
``writeLegacyMetadataLocked``); ``legacy_metadata`` computes the same ids,
so lighter's archives carry the same metadata as skopeo's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lighter.digest import Digest, digest_bytes
from lighter.errors import ImageNotFoundError, InvalidImageNameError, InvalidReferenceError, LayoutError
from lighter.manifest import go_dumps
from lighter.reference import Reference, parse_reference

#: The image config fields the top legacy layer's ``json`` copies, in writer.go's list.
_LEGACY_FIELDS = ("architecture", "config", "container", "container_config", "created", "docker_version", "os")


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    """One image of an archive's ``manifest.json``."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def parse_items(raw: bytes, where: str) -> list[ArchiveItem]:
    """Parse ``manifest.json``; LayoutError naming what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayoutError(f"manifest.json of {where} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise LayoutError(f"manifest.json of {where} must be a list of images, got {type(data).__name__}")
    items = []
    for i, entry in enumerate(data):
        config = entry.get("Config") if isinstance(entry, dict) else None
        layers = entry.get("Layers") if isinstance(entry, dict) else None
        tags = (entry.get("RepoTags") if isinstance(entry, dict) else None) or []
        if (
            not isinstance(config, str)
            or not isinstance(layers, list)
            or not all(isinstance(x, str) for x in layers)
            or not isinstance(tags, list)
            or not all(isinstance(x, str) for x in tags)
        ):
            raise LayoutError(
                f"manifest.json of {where}, item {i}: expected Config (string), Layers and RepoTags (lists of strings)"
            )
        items.append(ArchiveItem(config, tuple(tags), tuple(layers)))
    return items


def _tags_of(items: list[ArchiveItem]) -> str:
    tags = [f"@{i} ({', '.join(item.repo_tags) or 'untagged'})" for i, item in enumerate(items)]
    return "; ".join(tags) or "none"


def choose_item(items: list[ArchiveItem], tag: Reference | None, index: int | None, where: str) -> ArchiveItem:
    """The item a reference names: by tag, by ``@index``, or the only one (containers/image's rules)."""
    if tag is None and index is None:
        if len(items) != 1:
            raise InvalidImageNameError(
                f"{where} holds {len(items)} images, expected exactly one: choose with :NAME:TAG or :@N "
                f"({_tags_of(items)})"
            )
        return items[0]
    if index is not None:
        if index >= len(items):
            raise ImageNotFoundError(f"no image @{index} in {where}: it holds {len(items)} images")
        return items[index]
    assert tag is not None
    for i, item in enumerate(items):
        for text in item.repo_tags:
            try:
                parsed = parse_reference(text)
            except InvalidReferenceError as exc:
                raise LayoutError(f"manifest.json of {where}, item {i}: invalid tag {text!r}: {exc}") from None
            if str(parsed) == str(tag):
                return item
    raise ImageNotFoundError(f"no image tagged {tag} in {where} ({_tags_of(items)})")


def item_json(config: str, tags: list[Reference], layers: list[str]) -> dict[str, Any]:
    """One ``manifest.json`` item as writer.go marshals it (``RepoTags`` fully qualified)."""
    return {"Config": config, "RepoTags": [f"{t.name}:{t.tag}" for t in tags], "Layers": layers}


@dataclass(frozen=True, slots=True)
class LegacyLayer:
    """One pre-1.10 layer directory: its id, the layer file it links to, and its ``json``."""

    layer_id: str
    layer_file: str
    json: bytes


def legacy_metadata(layer_digests: list[Digest], config: bytes) -> list[LegacyLayer]:
    """The legacy layer directories containers/image writes for one image."""
    try:
        parsed = json.loads(config)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayoutError(f"image config is not valid JSON: {exc}") from None
    fields = parsed if isinstance(parsed, dict) else {}
    out: list[LegacyLayer] = []
    chain: str | None = None
    for i, digest in enumerate(layer_digests):
        doc: dict[str, Any] = {}
        if out:
            doc["parent"] = out[-1].layer_id
        if i == len(layer_digests) - 1:
            doc.update({name: fields.get(name) for name in _LEGACY_FIELDS})
        chain = str(digest) if chain is None else str(digest_bytes(f"{chain} {digest}".encode()))
        # The id is the digest of the document with the chain id in it (and no id yet).
        layer_id = digest_bytes(go_dumps(dict(sorted({**doc, "layer_id": chain}.items())))).hex
        doc["id"] = layer_id
        out.append(LegacyLayer(layer_id, f"{digest.hex}.tar", go_dumps(dict(sorted(doc.items())))))
    return out


def repositories_json(tags: list[Reference], top_layer_id: str | None) -> bytes:
    """The legacy ``repositories`` file: name → tag → id of the top layer."""
    repos: dict[str, dict[str, str]] = {}
    if top_layer_id is not None:
        for tag in tags:
            repos.setdefault(tag.name, {})[tag.tag or "latest"] = top_layer_id
    return go_dumps({name: dict(sorted(t.items())) for name, t in sorted(repos.items())})
