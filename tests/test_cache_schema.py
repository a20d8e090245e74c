"""Source and input descriptions: parsing, and errors that name the item and the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lighter.cache import load_sources, parse_sources
from lighter.cache.schema import INPUT_SCHEMA, validate
from lighter.digest import parse_digest
from lighter.errors import InvalidDescriptionError
from tests.fixtures_images import RunResult

ID = "sha256:" + "a" * 64
MANIFEST = "sha256:" + "b" * 64
LIST = "sha256:" + "c" * 64


def _image(**image: Any) -> dict[str, Any]:
    return {"org.osbuild.skopeo": {"items": {ID: {"image": {"name": "reg/app", "digest": MANIFEST, **image}}}}}


def test_images_and_lists_parse_with_defaults_and_options() -> None:
    data = {
        **_image(),
        "org.osbuild.skopeo-index": {
            "digests": {
                LIST: {
                    "image": {
                        "name": "app",
                        "tls-verify": False,
                        "containers-transport": "store",
                        "storage-location": "/var/store",
                    }
                }
            }
        },
    }
    image, lst = parse_sources(data)
    assert (image.kind, image.key, image.digest) == ("image", parse_digest(ID), parse_digest(MANIFEST))
    assert image.tls_verify is True and image.transport == "docker" and image.storage_location is None
    assert image.image_name == f"docker://reg/app@{MANIFEST}"
    assert (lst.kind, lst.key, lst.digest) == ("list", parse_digest(LIST), parse_digest(LIST))
    assert lst.image_name == f"store:app@{LIST}"
    options = lst.transport_options()
    assert options.tls_verify is False and options.store_root == "/var/store"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_image(**{"tls-verify": "no"}), f"item {ID} of org.osbuild.skopeo, field image.tls-verify: 'no' is not of"),
        (
            {"org.osbuild.skopeo-index": {"items": {LIST: {"image": {}}}}},
            f"item {LIST} of org.osbuild.skopeo-index, field image.name: is required but missing",
        ),
        (
            {"org.osbuild.skopeo": {"items": {ID: {"image": {"name": "x"}}}}},
            f"item {ID} of org.osbuild.skopeo, field image.digest: is required but missing",
        ),
        (_image(digest="sha256:12"), f"item {ID} of org.osbuild.skopeo, field image.digest: 'sha256:12' does not"),
        (
            _image(**{"containers-transport": "podman"}),
            f"item {ID} of org.osbuild.skopeo, field image.containers-transport: 'podman' is not one of",
        ),
        (_image(extra=1), f"item {ID} of org.osbuild.skopeo, field image: Additional properties"),
        (
            {"org.osbuild.skopeo": {"items": {"sha256:xyz": {"image": {"name": "x", "digest": MANIFEST}}}}},
            "item 'sha256:xyz' of org.osbuild.skopeo: the key must be a digest",
        ),
        ({"org.osbuild.skopeo": {}}, "org.osbuild.skopeo: expected exactly one of 'items' or 'digests'"),
        ({"org.osbuild.curl": {}}, "'org.osbuild.curl' was unexpected"),
        ([], "top level: [] is not of type 'object'"),
    ],
)
def test_bad_descriptions_name_item_and_field(data: object, expected: str) -> None:
    with pytest.raises(InvalidDescriptionError) as info:
        parse_sources(data)
    assert str(info.value).startswith("invalid source description: ")
    assert expected in str(info.value)


def test_load_sources_reads_a_file_and_refuses_non_json(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_image()))
    assert [i.key for i in load_sources(str(good))] == [parse_digest(ID)]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidDescriptionError, match="not JSON"):
        load_sources(str(bad))


@pytest.mark.parametrize(
    "references",
    [{ID: {"name": "app"}}, [{"id": ID, "options": {"name": "app"}}]],
    ids=["object", "array"],
)
def test_input_schema_accepts_both_reference_forms(references: object) -> None:
    validate(
        {"type": "org.osbuild.containers", "origin": "org.osbuild.source", "references": references},
        INPUT_SCHEMA,
        "input",
    )


def test_input_schema_refuses_unknown_origin_and_empty_references() -> None:
    with pytest.raises(InvalidDescriptionError, match="origin"):
        validate(
            {"type": "org.osbuild.containers", "origin": "elsewhere", "references": {ID: {"name": "a"}}},
            INPUT_SCHEMA,
            "input",
        )
    with pytest.raises(InvalidDescriptionError, match="references"):
        validate(
            {"type": "org.osbuild.containers", "origin": "org.osbuild.source", "references": []}, INPUT_SCHEMA, "input"
        )


def test_cli_reports_a_bad_description_in_one_line(tmp_path: Path, run_lighter: Callable[..., RunResult]) -> None:
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(_image(**{"tls-verify": "no"})))
    result = run_lighter("cache", "fetch", "--cache", str(tmp_path / "cache"), str(sources))
    assert result.returncode == 1
    assert result.stderr.startswith(f"lighter: error: invalid source description: item {ID} of org.osbuild.skopeo")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()


def test_cli_merge_list_wants_a_dir_destination(tmp_path: Path, run_lighter: Callable[..., RunResult]) -> None:
    listing = tmp_path / "list.json"
    listing.write_text("{}")
    result = run_lighter("merge-list", str(listing), f"oci:{tmp_path}/x")
    assert result.returncode == 1
    assert "expected dir:PATH" in result.stderr
