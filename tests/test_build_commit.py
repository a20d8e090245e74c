"""``commit`` end to end through real transports: round trips, base diffs, reproducibility, formats, CLI."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lighter import mediatype as mt
from lighter.build import commit, unpack
from lighter.errors import InvalidChangeError, RootfsError, UnsupportedCompressionError
from lighter.manifest import parse_config, parse_manifest
from lighter.transports import parse_image_name
from lighter.validate import check_image
from tests.test_build_helpers import hardlink_groups, layer_names, make_tree, snapshot

TS = 1_700_000_000


def _config(name: str) -> dict[str, Any]:
    with parse_image_name(name).new_source() as source:
        raw, media_type = source.manifest()
        manifest = parse_manifest(raw, media_type)
        return dict(parse_config(source.blob_bytes(manifest.config)).data)  # type: ignore[union-attr]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_commit_then_unpack_gives_the_same_tree(tmp_path: Path, compression: str) -> None:
    tree = make_tree(tmp_path / "tree")
    name = f"oci:{tmp_path / 'layout'}:app"
    result = commit(tree, name, compression=compression, timestamp=TS)
    report = check_image(name)
    assert report.manifests == [result.digest]
    assert result.layer is not None and result.layer.media_type == mt.layer_type(True, compression)  # type: ignore[arg-type]
    unpack(name, tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(tree)
    assert hardlink_groups(tmp_path / "out") == hardlink_groups(tree)


def test_layer_is_sorted_with_parents_first(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    commit(tree, f"oci:{tmp_path / 'layout'}:app", compression="gzip", timestamp=TS)
    names = layer_names(tmp_path / "layout", "app")
    stripped = [n.rstrip("/") for n in names]
    assert stripped == sorted(stripped, key=lambda n: [os.fsencode(p) for p in n.split("/")])
    assert names.index("usr") < names.index("usr/bin") < names.index("usr/bin/tool")


def test_same_tree_same_timestamp_same_bytes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    copy = make_tree(tmp_path / "copy")  # another tree with the same content, other inodes and times
    for path in (tree, copy):
        for dirpath, dirnames, filenames in os.walk(path):
            for n in dirnames + filenames:
                os.utime(os.path.join(dirpath, n), (TS + 100, TS + 100), follow_symlinks=False)
    results = []
    for i, root in enumerate((tree, copy, tree)):
        for compression in ("gzip", "zstd"):
            layout = tmp_path / f"layout-{i}-{compression}"
            results.append((compression, commit(root, f"oci:{layout}:x", compression=compression, timestamp=TS)))
    for compression in ("gzip", "zstd"):
        same = [r for c, r in results if c == compression]
        assert len({r.digest for r in same}) == 1
        assert len({r.manifest.raw for r in same}) == 1
    blobs = {p.name for p in (tmp_path / "layout-0-gzip" / "blobs" / "sha256").iterdir()}
    assert blobs == {p.name for p in (tmp_path / "layout-1-gzip" / "blobs" / "sha256").iterdir()}


def test_timestamp_clamps_mtimes_and_sets_created(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    old = tree / "etc" / "passwd"
    os.utime(old, (1000, 1000))
    name = f"oci:{tmp_path / 'layout'}:x"
    commit(tree, name, timestamp=TS, author="Jane", message="first", created_by="lighter test")
    config = _config(name)
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["author"] == "Jane"
    assert config["history"] == [
        {"created": "2023-11-14T22:13:20Z", "created_by": "lighter test", "author": "Jane", "comment": "first"}
    ]
    unpack(name, tmp_path / "out")
    assert os.lstat(tmp_path / "out" / "etc" / "passwd").st_mtime == 1000
    assert os.lstat(tmp_path / "out" / "usr" / "bin" / "tool").st_mtime == TS


def _edit_tree(root: Path) -> None:
    """Delete a file, replace a directory's whole content, change, add, retype."""
    (root / "etc" / "group").unlink()
    shutil.rmtree(root / "home" / "app")
    (root / "home" / "app").mkdir()
    (root / "home" / "app" / "new.txt").write_text("replaced\n")
    (root / "usr" / "bin" / "empty").write_text("now with content\n")
    (root / "dangling").unlink()
    (root / "dangling").mkdir()
    (root / "opt" / "added.txt").write_text("added\n")
    shutil.rmtree(root / "opt" / ("d" * 120))


def test_commit_from_base_writes_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    base = f"oci:{tmp_path / 'layout'}:base"
    base_result = commit(tree, base, timestamp=TS)
    unpack(base, tmp_path / "work")
    work = tmp_path / "work"
    _edit_tree(work)
    new = f"oci:{tmp_path / 'layout'}:new"
    result = commit(work, new, base=base, timestamp=TS, message="second")
    check_image(new)
    assert result.manifest.layers[0] == base_result.manifest.layers[0]
    names = layer_names(tmp_path / "layout", "new")
    assert "etc/.wh.group" in names
    assert "home/app/.wh..wh..opq" in names
    assert f"opt/.wh.{'d' * 120}" in names
    assert "usr/bin/empty" in names and "opt/added.txt" in names
    assert "usr/bin/tool" not in names and "etc/passwd" not in names  # unchanged files stay in the base
    assert names.index("home/app") < names.index("home/app/.wh..wh..opq") < names.index("home/app/new.txt")
    unpack(new, tmp_path / "again")
    assert snapshot(tmp_path / "again") == snapshot(work)
    config = _config(new)
    assert len(config["rootfs"]["diff_ids"]) == 2 and len(config["history"]) == 2


