"""``dir:``: skopeo's directory layout, written atomically and replaced cleanly."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from lighter.digest import digest_bytes
from lighter.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidImageNameError,
    InvalidManifestError,
    LayoutError,
    ManifestNotFoundError,
    ManifestTooLargeError,
)
from lighter.manifest import Descriptor
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name
from lighter.transports.dir import VERSION, DirReference, parse
from lighter.validate import check_image


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _write(path: Path, seed: int = 0, **kwargs: object) -> bytes:
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        return write_random_image(dest, seed=seed, **kwargs).raw  # type: ignore[arg-type]


def test_parse() -> None:
    assert parse("/a/b:c") == DirReference("/a/b:c")  # colons belong to the path
    assert str(parse("rel/dir")) == "dir:rel/dir"
    with pytest.raises(InvalidImageNameError):
        parse("")


def test_layout_written_as_skopeo_writes_it(tmp_path: Path) -> None:
    raw = _write(tmp_path / "img", layer_sizes=(100, 200))
    files = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert (tmp_path / "img" / "version").read_bytes() == VERSION == b"Directory Transport Version: 1.1\n"
    assert (tmp_path / "img" / "manifest.json").read_bytes() == raw
    blobs = [name for name in files if name not in ("version", "manifest.json")]
    assert len(blobs) == 3  # config + two layers, named by bare hex
    for name in blobs:
        assert hashlib.sha256((tmp_path / "img" / name).read_bytes()).hexdigest() == name
    check_image(f"dir:{tmp_path / 'img'}")


def test_list_instances_are_named_by_digest(tmp_path: Path) -> None:
    with parse_image_name(f"dir:{tmp_path / 'l'}").new_destination() as dest:
        index = write_random_index(dest)
    assert (tmp_path / "l" / "manifest.json").read_bytes() == index.raw
    for desc in index.manifests:
        assert (tmp_path / "l" / f"{desc.digest.hex}.manifest.json").is_file()
    check_image(f"dir:{tmp_path / 'l'}")


def test_single_image_answers_to_its_own_digest_as_an_instance(tmp_path: Path) -> None:
    raw = _write(tmp_path / "img")
    with parse_image_name(f"dir:{tmp_path / 'img'}").new_source() as source:
        assert source.manifest(digest_bytes(raw))[0] == raw
        with pytest.raises(ManifestNotFoundError):
            source.manifest(digest_bytes(b"other"))


def test_refuses_a_directory_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    before = _snapshot(tmp_path / "data")
    with pytest.raises(LayoutError, match="not empty and is not a dir: image"):
        parse_image_name(f"dir:{tmp_path / 'data'}").new_destination()
    assert _snapshot(tmp_path / "data") == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(LayoutError, match="not a directory"):
        parse_image_name(f"dir:{tmp_path / 'file'}").new_destination()


def test_writes_into_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty")
    check_image(f"dir:{tmp_path / 'empty'}")


def test_replacing_an_image_leaves_only_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "img"
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        write_random_index(dest, seed=1)
    (path / "signature-1").write_bytes(b"old signature")
    new = _write(path, seed=2, layer_sizes=(300,))
    new_manifest = parse_image_name(f"dir:{path}")
    check_image(str(new_manifest))
    files = sorted(p.name for p in path.iterdir())
    assert (path / "manifest.json").read_bytes() == new
    assert len(files) == 4  # version, manifest.json, config, one layer: nothing of the old list
    assert not list(path.glob("*.manifest.json"))
    assert not (path / "signature-1").exists()


def test_reused_blobs_of_the_old_image_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "img"
    _write(path, seed=3)
    # the same image again: every blob is reused through has_blob, none may be dropped
    _write(path, seed=3)
    check_image(f"dir:{path}")


def test_close_without_commit_keeps_the_old_image(tmp_path: Path) -> None:
    path = tmp_path / "img"
    _write(path, seed=4)
    before = _snapshot(path)
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        write_random_image(dest, seed=5, commit=False)
    assert _snapshot(path) == before
    with parse_image_name(f"dir:{tmp_path / 'fresh'}").new_destination() as dest:
        write_random_image(dest, seed=5, commit=False)
    assert not (tmp_path / "fresh").exists()


def test_bad_blob_is_not_left_behind(tmp_path: Path) -> None:
    path = tmp_path / "img"
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        data = b"payload"
        wrong = Descriptor("application/octet-stream", digest_bytes(b"else"), len(data))
        with pytest.raises(DigestMismatchError):
            dest.put_blob(io.BytesIO(data), wrong)
        assert sorted(p.name for p in path.iterdir()) == ["version"]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{not json", InvalidManifestError),
        (b" " * (5 * 1024 * 1024), ManifestTooLargeError),
    ],
)
def test_bad_manifest_json(tmp_path: Path, content: bytes, error: type[Exception]) -> None:
    path = tmp_path / "img"
    _write(path)
    (path / "manifest.json").write_bytes(content)
    before = _snapshot(path)
    with pytest.raises(error):
        parse_image_name(f"dir:{path}").new_source()
    assert _snapshot(path) == before


def test_missing_things_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"dir:{tmp_path / 'absent'}").new_source()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageNotFoundError):
        parse_image_name(f"dir:{tmp_path / 'empty'}").new_source()
    with parse_image_name(f"dir:{tmp_path / 'l'}").new_destination() as dest:
        index = write_random_index(dest)
    victim = index.manifests[0].digest
    (tmp_path / "l" / f"{victim.hex}.manifest.json").write_bytes(b"{}")
    with parse_image_name(f"dir:{tmp_path / 'l'}").new_source() as source:
        with pytest.raises(DigestMismatchError):
            source.manifest(victim)
        with pytest.raises(BlobNotFoundError):
            source.blob(Descriptor("x", digest_bytes(b"none"), 4))
