"""Source and input descriptions: their JSON schemas, as data, and validation.

A source description names what the cache must hold, in the shape of an
osbuild manifest's ``sources`` section::

    {
      "org.osbuild.skopeo": {"items": {
        "sha256:<image id>": {"image": {"name": "registry/app", "digest": "sha256:<manifest>"}}}},
      "org.osbuild.skopeo-index": {"items": {
        "sha256:<list digest>": {"image": {"name": "registry/app", "tls-verify": false}}}}
    }

Whole images are keyed by their image id (the digest of their config), as
osbuild's skopeo source keys them: the id survives recompression, the
manifest digest does not.  ``image.digest`` pins the manifest to fetch.
Manifest lists are keyed by their own digest.  ``containers-transport`` is
``docker`` (a registry) or ``store`` (lighter's local store, at
``storage-location`` or the default root).

Descriptions are checked with ``jsonschema``; the first problem becomes an
``InvalidDescriptionError`` naming the item and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import jsonschema

from lighter.digest import Digest, parse_digest
from lighter.errors import InvalidDescriptionError
from lighter.transports import TransportOptions

#: Source ids, as osbuild names the two sources this cache reproduces.
IMAGE_SOURCE: Final = "org.osbuild.skopeo"
LIST_SOURCE: Final = "org.osbuild.skopeo-index"

_DIGEST_PATTERN = "^sha256:[0-9a-f]{64}$"
_DIGEST_RE = re.compile(_DIGEST_PATTERN)

_COMMON_IMAGE_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "description": "Name of the image (including registry)."},
    "tls-verify": {"type": "boolean", "description": "Require https (default true)."},
    "containers-transport": {
        "type": "string",
        "enum": ["docker", "store"],
        "default": "docker",
        "description": "Where to copy the image from: a registry, or lighter's local store.",
    },
    "storage-location": {"type": "string", "description": "Root of the local store (store transport)."},
}


def _items_schema(image_required: list[str], image_properties: dict[str, Any], what: str) -> dict[str, Any]:
    item = {
        "description": what,
        "type": "object",
        "additionalProperties": False,
        "patternProperties": {
            _DIGEST_PATTERN: {
                "type": "object",
                "additionalProperties": False,
                "required": ["image"],
                "properties": {
                    "image": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": image_required,
                        "properties": image_properties,
                    }
                },
            }
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"items": item, "digests": item},
        "oneOf": [{"required": ["items"]}, {"required": ["digests"]}],
    }


#: Whole images, keyed by image id; ``image.digest`` is the manifest to fetch.
IMAGE_SOURCE_SCHEMA: Final[dict[str, Any]] = _items_schema(
    ["name", "digest"],
    {
        **_COMMON_IMAGE_PROPERTIES,
        "digest": {"type": "string", "pattern": _DIGEST_PATTERN, "description": "Digest of the image's manifest."},
    },
    "The container images to fetch, keyed by image id (the digest of the config)",
)

#: Manifest lists, keyed by their digest; fetched index-only.
LIST_SOURCE_SCHEMA: Final[dict[str, Any]] = _items_schema(
    ["name"], dict(_COMMON_IMAGE_PROPERTIES), "The manifest lists to fetch, keyed by their digest"
)

#: A whole description: one or both sources.
SOURCES_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {IMAGE_SOURCE: IMAGE_SOURCE_SCHEMA, LIST_SOURCE: LIST_SOURCE_SCHEMA},
}


def _pipeline_or_source_refs(options_ref: str) -> dict[str, Any]:
    return {
        "oneOf": [
            {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id"],
                    "properties": {"id": {"type": "string"}, "options": {"$ref": options_ref}},
                },
            },
            {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "patternProperties": {".*": {"$ref": options_ref}},
            },
        ]
    }


#: A containers input (osbuild's ``org.osbuild.containers``): references to cached images or pipeline trees.
INPUT_SCHEMA: Final[dict[str, Any]] = {
    "definitions": {
        "options": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": {"type": "string", "description": "The name to use for the image"}},
        },
    },
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "origin", "references"],
    "properties": {
        "type": {"enum": ["org.osbuild.containers"]},
        "origin": {"enum": ["org.osbuild.source", "org.osbuild.pipeline"]},
        "references": _pipeline_or_source_refs("#/definitions/options"),
    },
}


def _where(path: Iterable[object]) -> str:
    """``item sha256:… of org.osbuild.skopeo, field image.tls-verify`` from a jsonschema error path."""
    parts = [str(p) for p in path]
    if len(parts) >= 3 and parts[1] in ("items", "digests"):
        field = ".".join(parts[3:])
        return f"item {parts[2]} of {parts[0]}" + (f", field {field}" if field else "")
    return "field " + ".".join(parts) if parts else "top level"


def _message(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if len(path) == 2 and path[1] in ("items", "digests") and error.validator == "additionalProperties":
        keys = [k for k in error.instance if not _DIGEST_RE.match(str(k))] if isinstance(error.instance, dict) else []
        shown = ", ".join(repr(k) for k in keys) or "?"
        return f"item {shown} of {path[0]}: the key must be a digest sha256:<64 lowercase hex digits>"
    if len(path) == 1 and error.validator == "oneOf":
        return f"{path[0]}: expected exactly one of 'items' or 'digests'"
    if error.validator == "required" and isinstance(error.instance, dict) and isinstance(error.validator_value, list):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing and len(path) >= 3:
            return f"{_where([*path, missing[0]])}: is required but missing"
    return f"{_where(path)}: {error.message}"


def validate(data: object, schema: dict[str, Any], what: str) -> None:
    """Raise InvalidDescriptionError naming the offending item and field of the first problem."""
    validator = jsonschema.Draft7Validator(schema)
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    best = jsonschema.exceptions.best_match(errors)
    raise InvalidDescriptionError(f"invalid {what}: {_message(best)}")


Transport = Literal["docker", "store"]


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One thing to fetch: a whole image (``kind="image"``) or a manifest list (``kind="list"``).

    ``key`` is what the cache files it under: the image id for images, the
    list's digest for lists.  ``digest`` is the manifest digest to fetch.
    """

    kind: Literal["image", "list"]
    key: Digest
    name: str
    digest: Digest
    tls_verify: bool = True
    transport: Transport = "docker"
    storage_location: str | None = None

    @property
    def image_name(self) -> str:
        """The ``transport:rest`` name lighter copies from."""
        if self.transport == "store":
            return f"store:{self.name}@{self.digest}"
        return f"docker://{self.name}@{self.digest}"

    @property
    def display(self) -> str:
        return f"{self.name}@{self.digest}"

    def transport_options(self) -> TransportOptions:
        return TransportOptions(tls_verify=self.tls_verify, store_root=self.storage_location)


