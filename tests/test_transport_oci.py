"""``oci:``: OCI image layouts with several images, index.json kept as skopeo keeps it, under a lock."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from lighter.copy import copy_image
from lighter.digest import digest_bytes
from lighter.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidImageNameError,
    LayoutError,
    ManifestNotFoundError,
)
from lighter.manifest import Descriptor
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name
from lighter.transports.oci_layout import OCIReference, parse
from lighter.validate import check_image


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _write(name: str, seed: int = 0) -> bytes:
    with parse_image_name(name).new_destination() as dest:
        return write_random_image(dest, seed=seed).raw


def _skopeo(*args: str) -> None:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "path", "ref"),
    [
        ("/l", "/l", ""),
        ("/l:", "/l", ""),
        ("/l:v1", "/l", "v1"),
        ("/l:example.com/app:1.0", "/l", "example.com/app:1.0"),
        ("rel:a--b@c+d", "rel", "a--b@c+d"),
    ],
)
def test_parse(text: str, path: str, ref: str) -> None:
    assert parse(text) == OCIReference(path, ref)
    assert parse_image_name(f"oci:{text}") == OCIReference(path, ref)


@pytest.mark.parametrize("text", ["", ":tag", "/l:-bad", "/l:a//b", "/l:sp ace", "/l:a/"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(InvalidImageNameError):
        parse(text)


def test_layout_files(tmp_path: Path) -> None:
    raw = _write(f"oci:{tmp_path}:v1")
    assert (tmp_path / "oci-layout").read_bytes() == b'{"imageLayoutVersion": "1.0.0"}'
    index = json.loads((tmp_path / "index.json").read_bytes())
    assert index == {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": str(digest_bytes(raw)),
                "size": len(raw),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    assert (tmp_path / "blobs" / "sha256" / digest_bytes(raw).hex).read_bytes() == raw


def test_index_json_evolves_exactly_as_skopeo_keeps_it(tmp_path: Path) -> None:
    """The same sequence of writes by lighter and by skopeo gives the same index.json bytes."""
    sources = []
    for seed in (1, 2):
        src = tmp_path / f"src{seed}"
        _write(f"dir:{src}", seed=seed)
        sources.append(f"dir:{src}")
    steps = [(0, "t1"), (0, "t2"), (0, ""), (0, ""), (1, ""), (1, "t1"), (1, "t2")]
    for which, tag in steps:
        suffix = f":{tag}" if tag else ""
        copy_image(sources[which], f"oci:{tmp_path / 'ours'}{suffix}")
        _skopeo("copy", "-q", sources[which], f"oci:{tmp_path / 'theirs'}{suffix}")
        assert (tmp_path / "ours" / "index.json").read_bytes() == (tmp_path / "theirs" / "index.json").read_bytes()


def test_second_tag_keeps_the_first_and_lists_are_written(tmp_path: Path) -> None:
    first = _write(f"oci:{tmp_path}:a", seed=1)
    with parse_image_name(f"oci:{tmp_path}:b").new_destination() as dest:
        index = write_random_index(dest)
    with parse_image_name(f"oci:{tmp_path}:a").new_source() as source:
        assert source.manifest()[0] == first
    with parse_image_name(f"oci:{tmp_path}:b").new_source() as source:
        assert source.manifest() == (index.raw, index.media_type)
    check_image(f"oci:{tmp_path}:a")
    check_image(f"oci:{tmp_path}:b")


def test_choosing_an_image(tmp_path: Path) -> None:
    only = _write(f"oci:{tmp_path}:a", seed=1)
    with parse_image_name(f"oci:{tmp_path}").new_source() as source:
        assert source.manifest()[0] == only
    _write(f"oci:{tmp_path}:b", seed=2)
    with pytest.raises(InvalidImageNameError, match=r"holds 2 images.*refs: a, b"):
        parse_image_name(f"oci:{tmp_path}").new_source()
    with pytest.raises(ImageNotFoundError, match="no image 'c'"):
        parse_image_name(f"oci:{tmp_path}:c").new_source()


def test_missing_layout_index_and_blobs(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"oci:{tmp_path / 'absent'}:a").new_source()
    raw = _write(f"oci:{tmp_path / 'l'}:a")
    (tmp_path / "l" / "index.json").unlink()
    before = _snapshot(tmp_path / "l")
    with pytest.raises(LayoutError, match=r"no index\.json"):
        parse_image_name(f"oci:{tmp_path / 'l'}:a").new_source()
    assert _snapshot(tmp_path / "l") == before
    _write(f"oci:{tmp_path / 'm'}:a")
    with parse_image_name(f"oci:{tmp_path / 'm'}:a").new_source() as source:
        with pytest.raises(BlobNotFoundError):
            source.blob(Descriptor("x", digest_bytes(b"absent"), 6))
        with pytest.raises(ManifestNotFoundError):
            source.manifest(digest_bytes(b"absent"))
    (tmp_path / "m" / "blobs" / "sha256" / digest_bytes(raw).hex).write_bytes(raw + b" ")
    with pytest.raises(DigestMismatchError), parse_image_name(f"oci:{tmp_path / 'm'}:a").new_source() as source:
        source.manifest()


def test_uncommitted_write_into_a_new_path_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "layout"
    with parse_image_name(f"oci:{target}:a").new_destination() as dest:
        write_random_index(dest, commit=False)
        assert any((target / "blobs" / "sha256").iterdir())  # blobs were written, then taken back
    assert list(tmp_path.iterdir()) == []


def test_uncommitted_write_into_an_existing_directory_writes_no_layout_files(tmp_path: Path) -> None:
    # as containers/image: oci-layout and index.json are written at commit only
    with parse_image_name(f"oci:{tmp_path}:a").new_destination() as dest:
        write_random_image(dest, commit=False)
    assert not (tmp_path / "index.json").exists()
    assert not (tmp_path / "oci-layout").exists()
    with pytest.raises(LayoutError, match=r"no index\.json"):
        parse_image_name(f"oci:{tmp_path}:a").new_source()


def test_uncommitted_write_into_a_layout_keeps_its_index(tmp_path: Path) -> None:
    first = _write(f"oci:{tmp_path}:a", seed=1)
    index_before = (tmp_path / "index.json").read_bytes()
    with parse_image_name(f"oci:{tmp_path}:b").new_destination() as dest:
        write_random_image(dest, seed=2, commit=False)
    assert (tmp_path / "index.json").read_bytes() == index_before
    with parse_image_name(f"oci:{tmp_path}:a").new_source() as source:
        assert source.manifest()[0] == first
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"oci:{tmp_path}:b").new_source()


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(LayoutError, match="exists and is not a directory"):
        parse_image_name(f"oci:{tmp_path / 'file'}:a").new_destination()
    assert (tmp_path / "file").read_bytes() == b"x"


def test_put_blob_mismatch_leaves_nothing(tmp_path: Path) -> None:
    with parse_image_name(f"oci:{tmp_path}:a").new_destination() as dest:
        before = _snapshot(tmp_path)
        data = b"some bytes"
        with pytest.raises(DigestMismatchError):
            dest.put_blob(io.BytesIO(data), Descriptor("x", digest_bytes(b"other"), len(data)))
        assert _snapshot(tmp_path) == before


def _writer(layout: str, worker: int, count: int) -> None:
    for i in range(count):
        with parse_image_name(f"oci:{layout}:w{worker}-{i}").new_destination() as dest:
            write_random_image(dest, seed=worker * 1000 + i, layer_sizes=(64,))


def test_concurrent_writers_never_lose_an_entry(tmp_path: Path) -> None:
    workers, count = 4, 8
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, count)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=240)
        assert proc.exitcode == 0
    index = json.loads((tmp_path / "index.json").read_bytes())
    names = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert names == sorted(f"w{w}-{i}" for w in range(workers) for i in range(count))
    for name in names[:: count - 1]:
        check_image(f"oci:{tmp_path}:{name}")
