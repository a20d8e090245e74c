"""parse_manifest against what the transport declared, and inspect on a list nested in a list."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lighter import mediatype as mt
from lighter.errors import InvalidManifestError, LighterError
from lighter.inspect import inspect_image
from lighter.manifest import Descriptor, ImageManifest, Index, build_index, parse_manifest
from lighter.platform import parse_platform
from lighter.testing.random import write_random_index
from lighter.transports import parse_image_name


def _digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


#: Bodies without a ``mediaType``: only their shape says what they are.
IMAGE_BODY = json.dumps(
    {
        "schemaVersion": 2,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": _digest(1), "size": 10},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": _digest(2), "size": 20}],
    }
).encode()
INDEX_BODY = json.dumps(
    {"schemaVersion": 2, "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": _digest(3), "size": 30}]}
).encode()
SCHEMA1_BODY = json.dumps(
    {"schemaVersion": 1, "name": "x", "tag": "1", "architecture": "amd64", "fsLayers": [], "history": []}
).encode()


@pytest.mark.parametrize(
    ("declared", "body", "body_kind"),
    [
        (mt.OCI_MANIFEST, INDEX_BODY, "a manifest list"),
        (mt.DOCKER_MANIFEST, INDEX_BODY, "a manifest list"),
        (mt.OCI_INDEX, IMAGE_BODY, "an image manifest"),
        (mt.DOCKER_LIST, IMAGE_BODY, "an image manifest"),
        (mt.DOCKER_SCHEMA1, IMAGE_BODY, "an image manifest"),
        (mt.OCI_MANIFEST, SCHEMA1_BODY, "a schema 1 manifest"),
        (mt.OCI_INDEX, SCHEMA1_BODY, "a schema 1 manifest"),
    ],
)
def test_declared_type_of_another_kind_is_refused(declared: str, body: bytes, body_kind: str) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(body, declared)
    message = str(info.value)
    assert f"served as {declared}" in message
    assert message.endswith(f"its body is {body_kind}")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("declared", "body", "kind"),
    [
        (mt.OCI_MANIFEST, IMAGE_BODY, ImageManifest),
        (mt.DOCKER_MANIFEST, IMAGE_BODY, ImageManifest),
        (mt.OCI_INDEX, INDEX_BODY, Index),
        (mt.DOCKER_LIST, INDEX_BODY, Index),
        (None, IMAGE_BODY, ImageManifest),
        (None, INDEX_BODY, Index),
        # not a manifest type (a registry's generic Content-Type): the body alone decides
        ("application/json", INDEX_BODY, Index),
        ("text/plain", IMAGE_BODY, ImageManifest),
    ],
)
def test_declared_type_of_the_same_kind_is_accepted(declared: str | None, body: bytes, kind: type) -> None:
    parsed = parse_manifest(body, declared)
    assert isinstance(parsed, kind)
    assert parsed.raw == body


def test_explicit_body_type_must_equal_the_declared_one() -> None:
    body = json.loads(INDEX_BODY)
    body["mediaType"] = mt.OCI_INDEX
    raw = json.dumps(body).encode()
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(raw, mt.DOCKER_LIST)
    assert str(info.value) == f"manifest declares media type {mt.OCI_INDEX} but was served as {mt.DOCKER_LIST}"
    assert isinstance(parse_manifest(raw, mt.OCI_INDEX), Index)


def test_inspect_refuses_an_instance_that_is_itself_a_list(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with parse_image_name(f"oci:{layout}:nested").new_destination() as dest:
        inner = write_random_index(dest, platforms=("linux/amd64", "linux/arm64"), commit=False)
        # the list's entry claims an image; the bytes it names are a list (the layout reads their own type)
        amd64 = parse_platform("linux/amd64")
        outer = build_index([Descriptor(mt.OCI_MANIFEST, inner.digest, len(inner.raw), platform=amd64)])
        dest.put_manifest(outer.raw, outer.media_type)
        dest.commit()
    with pytest.raises(InvalidManifestError) as info:
        inspect_image(f"oci:{layout}:nested", platform=parse_platform("linux/amd64"))
    assert isinstance(info.value, LighterError)
    assert str(info.value) == (
        f"instance {inner.digest} of the list is itself a manifest list, expected an image manifest"
    )
