"""Interop with umoci and skopeo: the same images give the same trees.

* ``umoci unpack`` of a lighter-committed image (with and without a base,
  whiteouts included) equals ``lighter unpack`` of it, and the tree committed;
* ``lighter unpack`` of images umoci made (``repack``, two layers with a
  deletion) and of images skopeo converted and copied equals umoci's unpack.

Trees are compared by ``snapshot``: names, types, modes, owners, sizes,
contents, link targets, device numbers and xattrs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lighter.build import commit, unpack
from tests.test_build_helpers import hardlink_groups, make_tree, snapshot

pytestmark = pytest.mark.interop  # umoci and skopeo come from `make debs`; the tests run as root, as CI does
TS = 1_700_000_000


def _umoci(run_tool: Callable[..., Any], *args: str) -> None:
    out = run_tool("umoci", *args)
    assert out.returncode == 0, out.stderr


def _umoci_rootfs(run_tool: Callable[..., Any], layout: Path, tag: str, bundle: Path) -> Path:
    _umoci(run_tool, "unpack", "--image", f"{layout}:{tag}", str(bundle))
    return bundle / "rootfs"


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_umoci_unpacks_lighter_commits_identically(
    tmp_path: Path, run_tool: Callable[..., Any], compression: str
) -> None:
    tree = make_tree(tmp_path / "tree", devices=True)
    layout = tmp_path / "layout"
    commit(tree, f"oci:{layout}:base", compression=compression, timestamp=TS, devices=True)
    umoci_root = _umoci_rootfs(run_tool, layout, "base", tmp_path / "bundle")
    unpack(f"oci:{layout}:base", tmp_path / "lighter", devices=True)
    assert snapshot(umoci_root) == snapshot(tmp_path / "lighter") == snapshot(tree)
    assert hardlink_groups(umoci_root) == hardlink_groups(tree)


def test_umoci_applies_lighter_whiteouts_identically(tmp_path: Path, run_tool: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path / "tree")
    layout = tmp_path / "layout"
    commit(tree, f"oci:{layout}:base", timestamp=TS)
    work = tmp_path / "work"
    unpack(f"oci:{layout}:base", work)
    (work / "etc" / "group").unlink()
    shutil.rmtree(work / "home" / "app")
    (work / "home" / "app").mkdir()
    (work / "home" / "app" / "fresh").write_text("new content\n")
    (work / "bin").unlink()
    (work / "bin").mkdir()
    (work / "bin" / "sh").write_text("not a symlink any more\n")
    os.chmod(work / "usr" / "bin" / "tool", 0o755)
    commit(work, f"oci:{layout}:next", base=f"oci:{layout}:base", timestamp=TS)
    umoci_root = _umoci_rootfs(run_tool, layout, "next", tmp_path / "bundle")
    unpack(f"oci:{layout}:next", tmp_path / "lighter")
    assert snapshot(umoci_root) == snapshot(tmp_path / "lighter") == snapshot(work)


def _umoci_image(run_tool: Callable[..., Any], tmp_path: Path) -> Path:
    """A two-layer image made by umoci: a full tree, then deletions and changes (whiteouts)."""
    layout = tmp_path / "umoci-layout"
    _umoci(run_tool, "init", "--layout", str(layout))
    _umoci(run_tool, "new", "--image", f"{layout}:img")
    bundle = tmp_path / "umoci-bundle"
    _umoci(run_tool, "unpack", "--image", f"{layout}:img", str(bundle))
    make_tree(bundle / "rootfs" / "srv", devices=True)
    _umoci(run_tool, "repack", "--image", f"{layout}:img", str(bundle))
    shutil.rmtree(bundle / "rootfs" / "srv" / "home")
    (bundle / "rootfs" / "srv" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (bundle / "rootfs" / "srv" / "fifo").unlink()
    _umoci(run_tool, "repack", "--image", f"{layout}:img", str(bundle))
    return layout


def test_lighter_unpacks_umoci_images_identically(tmp_path: Path, run_tool: Callable[..., Any]) -> None:
    layout = _umoci_image(run_tool, tmp_path)
    umoci_root = _umoci_rootfs(run_tool, layout, "img", tmp_path / "check")
    unpack(f"oci:{layout}:img", tmp_path / "lighter", devices=True)
    assert snapshot(tmp_path / "lighter") == snapshot(umoci_root)
    assert not (tmp_path / "lighter" / "srv" / "home").exists()


@pytest.mark.parametrize("dest_format", ["oci", "v2s2"])
def test_lighter_unpacks_skopeo_copies_identically(
    tmp_path: Path, run_tool: Callable[..., Any], dest_format: str
) -> None:
    layout = _umoci_image(run_tool, tmp_path)
    copied = tmp_path / "copied"
    out = run_tool("skopeo", "copy", "--format", dest_format, f"oci:{layout}:img", f"dir:{copied}")
    assert out.returncode == 0, out.stderr
    umoci_root = _umoci_rootfs(run_tool, layout, "img", tmp_path / "check")
    unpack(f"dir:{copied}", tmp_path / "lighter", devices=True)
    assert snapshot(tmp_path / "lighter") == snapshot(umoci_root)


def test_lighter_unpacks_skopeo_docker_archive(tmp_path: Path, run_tool: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path / "tree")
    layout = tmp_path / "layout"
    commit(tree, f"oci:{layout}:app", timestamp=TS)
    archive = tmp_path / "app.tar"
    out = run_tool("skopeo", "copy", f"oci:{layout}:app", f"docker-archive:{archive}:app:latest")
    assert out.returncode == 0, out.stderr
    unpack(f"docker-archive:{archive}", tmp_path / "lighter")
    assert snapshot(tmp_path / "lighter") == snapshot(tree)
    # skopeo reads what lighter wrote, too
    out = subprocess.run(
        ["skopeo", "inspect", f"oci:{layout}:app"], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
