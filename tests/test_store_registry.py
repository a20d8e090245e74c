"""``store:`` round trips through a real registry: docker:// → store: → docker:// keeps every digest.

Both registry sides are read with skopeo (``inspect --raw``), so the bytes
compared are what a registry client sees, not what lighter thinks it wrote.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter import mediatype as mt
from lighter.digest import digest_bytes
from lighter.manifest import Index, parse_manifest
from lighter.store import Store, collect_garbage
from lighter.transports import TransportOptions
from lighter.validate import check_image
from tests.fixtures_images import make_oci_image, make_oci_index
from tests.fixtures_registry import RegistryServer, skopeo_raw

pytestmark = [pytest.mark.registry, pytest.mark.interop]

Run = Callable[..., subprocess.CompletedProcess[str]]


def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["skopeo", *args], capture_output=True, timeout=180, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def round_trip(run_lighter: Run, registry: RegistryServer, root: Path, src: str, dst: str, *flags: str) -> None:
    """``lighter copy`` registry → store:app:1 → registry, as a user types it."""
    for args in (
        (*registry.lighter_args("src"), registry.ref(src), "store:app:1"),
        (*registry.lighter_args("dest"), "store:app:1", registry.ref(dst)),
    ):
        ok(run_lighter("copy", "--root", str(root), *flags, *args))


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_single_image_round_trip_keeps_its_digest(
    registry: RegistryServer, repo_name: str, run_lighter: Run, tmp_path: Path, fmt: str
) -> None:
    make_oci_image(tmp_path / "in", "one", layer_sizes=(40_000, 3000, 10), seed=51)
    pushed = skopeo(
        "copy", f"--format={fmt}", *registry.skopeo_args("dest"), f"oci:{tmp_path / 'in'}:one", registry.ref(repo_name)
    )
    assert pushed.returncode == 0, pushed.stderr.decode()
    before = skopeo_raw(registry, repo_name)
    root = tmp_path / "store"
    round_trip(run_lighter, registry, root, repo_name, f"{repo_name}-back:1")
    after = skopeo_raw(registry, f"{repo_name}-back:1")
    assert after == before  # the very bytes, so the same digest
    assert parse_manifest(after).media_type == (mt.OCI_MANIFEST if fmt == "oci" else mt.DOCKER_MANIFEST)
    record = Store(str(root)).resolve("app:1")
    assert record.digest == digest_bytes(before) and not record.is_list
    check_image(registry.ref(f"{repo_name}-back:1"), registry.options())
    check_image("store:app:1", TransportOptions(store_root=str(root)))


def test_list_round_trip_with_all_keeps_every_digest(
    registry: RegistryServer, repo_name: str, run_lighter: Run, tmp_path: Path
) -> None:
    platforms = ("linux/amd64", "linux/arm64", "linux/arm/v7")
    made = make_oci_index(tmp_path / "in", "many", platforms=platforms, layer_sizes=(20_000, 500), seed=52)
    pushed = skopeo(
        "copy", "--all", *registry.skopeo_args("dest"), f"oci:{tmp_path / 'in'}:many", registry.ref(repo_name)
    )
    assert pushed.returncode == 0, pushed.stderr.decode()
    before = skopeo_raw(registry, repo_name)
    assert digest_bytes(before) == made.digest
    root = tmp_path / "store"
    round_trip(run_lighter, registry, root, repo_name, f"{repo_name}-back:1", "--all")
    after = skopeo_raw(registry, f"{repo_name}-back:1")
    assert after == before
    index = parse_manifest(after)
    assert isinstance(index, Index) and len(index.manifests) == len(platforms)
    for desc in index.manifests:
        instance = skopeo_raw(registry, f"{repo_name}-back@{desc.digest}")
        assert instance == skopeo_raw(registry, f"{repo_name}@{desc.digest}")
        assert digest_bytes(instance) == desc.digest
    store = Store(str(root))
    record = store.resolve("app:1")
    assert record.is_list and record.digest == made.digest
    assert collect_garbage(store, dry_run=True).removed == ()  # every instance is reached from the list
    check_image(registry.ref(f"{repo_name}-back:1"), registry.options())