def _items(source: dict[str, Any]) -> dict[str, Any]:
    items = source.get("items", source.get("digests", {}))
    assert isinstance(items, dict)  # checked by the schema
    return items


def parse_sources(data: object) -> list[SourceItem]:
    """Validate a source description and turn it into items (images first, then lists, as written)."""
    validate(data, SOURCES_SCHEMA, "source description")
    assert isinstance(data, dict)
    out: list[SourceItem] = []
    for source_id, kind in ((IMAGE_SOURCE, "image"), (LIST_SOURCE, "list")):
        for key, desc in _items(data.get(source_id, {})).items():
            image = desc["image"]
            out.append(
                SourceItem(
                    kind="image" if kind == "image" else "list",
                    key=parse_digest(key),
                    name=image["name"],
                    digest=parse_digest(image["digest"] if kind == "image" else key),
                    tls_verify=image.get("tls-verify", True),
                    transport=image.get("containers-transport", "docker"),
                    storage_location=image.get("storage-location") or None,
                )
            )
    return out


def load_sources(path: str) -> list[SourceItem]:
    """Read and parse a source description file."""
    try:
        with open(path, "rb") as stream:
            data = json.load(stream)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDescriptionError(f"invalid source description {path}: not JSON: {exc}") from None
    return parse_sources(data)