def test_unchanged_tree_adds_an_empty_layer_history_entry(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    base = f"oci:{tmp_path / 'layout'}:base"
    commit(tree, base, timestamp=TS)
    unpack(base, tmp_path / "work")
    new = f"oci:{tmp_path / 'layout'}:new"
    result = commit(tmp_path / "work", new, base=base, timestamp=TS, changes=["ENV A=1"])
    assert result.layer is None and len(result.manifest.layers) == 1
    config = _config(new)
    assert config["history"][-1]["empty_layer"] is True
    assert config["config"]["Env"] == ["A=1"]
    check_image(new)


def test_docker_format_and_base_from_another_transport(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    base = f"oci:{tmp_path / 'layout'}:base"
    commit(tree, base, timestamp=TS, changes=['CMD ["/usr/bin/tool"]', "EXPOSE 8080"])
    unpack(base, tmp_path / "work")
    (tmp_path / "work" / "etc" / "motd").write_text("hi\n")
    dest = f"dir:{tmp_path / 'dir-image'}"
    result = commit(tmp_path / "work", dest, base=base, format="docker", timestamp=TS)
    assert result.manifest.media_type == mt.DOCKER_MANIFEST
    assert [layer.media_type for layer in result.manifest.layers] == [mt.DOCKER_LAYER_GZIP] * 2
    config = _config(dest)
    assert config["config"]["Cmd"] == ["/usr/bin/tool"]
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    check_image(dest)
    unpack(dest, tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "work")


def test_refusals(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    with pytest.raises(UnsupportedCompressionError, match="xz"):
        commit(tree, f"oci:{tmp_path / 'l'}:x", compression="xz")
    with pytest.raises(UnsupportedCompressionError, match="bzip2"):
        commit(tree, f"oci:{tmp_path / 'l'}:x", compression="bzip2")
    with pytest.raises(UnsupportedCompressionError, match="Docker"):
        commit(tree, f"oci:{tmp_path / 'l'}:x", compression="zstd", format="docker")
    with pytest.raises(InvalidChangeError, match="RUN"):
        commit(tree, f"oci:{tmp_path / 'l'}:x", changes=["RUN true"])
    (tree / "opt" / ".wh.sneaky").write_text("x")
    with pytest.raises(RootfsError, match=r"\.wh\."):
        commit(tree, f"oci:{tmp_path / 'l'}:x")
    with pytest.raises(RootfsError, match="expected a directory"):
        commit(tmp_path / "missing", f"oci:{tmp_path / 'l'}:x")
    index = tmp_path / "l" / "index.json"
    assert not index.exists() or json.loads(index.read_text())["manifests"] == []


def test_cli_commit_is_reproducible_with_source_date_epoch(tmp_path: Path, run_lighter: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path / "tree")
    env = {"SOURCE_DATE_EPOCH": str(TS)}
    digests = []
    for i in range(2):
        out = run_lighter(
            "commit", str(tree), f"oci:{tmp_path / f'layout{i}'}:x", "-c", "ENV A=1", "--compress", "zstd", env=env
        )
        assert out.returncode == 0, out.stderr
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1] and digests[0].startswith("sha256:")
    index0 = json.loads((tmp_path / "layout0" / "index.json").read_text())
    assert index0["manifests"][0]["digest"] == digests[0]
    out = run_lighter("unpack", f"oci:{tmp_path / 'layout0'}:x", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert snapshot(tmp_path / "out") == snapshot(tree)
    out = run_lighter("commit", str(tree), f"oci:{tmp_path / 'l'}:x", "--compress", "xz")
    assert out.returncode == 1 and out.stderr.startswith("lighter: error:") and "xz" in out.stderr


def test_store_destination_and_base(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    store = f"store:[{tmp_path / 'store'}]"
    commit(tree, f"{store}app:base", timestamp=TS)
    unpack(f"{store}app:base", tmp_path / "work")
    (tmp_path / "work" / "etc" / "passwd").unlink()
    result = commit(tmp_path / "work", f"{store}app:new", base=f"{store}app:base", timestamp=TS)
    check_image(f"{store}app:new")
    unpack(f"{store}app:new", tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "work")
    assert result.layer is not None


def test_a_refusal_found_while_the_layer_is_written_leaves_nothing(tmp_path: Path) -> None:
    """The walk runs as the layer is written: a bad name late in the tree still ends the commit cleanly."""
    tree = make_tree(tmp_path / "tree")
    (tree / "zzz" / "deep").mkdir(parents=True)
    (tree / "aaa-big").write_bytes(os.urandom(3 << 20))  # a few chunks are through before the walk gets there
    (tree / "zzz" / "deep" / ".wh.late").write_text("x")
    layout = tmp_path / "fresh"
    with pytest.raises(RootfsError, match=r"zzz/deep/\.wh\.late"):
        commit(tree, f"oci:{layout}:x", compression="zstd")
    assert not layout.exists() or not [p for p in layout.rglob("*") if p.is_file()]
