"""`lighter inspect` and `lighter manifest-digest` against skopeo on the same images."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter.manifest import build_image_manifest
from lighter.testing.random import generate_image
from lighter.transports import parse_image_name
from tests.fixtures_images import RunResult, make_oci_image, make_oci_index

Run = Callable[..., RunResult]
COMPARED = (
    "Name",
    "Digest",
    "RepoTags",
    "Created",
    "DockerVersion",
    "Labels",
    "Architecture",
    "Variant",
    "Os",
    "Layers",
    "LayersData",
    "Env",
)


def _ok(result: RunResult) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def skopeo_images(tmp_path: Path, run_tool: Run) -> dict[str, str]:
    """One image written by lighter, then re-written by skopeo into each file transport."""
    make_oci_image(tmp_path / "src", "v1", layer_sizes=(3000, 5000), labels={"org.example": "yes"}, seed=7)
    names = {
        "dir": f"dir:{tmp_path / 'dir'}",
        "oci": f"oci:{tmp_path / 'oci'}:v1",
        "oci-archive": f"oci-archive:{tmp_path / 'img.oci.tar'}:v1",
        "docker-archive": f"docker-archive:{tmp_path / 'img.docker.tar'}:example.com/img:v1",
        "dir-v2s2": f"dir:{tmp_path / 'dir-v2s2'}",
    }
    for key, name in names.items():
        extra = ["--format", "v2s2"] if key == "dir-v2s2" else []
        _ok(run_tool("skopeo", "copy", "-q", *extra, f"oci:{tmp_path / 'src'}:v1", name))
    return names


@pytest.mark.parametrize("kind", ["dir", "oci", "oci-archive", "docker-archive", "dir-v2s2"])
def test_inspect_matches_skopeo(skopeo_images: dict[str, str], kind: str, run_lighter: Run, run_tool: Run) -> None:
    name = skopeo_images[kind]
    theirs = json.loads(_ok(run_tool("skopeo", "inspect", name)))
    ours = json.loads(_ok(run_lighter("inspect", name)))
    # the same fields, in the same order (skopeo 1.9, Debian 12's, prints no LayersData yet; newer ones do)
    assert [key for key in ours if key != "LayersData"] == [key for key in theirs if key != "LayersData"]
    for key in COMPARED:
        if key in theirs:
            assert ours[key] == theirs[key], key
    raw = _ok(run_lighter("inspect", "--raw", name))
    assert raw == _ok(run_tool("skopeo", "inspect", "--raw", name))
    # LayersData as newer skopeo prints it: read off the manifest itself, one entry per layer
    layers = json.loads(raw)["layers"]
    assert ours["LayersData"] == [
        {
            "MIMEType": layer["mediaType"],
            "Digest": layer["digest"],
            "Size": layer["size"],
            "Annotations": layer.get("annotations"),
        }
        for layer in layers
    ]
    assert [layer["digest"] for layer in layers] == theirs["Layers"]
    config_theirs = json.loads(_ok(run_tool("skopeo", "inspect", "--config", "--raw", name)))
    assert json.loads(_ok(run_lighter("inspect", "--config", "--raw", name))) == config_theirs


def test_manifest_digest_matches_skopeo(
    skopeo_images: dict[str, str], tmp_path: Path, run_lighter: Run, run_tool: Run
) -> None:
    for key in ("dir", "dir-v2s2"):
        manifest = tmp_path / key / "manifest.json"
        assert _ok(run_lighter("manifest-digest", str(manifest))) == _ok(
            run_tool("skopeo", "manifest-digest", str(manifest))
        )


def test_manifest_digest_of_lists(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    make_oci_index(tmp_path / "src", "multi", platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    for fmt in ("oci", "v2s2"):
        target = tmp_path / f"list-{fmt}"
        _ok(
            run_tool("skopeo", "copy", "-q", "--all", "--format", fmt, f"oci:{tmp_path / 'src'}:multi", f"dir:{target}")
        )
        for manifest in sorted(target.glob("*manifest.json")):
            ours = _ok(run_lighter("manifest-digest", str(manifest)))
            assert ours == _ok(run_tool("skopeo", "manifest-digest", str(manifest)))


def test_inspect_list_reports_list_digest_and_instance_fields(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    index = make_oci_index(tmp_path / "src", "multi", platforms=("linux/amd64", "linux/arm64"))
    name = f"oci:{tmp_path / 'src'}:multi"
    result = run_lighter("inspect", "--platform", "linux/arm64", name)
    ours = json.loads(_ok(result))
    assert ours["Digest"] == str(index.digest)
    assert ours["Architecture"] == "arm64"
    arm64 = next(m for m in index.manifests if m.platform is not None and m.platform.architecture == "arm64")
    assert result.stderr.strip() == (
        "note: this is a manifest list of 2 instances: Digest is the list's, the other fields describe "
        f"the linux/arm64 instance {arm64.digest} (--all-platforms lists them all)"
    )
    make_oci_image(tmp_path / "single", "v1", layer_sizes=(100,))
    assert run_lighter("inspect", f"oci:{tmp_path / 'single'}:v1").stderr == ""
    rows = json.loads(_ok(run_lighter("inspect", "--all-platforms", name)))
    assert [r["Platform"] for r in rows] == ["linux/amd64", "linux/arm64"]
    assert [r["Digest"] for r in rows] == [str(m.digest) for m in index.manifests]
    assert {r["Compression"] for r in rows} == {"gzip"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"schemaVersion": 3}', "schemaVersion"),
        (b" " * (5 * 1024 * 1024), "byte limit"),
    ],
)
def test_manifest_digest_rejects_bad_manifests(tmp_path: Path, run_lighter: Run, content: bytes, message: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)
    result = run_lighter("manifest-digest", str(path))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_exit_codes(tmp_path: Path, run_lighter: Run) -> None:
    missing = run_lighter("inspect", f"oci:{tmp_path / 'src'}:nope")
    assert missing.returncode == 2, missing.stderr  # no layout at all: not found, as skopeo >= 1.16
    assert missing.stderr == f"lighter: error: no OCI layout at {tmp_path / 'src'}: the directory does not exist\n"
    make_oci_image(tmp_path / "src", "v1")
    not_found = run_lighter("inspect", f"oci:{tmp_path / 'src'}:nope")
    assert not_found.returncode == 2, not_found.stderr
    unknown = run_lighter("inspect", "nosuch:thing")
    assert unknown.returncode == 1
    assert "unknown transport" in unknown.stderr
    upper = run_lighter("inspect", "docker://example.com/Upper/Case:1")
    assert upper.returncode == 1
    assert "lowercase" in upper.stderr
    assert run_lighter("manifest-digest", str(tmp_path / "absent.json")).returncode == 2


def test_layers_data_carries_layer_annotations(tmp_path: Path, run_lighter: Run, run_tool: Run) -> None:
    manifest, config, layers = generate_image(layer_sizes=(1000, 2000), seed=3)
    annotated = [layers[0].descriptor.evolve(annotations={"org.example.layer": "base"}), layers[1].descriptor]
    image = build_image_manifest(manifest.config, annotated)
    with parse_image_name(f"oci:{tmp_path / 'src'}:v1").new_destination() as dest:
        dest.put_blob(io.BytesIO(config.raw), image.config)
        for layer in layers:
            dest.put_blob(io.BytesIO(layer.blob), layer.descriptor)
        dest.put_manifest(image.raw, image.media_type)
        dest.commit()
    name = f"dir:{tmp_path / 'dir'}"
    _ok(run_tool("skopeo", "copy", "-q", f"oci:{tmp_path / 'src'}:v1", name))
    ours = json.loads(_ok(run_lighter("inspect", name)))
    assert ours["Digest"] == json.loads(_ok(run_tool("skopeo", "inspect", name)))["Digest"] == str(image.digest)
    assert ours["LayersData"] == [
        {
            "MIMEType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "Digest": str(layers[0].descriptor.digest),
            "Size": len(layers[0].blob),
            "Annotations": {"org.example.layer": "base"},
        },
        {
            "MIMEType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "Digest": str(layers[1].descriptor.digest),
            "Size": len(layers[1].blob),
            "Annotations": None,
        },
    ]


def test_manifest_digest_checks_the_size_before_reading(tmp_path: Path, run_lighter: Run) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(5 * 1024**3)  # sparse: 5 GiB that cost no disk, and would take a while to read
    result = run_lighter("manifest-digest", str(huge))
    assert (result.returncode, result.stdout) == (1, "")
    # the size stat says, not what a capped read saw
    assert result.stderr == "lighter: error: manifest is 5368709120 bytes, over the 4194304 byte limit\n"
    # a pipe has no size: one byte past the cap is enough to refuse it
    piped = run_lighter("manifest-digest", "/dev/stdin", input=" " * (5 * 1024 * 1024))
    assert (piped.returncode, piped.stdout) == (1, "")
    assert piped.stderr == "lighter: error: manifest is over the 4194304 byte limit\n"
    small = tmp_path / "small.json"
    small.write_bytes(b'{"schemaVersion": 2, "manifests": []}')
    ok = run_lighter("manifest-digest", "/dev/stdin", input=small.read_text())
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == _ok(run_lighter("manifest-digest", str(small)))
