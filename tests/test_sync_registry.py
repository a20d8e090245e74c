"""``lighter sync`` against real registries (Debian's docker-registry) and checked against ``skopeo sync``.

Images are made with ``lighter.testing.random`` in an ``oci:`` layout and
pushed with lighter's copy.  Requests are counted from the destination
registry's access log (tests/fixtures_registry.py), so "the second run
moves no blob and reads no manifest" is observed on the wire, not assumed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lighter.copy import CopyOptions, copy_image
from lighter.digest import Digest
from lighter.manifest import ImageManifest, manifest_digest, parse_manifest
from lighter.sync import LedgerDestination
from lighter.transports import ImageDestination, parse_image_name
from tests.fixtures_images import RunResult, make_oci_image, make_oci_index
from tests.fixtures_registry import RegistryServer, requires_registry

pytestmark = [requires_registry, pytest.mark.registry]

TAGS = ("t1", "t2", "t3", "t4", "t5")
WRITES = ("PUT", "POST", "PATCH", "DELETE")


def _push_tags(tmp_path: Path, server: RegistryServer, repo: str, tags: tuple[str, ...] = TAGS) -> dict[str, Digest]:
    """One random image per tag (distinct layers), pushed with lighter's copy; tag -> manifest digest."""
    layout = tmp_path / "layout"
    digests: dict[str, Digest] = {}
    for i, tag in enumerate(tags):
        make_oci_image(layout, tag, layer_sizes=(2048, 512), seed=100 + i)
        result = copy_image(f"oci:{layout}:{tag}", f"{server.ref(repo)}:{tag}", dst_options=server.options())
        digests[tag] = result.digest
    return digests


def _sync(run_lighter: Callable[..., RunResult], *args: str) -> RunResult:
    return run_lighter("sync", "--src-tls-verify=false", "--dest-tls-verify=false", *args)


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _statuses(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(img["destination"].rsplit(":", 1)[-1], img["status"]) for img in report["images"]]


def _dest_digest(run_tool: Callable[..., RunResult], ref: str) -> str:
    raw = run_tool("skopeo", "inspect", "--raw", "--tls-verify=false", ref)
    assert raw.returncode == 0, raw.stderr
    return str(manifest_digest(raw.stdout.encode()))


def _last(repo: str) -> str:
    return repo.rsplit("/", 1)[-1]


# -- idempotency -------------------------------------------------------------------


def test_sync_twice_second_run_moves_nothing(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
    run_tool: Callable[..., RunResult],
) -> None:
    dest = registry_factory()
    digests = _push_tags(tmp_path, registry, repo_name)
    source = f"{registry.host}/{repo_name}"
    report_file = tmp_path / "first.json"

    first = _sync(
        run_lighter, "--src", "docker", "--dest", "docker", source, f"{dest.host}/mirror", "--report", str(report_file)
    )
    assert first.returncode == 0, first.stderr
    assert "copied 5, skipped 0, failed 0" in first.stdout
    report = _report(report_file)
    assert _statuses(report) == [(tag, "copied") for tag in TAGS]
    assert dest.blob_upload_count() == 5 * 3  # config + 2 layers per image, each once
    for tag in TAGS:
        copied = f"docker://{dest.host}/mirror/{_last(repo_name)}:{tag}"
        assert _dest_digest(run_tool, copied) == str(digests[tag])

    dest_mark, src_mark = dest.log_mark(), registry.log_mark()
    report_file = tmp_path / "second.json"
    second = _sync(
        run_lighter, "--src", "docker", "--dest", "docker", source, f"{dest.host}/mirror", "--report", str(report_file)
    )
    assert second.returncode == 0, second.stderr
    assert "copied 0, skipped 5, failed 0" in second.stdout
    report = _report(report_file)
    assert _statuses(report) == [(tag, "skipped") for tag in TAGS]
    assert {img["reason"] for img in report["images"]} == {"up to date"}
    assert [img["digest"] for img in report["images"]] == [str(digests[t]) for t in TAGS]

    dest_requests = dest.requests(dest_mark)
    assert dest.blob_upload_count(dest_mark) == 0
    assert not [r for r in dest_requests if r.method in WRITES or "/blobs/" in r.path]
    assert sorted(r.path for r in dest_requests if "/manifests/" in r.path) == sorted(
        f"/v2/mirror/{_last(repo_name)}/manifests/{tag}" for tag in TAGS
    )
    assert {r.method for r in dest_requests if "/manifests/" in r.path} == {"HEAD"}
    src_requests = [r for r in registry.requests(src_mark) if f"/v2/{repo_name}/" in r.path]
    assert [r for r in src_requests if "/manifests/" in r.path and r.method != "HEAD"] == []
    assert len([r for r in src_requests if "/manifests/" in r.path]) == 5  # one HEAD per tag
    assert not [r for r in src_requests if "/blobs/" in r.path]


