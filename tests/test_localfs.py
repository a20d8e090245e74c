"""Durability order (DESIGN.md rule 3): a blob's rename is durable before anything that names it.

The real ``os.fsync`` and ``os.replace`` run; a wrapper only records, in order,
which files were renamed into place and which directories were fsynced.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from lighter.digest import digest_bytes
from lighter.localfs import write_stream
from lighter.store.store import Store
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import TransportOptions, parse_image_name

Events = list[tuple[str, str]]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    recorded: Events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.isdir(path):
            recorded.append(("fsync-dir", path))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        real_replace(src, dst)
        recorded.append(("rename", os.path.abspath(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return recorded


def _renamed_before_synced(events: Events, until: int) -> list[str]:
    """Files renamed before ``events[until]`` whose directory was not fsynced after the rename and before it."""
    return [
        path
        for i, (kind, path) in enumerate(events[:until])
        if kind == "rename" and ("fsync-dir", os.path.dirname(path)) not in events[i + 1 : until]
    ]


def _position(events: Events, path: Path) -> int:
    return events.index(("rename", str(path)))


def test_write_stream_fsyncs_the_directory_after_the_rename(tmp_path: Path, events: Events) -> None:
    data = b"blob bytes"
    target = tmp_path / digest_bytes(data).hex
    write_stream(io.BytesIO(data), str(tmp_path), lambda _d: str(target))
    assert events == [("rename", str(target)), ("fsync-dir", str(tmp_path))]


def test_write_stream_can_leave_the_directory_sync_to_the_caller(tmp_path: Path, events: Events) -> None:
    data = b"blob bytes"
    write_stream(io.BytesIO(data), str(tmp_path), lambda d: str(tmp_path / d.hex), sync_dir=False)
    assert events == [("rename", str(tmp_path / digest_bytes(data).hex))]


def test_oci_blobs_are_durable_before_index_json_names_them(tmp_path: Path, events: Events) -> None:
    root = tmp_path / "layout"
    with parse_image_name(f"oci:{root}:v1").new_destination() as dest:
        write_random_index(dest, platforms=("linux/amd64", "linux/arm64"), layer_sizes=(100, 200, 300))
    index_at = _position(events, root / "index.json")
    blob_renames = [p for kind, p in events[:index_at] if kind == "rename" and "/blobs/" in p]
    assert len(blob_renames) == 2 * (1 + 3 + 1) + 1  # per platform: config, layers, manifest; then the list
    assert _renamed_before_synced(events, index_at) == []
    # cheap: the blob directory is synced once, at commit, not once per blob
    assert events.count(("fsync-dir", str(root / "blobs" / "sha256"))) == 1


def test_dir_blobs_are_durable_before_manifest_json_names_them(tmp_path: Path, events: Events) -> None:
    root = tmp_path / "dir"
    with parse_image_name(f"dir:{root}").new_destination() as dest:
        write_random_image(dest, layer_sizes=(100, 200, 300, 400))
    manifest_at = _position(events, root / "manifest.json")
    assert _renamed_before_synced(events, manifest_at) == []
    first_blob = next(i for i, (kind, p) in enumerate(events) if kind == "rename" and p != str(root / "version"))
    assert events[first_blob:manifest_at].count(("fsync-dir", str(root))) == 1


def test_store_blobs_are_durable_before_the_catalogue_names_them(
    tmp_path: Path, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = Store.commit_manifest

    def commit_manifest(self: Store, *args: Any, **kwargs: Any) -> Any:
        events.append(("catalogue", ""))
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit_manifest", commit_manifest)
    root = tmp_path / "store"
    with parse_image_name("store:demo/app:1").new_destination(TransportOptions(store_root=str(root))) as dest:
        write_random_image(dest, layer_sizes=(100, 200, 300, 400))
    catalogue_at = events.index(("catalogue", ""))
    blob_renames = [p for kind, p in events[:catalogue_at] if kind == "rename" and "/blobs/" in p]
    assert len(blob_renames) == 1 + 4  # config and layers; commit_manifest stores the manifest itself, synced
    assert _renamed_before_synced(events, catalogue_at) == []
    assert _renamed_before_synced(events, len(events)) == []
    blob_dir = next(p for kind, p in events if kind == "fsync-dir" and p.endswith("/blobs/sha256"))
    assert events[:catalogue_at].count(("fsync-dir", blob_dir)) == 1  # once for all the blobs, not once per blob
