"""`lighter copy` of a manifest list that skopeo pushed to a real registry (issue 3's acceptance).

The list is what real registries hold: amd64, arm64 and arm/v7 images plus
a buildx-style attestation (``unknown/unknown``, an in-toto layer) for the
amd64 one, written to ``dir:`` and pushed with ``skopeo copy --all``.
Everything lighter does here runs through its CLI; what it writes is read
back with skopeo, and where skopeo can do the same copy its output is the
reference.  A registry refusing a sparse list is distribution 2.8 itself
(it answers ``MANIFEST_BLOB_UNKNOWN``); other refusals come from the fault
proxy.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lighter import mediatype as mt
from lighter.digest import Digest, digest_bytes
from lighter.manifest import Descriptor, Index, build_image_manifest, build_index
from lighter.platform import parse_platform
from lighter.testing.random import generate_image
from lighter.transports import ImageDestination, parse_image_name
from tests.faultproxy import FaultProxy
from tests.fixtures_images import RunResult, run_command
from tests.fixtures_registry import RegistryServer

Run = Callable[..., RunResult]
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")
SLSA = "https://slsa.dev/provenance/v0.2"


@dataclass(frozen=True)
class PushedList:
    ref: str
    index: Index
    instances: dict[str, bytes]  # platform ("unknown/unknown" for the attestation) → manifest bytes

    def digest_of(self, platform: str) -> Digest:
        return digest_bytes(self.instances[platform])


def _put_attestation(dest: ImageDestination, subject: Digest) -> Descriptor:
    """An attestation manifest as buildx writes it: an in-toto statement about ``subject``."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": SLSA}).encode()
    layer = Descriptor(
        mt.IN_TOTO, digest_bytes(statement), len(statement), annotations={"in-toto.io/predicate-type": SLSA}
    )
    config_raw = json.dumps(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(layer.digest)]},
        },
        separators=(",", ":"),
    ).encode()
    config = Descriptor(mt.OCI_CONFIG, digest_bytes(config_raw), len(config_raw))
    dest.put_blob(io.BytesIO(statement), layer)
    dest.put_blob(io.BytesIO(config_raw), config)
    manifest = build_image_manifest(config, [layer])
    dest.put_manifest(manifest.raw, manifest.media_type, instance=manifest.digest)
    annotations = {"vnd.docker.reference.digest": str(subject), "vnd.docker.reference.type": "attestation-manifest"}
    return Descriptor(
        manifest.media_type,
        manifest.digest,
        len(manifest.raw),
        platform=parse_platform("unknown/unknown"),
        annotations=annotations,
    )


def _write_list(path: Path) -> tuple[Index, dict[str, bytes]]:
    instances: dict[str, bytes] = {}
    descriptors = []
    with parse_image_name(f"dir:{path}").new_destination() as dest:
        for platform in PLATFORMS:
            manifest, config, layers = generate_image(platform=platform, layer_sizes=(1500, 20_000), seed=21)
            dest.put_blob(io.BytesIO(config.raw), manifest.config)
            for layer in layers:
                dest.put_blob(io.BytesIO(layer.blob), layer.descriptor)
            dest.put_manifest(manifest.raw, manifest.media_type, instance=manifest.digest)
            instances[platform] = manifest.raw
            descriptors.append(
                Descriptor(manifest.media_type, manifest.digest, len(manifest.raw), platform=parse_platform(platform))
            )
        attestation = _put_attestation(dest, descriptors[0].digest)
        index = build_index([*descriptors, attestation])
        dest.put_manifest(index.raw, index.media_type)
        dest.commit()
    instances["unknown/unknown"] = (path / f"{attestation.digest.hex}.manifest.json").read_bytes()
    return index, instances


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer) -> Iterator[PushedList]:
    gen = tmp_path_factory.mktemp("skopeo-list") / "gen"
    index, instances = _write_list(gen)
    ref = registry.ref(f"skopeo-list/src-{uuid.uuid4().hex[:8]}:t")
    pushed = run_command(["skopeo", "copy", "-q", "--all", *registry.skopeo_args("dest"), f"dir:{gen}", ref])
    assert pushed.returncode == 0, pushed.stderr
    yield PushedList(ref, index, instances)