def test_immutable_tags_cost_one_head_on_the_destination_only(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    dest = registry_factory()
    _push_tags(tmp_path, registry, repo_name, TAGS[:3])
    source = f"{registry.host}/{repo_name}"
    assert _sync(run_lighter, "--src", "docker", "--dest", "docker", source, dest.host).returncode == 0
    # a new tag appears at the source; the old ones are immutable
    _push_tags(tmp_path / "more", registry, repo_name, ("t4",))
    dest_mark, src_mark = dest.log_mark(), registry.log_mark()
    result = _sync(
        run_lighter, "--src", "docker", "--dest", "docker", source, dest.host, "--immutable-tags", "^t[1-3]$"
    )
    assert result.returncode == 0, result.stderr
    assert "copied 1, skipped 3, failed 0" in result.stdout
    src_manifests = [r for r in registry.requests(src_mark) if f"/v2/{repo_name}/manifests/" in r.path]
    assert {r.path.rsplit("/", 1)[-1] for r in src_manifests} == {"t4"}  # t1..t3: nothing asked of the source
    dest_heads = [r for r in dest.requests(dest_mark) if r.method == "HEAD" and "/manifests/" in r.path]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in dest_heads) == ["t1", "t2", "t3", "t4"]


def test_shared_blobs_move_once_in_one_run(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    dest = registry_factory()
    layout = tmp_path / "layout"
    make_oci_image(layout, "base", layer_sizes=(4096, 1024), seed=7)
    for tag in ("a", "b", "c", "d"):  # four tags of one image: every blob shared
        copy_image(f"oci:{layout}:base", f"{registry.ref(repo_name)}:{tag}", dst_options=registry.options())
    result = _sync(
        run_lighter, "--src", "docker", "--dest", "docker", f"{registry.host}/{repo_name}", dest.host,
        "--parallel-images", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "copied 4" in result.stdout
    assert dest.blob_upload_count() == 3  # config + 2 layers, once for all four tags
    blob_heads = [r for r in dest.requests() if r.method == "HEAD" and "/blobs/" in r.path]
    assert len(blob_heads) == 3  # one per blob; the ledger answers the other images without asking the registry


def test_system_image_of_a_list_is_up_to_date_on_the_second_run(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    dest = registry_factory()
    layout = tmp_path / "layout"
    make_oci_index(layout, "multi", platforms=("linux/amd64", "linux/arm64"), seed=3)
    copy_image(
        f"oci:{layout}:multi",
        f"{registry.ref(repo_name)}:multi",
        CopyOptions(multi_arch="all"),
        dst_options=registry.options(),
    )
    args = (
        "--src",
        "docker",
        "--dest",
        "docker",
        f"{registry.host}/{repo_name}",
        dest.host,
        "--override-arch",
        "arm64",
    )
    first = _sync(run_lighter, *args)
    assert first.returncode == 0, first.stderr
    assert "copied 1" in first.stdout
    mark = dest.log_mark()
    second = _sync(run_lighter, *args)
    assert second.returncode == 0, second.stderr
    assert "skipped 1" in second.stdout
    assert "this platform's image of the list" in second.stderr
    assert not [r for r in dest.requests(mark) if r.method in WRITES or "/blobs/" in r.path]


# -- dry run, failures, reports ------------------------------------------------------


def test_dry_run_writes_nothing(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    dest = registry_factory()
    _push_tags(tmp_path, registry, repo_name, TAGS[:3])
    source = f"{registry.host}/{repo_name}"
    report_file = tmp_path / "dry.json"
    result = _sync(
        run_lighter, "--src", "docker", "--dest", "docker", source, dest.host, "--dry-run", "--report", str(report_file)
    )
    assert result.returncode == 0, result.stderr
    assert "dry run: copied 0, skipped 0, failed 0, would copy 3" in result.stdout
    assert _statuses(_report(report_file)) == [(t, "would-copy") for t in TAGS[:3]]
    assert not [r for r in dest.requests() if r.method in WRITES]
    out = tmp_path / "dir-out"
    result = _sync(run_lighter, "--src", "docker", "--dest", "dir", source, str(out), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not out.exists()


def _break_blob(server: RegistryServer, digest: Digest) -> None:
    """Remove a blob's data from the registry's storage: reading it now fails."""
    data = server.root / "docker/registry/v2/blobs" / digest.algorithm / digest.hex[:2] / digest.hex / "data"
    data.unlink()


def _layer_of(server: RegistryServer, repo: str, tag: str) -> Digest:
    with parse_image_name(f"{server.ref(repo)}:{tag}").new_source(server.options()) as source:
        raw, _ = source.manifest()
    manifest = parse_manifest(raw)
    assert isinstance(manifest, ImageManifest)
    return manifest.layers[0].digest


def test_keep_going_reports_the_broken_tag_and_copies_the_rest(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    _push_tags(tmp_path, registry, repo_name)
    broken = _layer_of(registry, repo_name, "t3")
    _break_blob(registry, broken)
    source = f"{registry.host}/{repo_name}"

    dest = registry_factory()
    report_file = tmp_path / "report.json"
    result = _sync(
        run_lighter,
        "--src",
        "docker",
        "--dest",
        "docker",
        source,
        dest.host,
        "--keep-going",
        "--report",
        str(report_file),
    )
    assert result.returncode == 1
    assert "copied 4, skipped 0, failed 1" in result.stdout
    assert "sync failed for 1 of 5 images" in result.stderr
    report = _report(report_file)
    assert report["summary"]["failed"] == 1 and report["summary"]["copied"] == 4
    assert _statuses(report) == [
        ("t1", "copied"),
        ("t2", "copied"),
        ("t3", "failed"),
        ("t4", "copied"),
        ("t5", "copied"),
    ]
    failure = report["images"][2]
    assert str(broken) in failure["reason"] and failure["source"].endswith(":t3")

    # without --keep-going the run stops at the broken tag (one image at a time: t4 and t5 never start)
    dest = registry_factory()
    report_file = tmp_path / "stop.json"
    result = _sync(
        run_lighter,
        "--src",
        "docker",
        "--dest",
        "docker",
        source,
        dest.host,
        "--parallel-images",
        "1",
        "--report",
        str(report_file),
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"lighter: error: error copying ref 'docker://{source}:t3'")
    )
    assert _statuses(_report(report_file)) == [
        ("t1", "copied"),
        ("t2", "copied"),
        ("t3", "failed"),
        ("t4", "not-run"),
        ("t5", "not-run"),
    ]


# -- sources: YAML, dir, shards ------------------------------------------------------


def test_yaml_source_with_tag_regex_semver_and_pinned_refs(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
    run_tool: Callable[..., RunResult],
) -> None:
    tags = ("v1.0.0", "v1.2.0", "v2.0.0", "latest", "v1.2.0-rc1")
    digests = _push_tags(tmp_path, registry, repo_name, tags)
    other = repo_name + "-other"
    _push_tags(tmp_path / "other", registry, other, ("x", "y"))
    semver_repo = repo_name + "-semver"
    _push_tags(tmp_path / "semver", registry, semver_repo, ("3.11.0", "3.12.1", "4.0.0", "4.0.0-rc1", "edge"))
    config = tmp_path / "sync.yml"
    config.write_text(
        f"{registry.host}:\n"
        "  tls-verify: false\n"
        "  images-by-tag-regex:\n"
        f"    {repo_name}: ^v1\\.\n"
        "  images:\n"
        f"    {other}: [y, '{digests['latest']}']\n"
        "  images-by-semver:\n"
        f"    {semver_repo}: '>= 3.12'\n"
    )
    dest = registry_factory()
    report_file = tmp_path / "report.json"
    result = run_lighter(
        "sync", "--src", "yaml", "--dest", "docker", str(config), f"{dest.host}/m", "--dest-tls-verify=false",
        "--report", str(report_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    destinations = [img["destination"] for img in _report(report_file)["images"]]
    name, other_name, semver_name = _last(repo_name), _last(other), _last(semver_repo)
    assert destinations == [
        # file order by kind (as skopeo: images, then regex, then semver), tags sorted
        f"docker://{dest.host}/m/{other_name}:y",
        f"docker://{dest.host}/m/{other_name}@{digests['latest']}",
        f"docker://{dest.host}/m/{name}:v1.0.0",
        f"docker://{dest.host}/m/{name}:v1.2.0",
        f"docker://{dest.host}/m/{name}:v1.2.0-rc1",
        f"docker://{dest.host}/m/{semver_name}:3.12.1",
        f"docker://{dest.host}/m/{semver_name}:4.0.0",
    ]
    assert _dest_digest(run_tool, f"docker://{dest.host}/m/{name}:v1.2.0") == str(digests["v1.2.0"])
    tags_listed = run_tool("skopeo", "list-tags", "--tls-verify=false", f"docker://{dest.host}/m/{name}")
    assert sorted(json.loads(tags_listed.stdout)["Tags"]) == ["v1.0.0", "v1.2.0", "v1.2.0-rc1"]


def test_yaml_unlistable_repository_is_a_reported_failure(
    tmp_path: Path, registry: RegistryServer, registry_factory: Callable[..., RegistryServer], repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:  # fmt: skip
    _push_tags(tmp_path, registry, repo_name, ("a",))
    config = tmp_path / "sync.yml"
    config.write_text(
        f"{registry.host}:\n  tls-verify: false\n  images:\n    {repo_name}-missing: []\n    {repo_name}: []\n"
    )
    dest = registry_factory()
    report_file = tmp_path / "report.json"
    args = ("sync", "--src", "yaml", "--dest", "docker", str(config), dest.host, "--dest-tls-verify=false")
    result = run_lighter(*args, "--keep-going", "--report", str(report_file))
    assert result.returncode == 1
    images = _report(report_file)["images"]
    assert [(i["status"], i["destination"]) for i in images] == [
        ("failed", ""),
        ("copied", f"docker://{dest.host}/{_last(repo_name)}:a"),
    ]
    assert images[0]["source"] == f"docker://{registry.host}/{repo_name}-missing"
    assert "cannot list tags" in images[0]["reason"]
    result = run_lighter(*args)
    assert result.returncode == 1
    assert "cannot list tags" in result.stderr


def test_shards_split_the_work_without_overlap(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    _push_tags(tmp_path, registry, repo_name)
    dest = registry_factory()
    copied: list[str] = []
    for shard in ("0/3", "1/3", "2/3"):
        report_file = tmp_path / f"shard{shard[0]}.json"
        args = ("--src", "docker", "--dest", "docker", f"{registry.host}/{repo_name}", dest.host)
        result = _sync(run_lighter, *args, "--shard", shard, "--report", str(report_file))
        assert result.returncode == 0, result.stderr
        copied += [i["destination"] for i in _report(report_file)["images"] if i["status"] == "copied"]
    assert sorted(copied) == sorted(f"docker://{dest.host}/{_last(repo_name)}:{t}" for t in TAGS)


# -- dir destination and source: skopeo's layout -------------------------------------


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below root."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.interop
@pytest.mark.parametrize("scoped", [False, True], ids=["plain", "scoped"])
def test_dir_destination_matches_skopeo_sync(
    tmp_path: Path,
    registry: RegistryServer,
    repo_name: str,
    run_lighter: Callable[..., RunResult],
    run_tool: Callable[..., RunResult],
    scoped: bool,
) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    _push_tags(tmp_path, registry, repo_name, ("t1", "t2"))
    layout = tmp_path / "list-layout"
    make_oci_index(layout, "multi", seed=11)
    copy_image(
        f"oci:{layout}:multi",
        f"{registry.ref(repo_name)}:multi",
        CopyOptions(multi_arch="all"),
        dst_options=registry.options(),
    )
    source = f"{registry.host}/{repo_name}"
    flags = ["--scoped"] if scoped else []
    for all_flag in ([], ["--all"]):
        theirs, ours = tmp_path / f"skopeo{len(all_flag)}", tmp_path / f"lighter{len(all_flag)}"
        done = run_tool(
            "skopeo",
            "sync",
            "--src",
            "docker",
            "--dest",
            "dir",
            "--src-tls-verify=false",
            *flags,
            *all_flag,
            source,
            str(theirs),
        )
        assert done.returncode == 0, done.stderr
        mine = run_lighter(
            "sync", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", *flags, *all_flag, source, str(ours)
        )
        assert mine.returncode == 0, mine.stderr
        assert _tree(ours) == _tree(theirs)
        assert len(_tree(ours)) >= 3 * 4  # version, manifest.json, config and layers per image at least
        expected = {f"{_last(repo_name)}:{t}" for t in ("t1", "t2", "multi")}
        base = ours / registry.host / repo_name.rsplit("/", 1)[0] if scoped else ours
        assert {p.name for p in base.iterdir()} == expected


def test_dir_to_dir_refused_and_dir_source_round_trips(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
    run_tool: Callable[..., RunResult],
) -> None:
    digests = _push_tags(tmp_path, registry, repo_name, ("t1", "t2"))
    out = tmp_path / "usb"
    result = _sync(run_lighter, "--src", "docker", "--dest", "dir", f"{registry.host}/{repo_name}", str(out))
    assert result.returncode == 0, result.stderr
    refused = run_lighter("sync", "--src", "dir", "--dest", "dir", str(out), str(tmp_path / "x"))
    assert refused.returncode == 1
    assert "consider using rsync" in refused.stderr

    dest = registry_factory()
    result = _sync(run_lighter, "--src", "dir", "--dest", "docker", str(out), f"{dest.host}/back")
    assert result.returncode == 0, result.stderr
    for tag in ("t1", "t2"):
        assert _dest_digest(run_tool, f"docker://{dest.host}/back/{_last(repo_name)}:{tag}") == str(digests[tag])
    # the same again: one read of each manifest.json, one HEAD per tag, nothing written
    mark = dest.log_mark()
    again = _sync(run_lighter, "--src", "dir", "--dest", "docker", str(out), f"{dest.host}/back")
    assert again.returncode == 0, again.stderr
    assert "skipped 2" in again.stdout
    assert not [r for r in dest.requests(mark) if r.method in WRITES]


def test_ledger_destination_forwards_the_whole_interface() -> None:
    public = {name for name in vars(ImageDestination) if not name.startswith("_")}
    assert public <= set(vars(LedgerDestination)), public - set(vars(LedgerDestination))


def test_digestfile_lists_what_is_at_the_destination(
    tmp_path: Path,
    registry: RegistryServer,
    registry_factory: Callable[..., RegistryServer],
    repo_name: str,
    run_lighter: Callable[..., RunResult],
) -> None:
    digests = _push_tags(tmp_path, registry, repo_name, ("t1", "t2"))
    dest = registry_factory()
    digestfile = tmp_path / "digests"
    args = ("--src", "docker", "--dest", "docker", f"{registry.host}/{repo_name}", dest.host)
    assert _sync(run_lighter, *args, "--digestfile", str(digestfile)).returncode == 0
    expected = "".join(f"{digests[t]} docker://{dest.host}/{_last(repo_name)}:{t}\n" for t in ("t1", "t2"))
    assert digestfile.read_text() == expected
    os.unlink(digestfile)
    assert _sync(run_lighter, *args, "--digestfile", str(digestfile)).returncode == 0
    assert digestfile.read_text() == expected  # skipped images are at the destination too


# -- authentication ------------------------------------------------------------------


def test_yaml_credentials_and_token_auth_destination(
    tmp_path: Path,
    basic_registry: RegistryServer,
    token_registry: RegistryServer,
    repo_name: str,
    run_lighter: Callable[..., RunResult],
    run_tool: Callable[..., RunResult],
) -> None:
    digests = _push_tags(tmp_path, basic_registry, repo_name, ("a", "b"))
    config = tmp_path / "sync.yml"
    config.write_text(
        f"{basic_registry.host}:\n"
        "  tls-verify: false\n"
        f"  credentials: {{username: {basic_registry.username}, password: {basic_registry.password}}}\n"
        f"  images:\n    {repo_name}: [b]\n"
    )
    dest_repo = f"{token_registry.host}/{repo_name}-mirror"
    args = ("sync", "--src", "yaml", "--dest", "docker", str(config), dest_repo, *token_registry.lighter_args("dest"))
    result = run_lighter(*args)
    assert result.returncode == 0, result.stderr
    assert "copied 1, skipped 0, failed 0" in result.stdout
    copied = f"docker://{dest_repo}/{_last(repo_name)}:b"
    raw = run_tool("skopeo", "inspect", "--raw", *token_registry.skopeo_args(), copied)
    assert raw.returncode == 0, raw.stderr
    assert manifest_digest(raw.stdout.encode()) == digests["b"]
    assert "skipped 1" in run_lighter(*args).stdout
    # wrong credentials: a one-line failure naming the registry, never the password
    config.write_text(config.read_text().replace(str(basic_registry.password), "wrong-password"))
    failed = run_lighter(*args)
    assert failed.returncode == 1
    assert "wrong-password" not in failed.stderr + failed.stdout
    assert basic_registry.host in failed.stderr
