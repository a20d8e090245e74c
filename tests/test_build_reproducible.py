"""Reproducible on any machine: a fixed tree committed at a fixed time has digests pinned here as literals.

The uncompressed layer (its diffID), the config and the manifest depend only
on lighter's tar writer (the standard library's ``tarfile`` driven by
``rootfs.write_layer_tar``) and its JSON: not on the host, the file system's
inode order, the umask, the current time or the number of CPUs.  If one of
these literals changes, every image lighter ever committed changes digest:
that must be a deliberate decision (say so in the commit), never a side
effect.

Compressed digests also depend on the compressor's version (``isal`` for
gzip, ``zstandard`` for zstd), so they are not pinned; what is checked is
that they do not depend on the machine: the same bytes with 1 and with 4
zstd worker threads, and in two runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from lighter.build import CommitResult, commit
from lighter.build.rootfs import OwnerNames, stream_layer
from lighter.build.tree import TreeScanner
from lighter.digest import digest_bytes
from lighter.manifest import Descriptor
from tests.test_build_helpers import CAPABILITY, hardlink_groups

TS = 1_700_000_000
OLD = 1_000_000_000  # before TS: kept as it is, where newer mtimes are clamped to TS
PLATFORM = "linux/amd64"  # without a platform (and a base), the config would carry the host's
CHANGES = ("ENV PATH=/usr/bin:/bin", 'CMD ["/usr/bin/tool"]', "LABEL org.example.kind=golden", "EXPOSE 8080")

GOLDEN_DIFF_ID = "sha256:9480857c562c4156dc13afc0de92b1a99d3319c5162e07a0ef02ea7d00886dbe"
GOLDEN_CONFIG = "sha256:8ef18eacfe0e249533dee7fb34a317d8d0ddf31ee508a07d9807a5c6e21ce931"
GOLDEN_MANIFEST = "sha256:1ac269b150763a9e07cfe1f0ac2974ba026f60f2e23aec802cad5a728890e8fc"


def _incompressible(size: int) -> bytes:
    """Fixed bytes that do not compress (sha256 in counter mode: the same in every Python version)."""
    blocks = (hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(size // 32))
    return b"".join(blocks)


def golden_tree(root: Path) -> Path:
    """Every kind of entry with explicit modes, owners, mtimes and xattrs (nothing left to the host)."""
    dirs = {"etc": 0o755, "usr": 0o755, "usr/bin": 0o755, "home": 0o755, "home/app": 0o750, "srv": 0o1777}
    for rel, mode in dirs.items():
        (root / rel).mkdir(parents=True)
        os.chmod(root / rel, mode)
    files = {
        "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n", 0o644),
        "etc/group": (b"root:x:0:\napp:x:1000:\n", 0o644),
        "usr/bin/tool": (b"#!/bin/sh\necho tool\n", 0o4755),
        "home/app/data.bin": (_incompressible(3 * 1024 * 1024), 0o640),
        "srv/empty": (b"", 0o600),
    }
    for rel, (data, mode) in files.items():
        (root / rel).write_bytes(data)
        os.chmod(root / rel, mode)
    os.setxattr(root / "usr/bin/tool", "security.capability", CAPABILITY)
    os.setxattr(root / "usr/bin/tool", "user.note", b"golden")
    os.link(root / "usr/bin/tool", root / "usr/bin/tool-link")
    (root / "bin").symlink_to("usr/bin")
    (root / "srv" / "dangling").symlink_to("/nowhere")
    os.mkfifo(root / "srv" / "fifo", 0o640)
    os.chmod(root / "srv" / "fifo", 0o640)
    for rel in ("home/app", "home/app/data.bin"):
        os.chown(root / rel, 1000, 1000)
    os.lchown(root / "srv" / "dangling", 1000, 1000)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            when = OLD if name in ("passwd", "data.bin") else TS + 3600
            os.utime(path, (when, when), follow_symlinks=False)
    return root


def commit_golden(tree: Path, dest: str, compression: str) -> CommitResult:
    """The commit whose digests are pinned: fixed time, platform, author, history and changes."""
    return commit(
        tree,
        dest,
        compression=compression,
        timestamp=TS,
        platform=PLATFORM,
        author="Golden Author",
        message="golden layer",
        created_by="lighter test",
        changes=CHANGES,
    )


def test_golden_tree_is_what_it_claims(tmp_path: Path) -> None:
    tree = golden_tree(tmp_path / "t")
    assert stat.S_IMODE(os.lstat(tree / "usr/bin/tool").st_mode) == 0o4755
    assert os.getxattr(tree / "usr/bin/tool", "security.capability") == CAPABILITY
    assert hardlink_groups(tree) == [["usr/bin/tool", "usr/bin/tool-link"]]
    assert os.lstat(tree / "home/app/data.bin").st_uid == 1000
    assert stat.S_ISFIFO(os.lstat(tree / "srv/fifo").st_mode)


def test_uncompressed_commit_has_the_golden_digests(tmp_path: Path) -> None:
    tree = golden_tree(tmp_path / "tree")
    result = commit_golden(tree, f"oci:{tmp_path / 'layout'}:golden", "none")
    assert result.layer is not None
    assert result.layer.digest == result.diff_id  # no compression: the blob is the tar
    assert (str(result.diff_id), str(result.config_digest), str(result.digest)) == (
        GOLDEN_DIFF_ID,
        GOLDEN_CONFIG,
        GOLDEN_MANIFEST,
    )


@pytest.mark.parametrize("umask", [0o077, 0o000])
def test_golden_digests_do_not_depend_on_the_umask_or_the_path(tmp_path: Path, umask: int) -> None:
    old_umask = os.umask(umask)
    try:
        tree = golden_tree(tmp_path / "elsewhere" / f"tree-{umask:o}")
    finally:
        os.umask(old_umask)
    result = commit_golden(tree, f"oci:{tmp_path / 'l'}:g", "none")
    assert (str(result.diff_id), str(result.digest)) == (GOLDEN_DIFF_ID, GOLDEN_MANIFEST)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_layers_have_the_golden_diff_id_and_stable_blobs(tmp_path: Path, compression: str) -> None:
    tree = golden_tree(tmp_path / "tree")
    results = [commit_golden(tree, f"oci:{tmp_path / f'l{i}'}:g", compression) for i in range(2)]
    assert {str(r.diff_id) for r in results} == {GOLDEN_DIFF_ID}
    assert len({r.digest for r in results}) == 1
    assert results[0].layer is not None and results[0].layer.digest != results[0].diff_id


def test_zstd_blob_does_not_depend_on_the_thread_count(tmp_path: Path) -> None:
    tree = golden_tree(tmp_path / "tree")
    actions = TreeScanner(str(tree), base=None, clamp=TS, devices=False).scan()
    names = OwnerNames.from_root(str(tree))
    blobs = {}
    for threads in (1, 4):
        stored: list[bytes] = []

        def consume(stream: io.RawIOBase, stored: list[bytes] = stored) -> Descriptor:
            data = stream.read()
            assert data is not None
            stored.append(data)
            return Descriptor("application/octet-stream", digest_bytes(data), len(data))

        result = stream_layer(actions, consume, names=names, clamp=TS, compression="zstd", threads=threads)
        assert str(result.diff_id) == GOLDEN_DIFF_ID
        blobs[threads] = stored[0]
    assert len(blobs[1]) > 0 and blobs[1] == blobs[4]