def _ok(result: RunResult) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _one_line_error(result: RunResult) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lighter: error: "), result.stderr
    return lines[0]


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _raw(run_tool: Run, registry: RegistryServer, ref: str) -> bytes:
    return _ok(run_tool("skopeo", "inspect", "--raw", *registry.skopeo_args(), ref)).encode()


def test_skopeo_pushed_the_whole_list(pushed: PushedList, registry: RegistryServer, run_tool: Run) -> None:
    """The starting point the other tests rely on, attestation included."""
    assert _raw(run_tool, registry, pushed.ref) == pushed.index.raw
    repo = pushed.ref.rpartition(":")[0]
    attestation = pushed.digest_of("unknown/unknown")
    assert _raw(run_tool, registry, f"{repo}@{attestation}") == pushed.instances["unknown/unknown"]


def test_all_platforms_rows_of_the_pushed_list(pushed: PushedList, registry: RegistryServer, run_lighter: Run) -> None:
    rows = json.loads(_ok(run_lighter("inspect", "--all-platforms", *registry.lighter_args(), pushed.ref)))
    assert [r["Platform"] for r in rows] == [*PLATFORMS, "unknown/unknown"]
    for row in rows:
        manifest = pushed.instances[row["Platform"]]
        assert (row["Digest"], row["Size"], row["MediaType"]) == (
            str(digest_bytes(manifest)),
            len(manifest),
            mt.OCI_MANIFEST,
        )
    assert [r["Compression"] for r in rows[:3]] == ["gzip"] * 3


def test_index_only_to_dir_writes_only_the_list(
    pushed: PushedList, registry: RegistryServer, tmp_path: Path, run_lighter: Run, run_tool: Run
) -> None:
    src = registry.lighter_args("src")
    _ok(run_lighter("copy", "-q", "--multi-arch", "index-only", *src, pushed.ref, f"dir:{tmp_path / 'ours'}"))
    assert sorted(_files(tmp_path / "ours")) == ["manifest.json", "version"]
    assert (tmp_path / "ours" / "manifest.json").read_bytes() == pushed.index.raw
    theirs = tmp_path / "theirs"
    _ok(
        run_tool(
            "skopeo",
            "copy",
            "-q",
            "--multi-arch",
            "index-only",
            *registry.skopeo_args("src"),
            pushed.ref,
            f"dir:{theirs}",
        )
    )
    assert _files(tmp_path / "ours") == _files(theirs)


def test_index_only_to_a_registry_lacking_the_instances_is_refused_clearly(
    pushed: PushedList, registry: RegistryServer, repo_name: str, run_lighter: Run, run_tool: Run
) -> None:
    dst = registry.ref(f"{repo_name}:t")
    sides = [*registry.lighter_args("src"), *registry.lighter_args("dest")]
    line = _one_line_error(run_lighter("copy", "-q", "--multi-arch", "index-only", *sides, pushed.ref, dst))
    assert "MANIFEST_BLOB_UNKNOWN" in line and "copy them first with --all" in line
    assert run_tool("skopeo", "inspect", "--raw", *registry.skopeo_args(), dst).returncode != 0
    # once the destination holds every instance, index-only writes the list there
    _ok(run_lighter("copy", "-q", "--all", *sides, pushed.ref, registry.ref(f"{repo_name}:full")))
    _ok(run_lighter("copy", "-q", "--multi-arch", "index-only", *sides, pushed.ref, dst))
    assert _raw(run_tool, registry, dst) == pushed.index.raw


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param((), id="system"),
        pytest.param(("--override-arch", "arm64"), id="arm64"),
        pytest.param(("--override-arch", "arm", "--override-variant", "v7"), id="arm-v7"),
    ],
)
def test_system_and_override_pick_what_skopeo_picks(
    flags: tuple[str, ...],
    pushed: PushedList,
    registry: RegistryServer,
    tmp_path: Path,
    run_lighter: Run,
    run_tool: Run,
) -> None:
    _ok(run_lighter("copy", "-q", *flags, *registry.lighter_args("src"), pushed.ref, f"dir:{tmp_path / 'ours'}"))
    _ok(
        run_tool("skopeo", "copy", "-q", *flags, *registry.skopeo_args("src"), pushed.ref, f"dir:{tmp_path / 'theirs'}")
    )
    ours = _files(tmp_path / "ours")
    assert ours == _files(tmp_path / "theirs")
    assert ours["manifest.json"] in pushed.instances.values()
    assert ours["manifest.json"] != pushed.instances["unknown/unknown"]


