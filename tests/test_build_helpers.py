"""Helpers for the commit/unpack tests: a rich sample tree, tree snapshots, hostile images.

``snapshot(root)`` describes a tree the way the acceptance criteria compare
trees: names, types, modes, owners, sizes, contents, link targets, xattrs
(and device numbers).  mtimes are left out: extractors differ on directory
times, and the comparisons are about content.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from lighter import mediatype as mt
from lighter.compression import compressed
from lighter.digest import Digest, digest_bytes
from lighter.manifest import Descriptor, ImageConfig, build_image_manifest
from lighter.transports import parse_image_name

CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_bind_service+ep
IS_ROOT = os.geteuid() == 0


def _xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names if n != "security.selinux"))


def snapshot(root: str | Path) -> dict[str, tuple[Any, ...]]:
    """path → (type, mode, uid, gid, size, sha256 | link target | rdev, xattrs) for everything under root."""
    out: dict[str, tuple[Any, ...]] = {}
    base = str(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, base)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            detail: Any = None
            size = 0
            if stat.S_ISREG(st.st_mode):
                size = st.st_size
                detail = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                detail = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                detail = (os.major(st.st_rdev), os.minor(st.st_rdev))
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, detail, _xattrs(path))
    return out


def hardlink_groups(root: str | Path) -> list[list[str]]:
    """Paths sharing an inode (more than one name), sorted."""
    inodes: dict[int, list[str]] = {}
    for dirpath, _, filenames in os.walk(str(root)):
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(os.path.relpath(path, str(root)))
    return sorted(sorted(group) for group in inodes.values())


def make_tree(root: Path, *, devices: bool = False) -> Path:
    """A tree with every kind of entry a layer carries, odd names, owners, modes and xattrs."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    (root / "usr" / "bin").mkdir(parents=True)
    tool = root / "usr" / "bin" / "tool"
    tool.write_bytes(b"#!/bin/sh\necho tool\n" * 50)
    tool.chmod(0o4755)
    os.setxattr(tool, "security.capability", CAPABILITY)
    os.setxattr(tool, "user.note", b"hello")
    os.link(tool, root / "usr" / "bin" / "tool-link")
    (root / "usr" / "bin" / "empty").write_bytes(b"")
    (root / "bin").symlink_to("usr/bin")
    (root / "usr" / "bin" / "abs").symlink_to("/usr/bin/tool")
    (root / "dangling").symlink_to("nowhere/at/all")
    os.mkfifo(root / "fifo", 0o640)
    (root / "home" / "app").mkdir(parents=True)
    data = root / "home" / "app" / "data.bin"
    data.write_bytes(random.Random(0).randbytes(300_000))
    if IS_ROOT:
        os.chown(root / "home" / "app", 1000, 1000)
        os.chown(data, 1000, 1000)
        os.lchown(root / "dangling", 1000, 1000)
    (root / "readonly").mkdir(mode=0o555)
    (root / "opt" / "ünïcödé").mkdir(parents=True)
    (root / "opt" / "ünïcödé" / "fïlé.txt").write_text("non-ascii names\n")
    long_dir = root / "opt" / ("d" * 120)
    long_dir.mkdir()
    (long_dir / ("f" * 150)).write_text("long names need PAX records\n")
    (root / "readonly").chmod(0o555)
    if devices:
        os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return root


def layer_tar(build: Any) -> bytes:
    """A tar made by ``build(tarfile)`` (a callable adding members), as bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buffer.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes | None = None, **fields: Any) -> None:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def write_layers_image(
    layout: Path,
    tag: str,
    tars: list[bytes],
    *,
    compression: str = "gzip",
    diff_ids: list[Digest] | None = None,
    blobs: list[bytes] | None = None,
    config_fields: dict[str, Any] | None = None,
) -> str:
    """An OCI image of raw layer tars (hostile or not), written through the oci: transport; returns its name.

    ``config_fields`` are added to (or replace) the config's top-level fields, e.g. a ``history``.
    """
    name = f"oci:{layout}:{tag}"
    layer_blobs = (
        blobs
        if blobs is not None
        else [
            compressed(io.BytesIO(t), compression).read() if compression != "none" else t  # type: ignore[arg-type]
            for t in tars
        ]
    )
    ids = diff_ids if diff_ids is not None else [digest_bytes(t) for t in tars]
    config = ImageConfig(
        data={
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(d) for d in ids]},
            **(config_fields or {}),
        }
    )
    config_desc = Descriptor(mt.OCI_CONFIG, config.digest, len(config.raw))
    layer_descs = [
        Descriptor(mt.layer_type(True, compression), digest_bytes(b), len(b))  # type: ignore[arg-type]
        for b in layer_blobs
    ]
    with parse_image_name(name).new_destination() as dest:
        dest.put_blob(io.BytesIO(config.raw), config_desc)
        for blob, desc in zip(layer_blobs, layer_descs, strict=True):
            dest.put_blob(io.BytesIO(blob), desc)
        manifest = build_image_manifest(config_desc, layer_descs, oci=True)
        dest.put_manifest(manifest.raw, manifest.media_type)
        dest.commit()
    return name


def layer_names(layout: Path, tag: str, index: int = -1) -> list[str]:
    """The member names of one layer of an OCI layout image, in order."""
    index_json = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index_json["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_text())
    layer = manifest["layers"][index]
    with tarfile.open(layout / "blobs" / "sha256" / layer["digest"].split(":")[1]) as tar:
        return tar.getnames()


def test_snapshot_sees_every_attribute(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    before = snapshot(tree)
    assert before["usr/bin/tool"][1] == 0o4755
    assert ("security.capability", CAPABILITY) in before["usr/bin/tool"][6]
    assert before["bin"][5] == "usr/bin"
    assert hardlink_groups(tree) == [["usr/bin/tool", "usr/bin/tool-link"]]
    os.chmod(tree / "usr" / "bin" / "empty", 0o600)
    assert snapshot(tree) != before


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_write_layers_image_is_readable(tmp_path: Path, compression: str) -> None:
    tar = layer_tar(lambda t: add_member(t, "hello.txt", b"hi\n", mode=0o644))
    name = write_layers_image(tmp_path / "layout", "x", [tar], compression=compression)
    from lighter.validate import check_image

    report = check_image(name)
    assert len(report.blobs) == 2
