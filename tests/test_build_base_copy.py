"""``commit --from`` a registry base: each base layer is downloaded once, even when the destination lacks it.

The base's layers are read to index the base's file system; a destination
that does not have them gets them copied from that same read (``basecopy``),
not from a second download.  The registry is the real one of
``tests/fixtures_registry.py``; its access log counts the GETs.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from lighter.build import commit, unpack
from lighter.errors import UnsafeLayerError
from lighter.validate import check_image
from tests.fixtures_registry import RegistryServer
from tests.test_build_helpers import add_member, layer_tar, make_tree, snapshot, write_layers_image

TS = 1_700_000_000


def _blob_gets(registry: RegistryServer, since: int, digest: object) -> int:
    return sum(1 for e in registry.requests(since) if e.method == "GET" and e.path.endswith(f"/blobs/{digest}"))


def _two_layer_base(tmp_path: Path, registry: RegistryServer, repo: str) -> str:
    """A base of two layers in the registry (a commit on a commit)."""
    base = registry.ref(f"{repo}:base")
    first = make_tree(tmp_path / "first")
    commit(first, registry.ref(f"{repo}:first"), timestamp=TS, dest_options=registry.options())
    unpack(registry.ref(f"{repo}:first"), tmp_path / "second", options=registry.options())
    (tmp_path / "second" / "etc" / "hostname").write_text("second\n")
    commit(
        tmp_path / "second",
        base,
        base=registry.ref(f"{repo}:first"),
        timestamp=TS,
        base_options=registry.options(),
        dest_options=registry.options(),
    )
    return base


@pytest.mark.parametrize("dest_kind", ["oci", "registry"])
def test_base_layers_are_downloaded_once(
    tmp_path: Path, registry: RegistryServer, repo_name: str, dest_kind: str
) -> None:
    base = _two_layer_base(tmp_path, registry, repo_name)
    work = tmp_path / "work"
    unpack(base, work, options=registry.options())
    (work / "etc" / "motd").write_text("third layer\n")
    dest = f"oci:{tmp_path / 'layout'}:x" if dest_kind == "oci" else registry.ref(f"{repo_name}-other:x")
    mark = registry.log_mark()
    result = commit(
        work, dest, base=base, timestamp=TS, base_options=registry.options(), dest_options=registry.options()
    )
    base_layers = result.manifest.layers[:2]
    assert [_blob_gets(registry, mark, layer.digest) for layer in base_layers] == [1, 1]
    if dest_kind == "registry":
        assert registry.blob_upload_count(mark, f"{repo_name}-other") + registry.mount_count(mark) >= 2
    report = check_image(dest, options=registry.options()) if dest_kind == "registry" else check_image(dest)
    assert result.digest in report.manifests
    unpack(dest, tmp_path / "out", options=registry.options())
    assert snapshot(tmp_path / "out") == snapshot(work)


def test_base_layers_the_destination_has_are_not_copied(
    tmp_path: Path, registry: RegistryServer, repo_name: str
) -> None:
    base = _two_layer_base(tmp_path, registry, repo_name)
    work = tmp_path / "work"
    unpack(base, work, options=registry.options())
    (work / "etc" / "motd").write_text("third layer\n")
    mark = registry.log_mark()
    commit(
        work,
        registry.ref(f"{repo_name}:derived"),
        base=base,
        timestamp=TS,
        base_options=registry.options(),
        dest_options=registry.options(),
    )
    assert registry.blob_upload_count(mark, repo_name) == 2  # the new layer and the config: no base layer


def test_a_base_layer_refused_while_copied_leaves_no_blob(tmp_path: Path) -> None:
    """The copy runs beside the indexing: when the layer is refused, the copy is abandoned, never stored."""
    big = os.urandom(8 * 1024 * 1024)  # the refusal comes long before the end of the blob

    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "../escape", b"x", mode=0o644)
        add_member(tar, "big.bin", big, mode=0o644)

    base = write_layers_image(tmp_path / "base", "evil", [layer_tar(build)])
    layer_blob = next(
        p.name for p in (tmp_path / "base" / "blobs" / "sha256").iterdir() if p.stat().st_size > 1024 * 1024
    )
    (tmp_path / "tree").mkdir()
    with pytest.raises(UnsafeLayerError, match="component"):
        commit(tmp_path / "tree", f"oci:{tmp_path / 'dest'}:x", base=base)
    blobs = tmp_path / "dest" / "blobs" / "sha256"
    left = sorted(p.name for p in blobs.iterdir()) if blobs.exists() else []
    assert layer_blob not in left
    assert all(len(name) == 64 for name in left), f"temporary files left: {left}"
    assert not (tmp_path / "dest" / "index.json").exists()