def test_override_arch_arm64_copies_the_arm64_instance(
    pushed: PushedList, registry: RegistryServer, tmp_path: Path, run_lighter: Run
) -> None:
    args = ("--override-arch", "arm64", *registry.lighter_args("src"), pushed.ref, f"dir:{tmp_path / 'ours'}")
    _ok(run_lighter("copy", "-q", *args))
    assert (tmp_path / "ours" / "manifest.json").read_bytes() == pushed.instances["linux/arm64"]


def test_all_copies_every_instance_and_keeps_the_list_digest(
    pushed: PushedList, registry: RegistryServer, repo_name: str, tmp_path: Path, run_lighter: Run, run_tool: Run
) -> None:
    dst = registry.ref(f"{repo_name}:t")
    _ok(
        run_lighter(
            "copy", "-q", "--all", *registry.lighter_args("src"), *registry.lighter_args("dest"), pushed.ref, dst
        )
    )
    raw = _raw(run_tool, registry, dst)
    assert raw == pushed.index.raw
    (tmp_path / "list.json").write_bytes(raw)
    assert _ok(run_tool("skopeo", "manifest-digest", str(tmp_path / "list.json"))).strip() == str(pushed.index.digest)
    repo = dst.rpartition(":")[0]
    for platform, manifest in pushed.instances.items():
        assert _raw(run_tool, registry, f"{repo}@{digest_bytes(manifest)}") == manifest, platform
    # and skopeo can copy every instance's blobs back out
    _ok(run_tool("skopeo", "copy", "-q", "--all", *registry.skopeo_args("src"), dst, f"dir:{tmp_path / 'back'}"))
    assert (tmp_path / "back" / "manifest.json").read_bytes() == pushed.index.raw


# -- the sparse-list hint (only when a sparse list is refused for naming what the registry lacks) ----------


def test_sparse_list_refused_by_the_registry_suggests_strip(
    pushed: PushedList, registry: RegistryServer, repo_name: str, run_lighter: Run, run_tool: Run
) -> None:
    dst = registry.ref(f"{repo_name}:t")
    sides = [*registry.lighter_args("src"), *registry.lighter_args("dest")]
    line = _one_line_error(run_lighter("copy", "-q", "--platform", "linux/arm64", *sides, pushed.ref, dst))
    assert "MANIFEST_BLOB_UNKNOWN" in line and "use --strip-removed-platforms" in line
    _ok(run_lighter("copy", "-q", "--platform", "linux/arm64", "--strip-removed-platforms", *sides, pushed.ref, dst))
    arm64 = str(pushed.digest_of("linux/arm64"))
    source_entries = json.loads(pushed.index.raw)["manifests"]
    assert json.loads(_raw(run_tool, registry, dst))["manifests"] == [m for m in source_entries if m["digest"] == arm64]


@pytest.mark.parametrize(
    "selection",
    [pytest.param(("--all",), id="all"), pytest.param(("--platform", "linux/arm64"), id="sparse")],
)
def test_other_refusals_of_the_list_carry_no_sparse_hint(
    selection: tuple[str, ...],
    pushed: PushedList,
    registry: RegistryServer,
    fault_proxy: Callable[[RegistryServer], FaultProxy],
    repo_name: str,
    run_lighter: Run,
) -> None:
    """A 401 for the list's PUT (after its instances went in) is about credentials, not sparseness."""
    proxy = fault_proxy(registry)
    proxy.fail(times=20, status=401, contains="/manifests/listtag", method="PUT")
    args = [
        *selection,
        *registry.lighter_args("src"),
        "--dest-tls-verify=false",
        pushed.ref,
        proxy.ref(f"{repo_name}:listtag"),
    ]
    line = _one_line_error(run_lighter("copy", "-q", *args))
    assert "authentication required" in line
    assert "--strip-removed-platforms" not in line and "--all" not in line
    assert proxy.count("PUT", "/manifests/listtag", status=401) >= 1
    assert proxy.count("PUT", "/manifests/sha256:", status=201) >= 1  # the instances were written first
