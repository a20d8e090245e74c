"""``commit`` and ``unpack`` options that work by hand, checked: platforms, history, limits, levels, changes.

Most go through the CLI (``run_lighter`` runs ``python -m lighter.cli.main``),
so that what is tested is what a user types: the flag, its parsing, the
one-line error and the exit status.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lighter.build import commit, unpack
from lighter.errors import InvalidManifestError, UnsupportedError
from lighter.manifest import Descriptor, build_index, parse_config, parse_manifest
from lighter.platform import Platform, host_platform, parse_platform
from lighter.transports import parse_image_name
from tests.test_build_helpers import add_member, layer_tar, write_layers_image

TS = 1_700_000_000
Run = Callable[..., Any]


def _config(name: str) -> dict[str, Any]:
    with parse_image_name(name).new_source() as source:
        raw, media_type = source.manifest()
        manifest = parse_manifest(raw, media_type)
        return dict(parse_config(source.blob_bytes(manifest.config)).data)  # type: ignore[union-attr]


def _manifest(name: str) -> Any:
    with parse_image_name(name).new_source() as source:
        return parse_manifest(*source.manifest())


def _tree(root: Path, marker: str) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "marker").write_text(marker)
    return root


def _other_platform() -> Platform:
    """A platform that is not this host's (the list must hold the host's and another)."""
    return parse_platform("linux/arm64/v8" if host_platform().architecture != "arm64" else "linux/amd64")


def _list_image(tmp_path: Path) -> tuple[str, dict[str, Descriptor]]:
    """An OCI index of two images (the host's platform and another), each with etc/marker naming its platform."""
    layout = tmp_path / "list-layout"
    instances: dict[str, Descriptor] = {}
    for platform in (host_platform(), _other_platform()):
        tree = _tree(tmp_path / f"tree-{platform.architecture}", str(platform))
        result = commit(tree, f"oci:{layout}:{platform.architecture}", timestamp=TS, platform=platform)
        instances[str(platform)] = Descriptor(
            result.media_type, result.digest, len(result.manifest.raw), platform=platform
        )
    index = build_index(list(instances.values()))
    with parse_image_name(f"oci:{layout}:multi").new_destination() as dest:
        dest.put_manifest(index.raw, index.media_type)
        dest.commit()
    return f"oci:{layout}:multi", instances


# --- unpack --platform --------------------------------------------------------------------------


def test_unpack_chooses_from_a_list(tmp_path: Path, run_lighter: Run) -> None:
    name, _ = _list_image(tmp_path)
    other = _other_platform()
    out = run_lighter("unpack", name, str(tmp_path / "default"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "default" / "etc" / "marker").read_text() == str(host_platform())
    out = run_lighter("unpack", "--platform", str(other), name, str(tmp_path / "other"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "other" / "etc" / "marker").read_text() == str(other)


def test_unpack_of_a_missing_platform_lists_the_available_ones(tmp_path: Path, run_lighter: Run) -> None:
    name, _ = _list_image(tmp_path)
    out = run_lighter("unpack", "--platform", "linux/s390x", name, str(tmp_path / "out"))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lighter: error:"), out.stderr
    assert "linux/s390x" in lines[0]
    for platform in (host_platform(), _other_platform()):
        assert str(platform) in lines[0].split("available:")[1]
    assert not (tmp_path / "out").exists()


# --- commit --platform --------------------------------------------------------------------------


def test_commit_platform_is_recorded(tmp_path: Path, run_lighter: Run) -> None:
    tree = _tree(tmp_path / "tree", "x")
    dest = f"oci:{tmp_path / 'layout'}:arm"
    out = run_lighter("commit", "--platform", "linux/arm/v7", str(tree), dest)
    assert out.returncode == 0, out.stderr
    config = _config(dest)
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm", "v7")


def test_commit_without_platform_or_base_takes_the_hosts(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree", "x")
    dest = f"oci:{tmp_path / 'layout'}:host"
    commit(tree, dest, timestamp=TS)
    config = _config(dest)
    host = host_platform()
    assert (config["os"], config["architecture"], config.get("variant", "")) == (
        host.os,
        host.architecture,
        host.variant,
    )


def test_commit_platform_chooses_the_base_from_a_list(tmp_path: Path, run_lighter: Run) -> None:
    name, instances = _list_image(tmp_path)
    other = _other_platform()
    (tmp_path / "work").mkdir()
    out = run_lighter("unpack", "--platform", str(other), name, str(tmp_path / "work" / "root"))
    assert out.returncode == 0, out.stderr
    (tmp_path / "work" / "root" / "added.txt").write_text("new\n")
    dest = f"oci:{tmp_path / 'layout'}:derived"
    out = run_lighter("commit", "--from", name, "--platform", str(other), str(tmp_path / "work" / "root"), dest)
    assert out.returncode == 0, out.stderr
    config = _config(dest)
    assert (config["architecture"], config.get("variant", "")) == (other.architecture, other.variant)
    base_manifest = _manifest(f"oci:{tmp_path / 'list-layout'}:{other.architecture}")
    assert _manifest(dest).layers[0] == base_manifest.layers[0]
    assert instances[str(other)].digest == base_manifest.digest


# --- history against diffIDs (config.py) --------------------------------------------------------


def _one_layer_base(tmp_path: Path, **config_fields: Any) -> str:
    tar = layer_tar(lambda t: add_member(t, "base.txt", b"base\n", mode=0o644))
    return write_layers_image(tmp_path / "base-layout", "base", [tar], config_fields=config_fields)


def _derived_tree(tmp_path: Path, base: str) -> Path:
    unpack(base, tmp_path / "work")
    (tmp_path / "work" / "new.txt").write_text("new\n")
    return tmp_path / "work"


def test_base_history_that_disagrees_with_its_diff_ids_is_refused(tmp_path: Path) -> None:
    two_layers = [{"created": "2020-01-01T00:00:00Z"}, {"created": "2020-01-02T00:00:00Z"}]
    base = _one_layer_base(tmp_path, history=two_layers)
    tree = _derived_tree(tmp_path, base)
    with pytest.raises(InvalidManifestError, match="history lists 3 non-empty layers, but the image has 2 layers"):
        commit(tree, f"oci:{tmp_path / 'out'}:x", base=base, timestamp=TS)
    assert not (tmp_path / "out" / "index.json").exists()


def test_empty_layer_history_entries_do_not_count(tmp_path: Path) -> None:
    history = [{"created": "2020-01-01T00:00:00Z"}, {"created": "2020-01-02T00:00:00Z", "empty_layer": True}]
    base = _one_layer_base(tmp_path, history=history)
    dest = f"oci:{tmp_path / 'out'}:x"
    commit(_derived_tree(tmp_path, base), dest, base=base, timestamp=TS)
    assert _config(dest)["history"][:2] == history


@pytest.mark.parametrize("created", ["2020-01-01T00:00:00Z", None])
def test_base_without_history_gets_one_filler_entry_per_layer(tmp_path: Path, created: str | None) -> None:
    base = _one_layer_base(tmp_path, **({"created": created} if created else {}))
    dest = f"oci:{tmp_path / 'out'}:x"
    commit(_derived_tree(tmp_path, base), dest, base=base, timestamp=TS, message="derived")
    config = _config(dest)
    filler = {"created": created} if created else {}
    assert config["history"] == [filler, {"created": "2023-11-14T22:13:20Z", "comment": "derived"}]
    assert len(config["rootfs"]["diff_ids"]) == 2


# --- --timestamp --------------------------------------------------------------------------------


def test_cli_timestamp_sets_created_clamps_mtimes_and_beats_source_date_epoch(tmp_path: Path, run_lighter: Run) -> None:
    tree = _tree(tmp_path / "tree", "x")
    os.utime(tree / "etc" / "marker", (TS + 500, TS + 500))
    dest = f"oci:{tmp_path / 'layout'}:t"
    out = run_lighter("commit", "--timestamp", str(TS), str(tree), dest, env={"SOURCE_DATE_EPOCH": "86400"})
    assert out.returncode == 0, out.stderr
    config = _config(dest)
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["history"][0]["created"] == "2023-11-14T22:13:20Z"
    assert run_lighter("unpack", dest, str(tmp_path / "out")).returncode == 0
    assert os.lstat(tmp_path / "out" / "etc" / "marker").st_mtime == TS
    out = run_lighter("commit", "--timestamp", "soon", str(tree), f"oci:{tmp_path / 'bad'}:t")
    assert out.returncode != 0 and "soon" in out.stderr
    assert not (tmp_path / "bad").exists()


# --- unpack --max-entries / --max-size ----------------------------------------------------------


def _five_files(tmp_path: Path) -> str:
    def build(tar: Any) -> None:
        for i in range(5):
            add_member(tar, f"f{i}", b"x" * 100, mode=0o644)

    return write_layers_image(tmp_path / "layout", "five", [layer_tar(build)])


@pytest.mark.parametrize(
    ("flag", "tight", "enough", "message"),
    [("--max-entries", "4", "5", "more than 4 entries"), ("--max-size", "499", "500", "more than 499 bytes")],
)
def test_cli_unpack_limits(tmp_path: Path, run_lighter: Run, flag: str, tight: str, enough: str, message: str) -> None:
    name = _five_files(tmp_path)
    out = run_lighter("unpack", flag, tight, name, str(tmp_path / "refused"))
    assert out.returncode == 1
    assert out.stderr.startswith("lighter: error:") and message in out.stderr and len(out.stderr.splitlines()) == 1
    assert flag in out.stderr  # the message says which flag raises the limit
    assert not (tmp_path / "refused").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".refused")] == []
    out = run_lighter("unpack", flag, enough, name, str(tmp_path / "fits"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "fits").iterdir()) == [f"f{i}" for i in range(5)]


# --- devices as non-root ------------------------------------------------------------------------


def test_devices_as_non_root_are_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _five_files(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # unpack decides "as root" by os.geteuid()
    with pytest.raises(UnsupportedError, match="only be created when running as root"):
        unpack(name, tmp_path / "out", devices=True)
    assert not (tmp_path / "out").exists()
    unpack(name, tmp_path / "plain")  # without devices, non-root unpacking is fine
    assert len(list((tmp_path / "plain").iterdir())) == 5


# --- --compress-level ---------------------------------------------------------------------------


def _layer_digest(name: str) -> tuple[str, str]:
    """(layer blob digest, diffID) of a one-layer image."""
    return str(_manifest(name).layers[0].digest), _config(name)["rootfs"]["diff_ids"][0]


def _compressible_tree(root: Path) -> Path:
    root.mkdir()
    words = b" ".join(b"word%d" % (i % 977) for i in range(200_000))
    (root / "text.txt").write_bytes(words)
    return root


@pytest.mark.parametrize(("compression", "low", "high"), [("gzip", "1", "9"), ("zstd", "1", "19")])
def test_compress_level_changes_the_blob(
    tmp_path: Path, run_lighter: Run, compression: str, low: str, high: str
) -> None:
    tree = _compressible_tree(tmp_path / "tree")
    results = {}
    for level in (low, high):
        dest = f"oci:{tmp_path / f'layout-{level}'}:x"
        args = ("commit", "--compress", compression, "--compress-level", level, "--timestamp", str(TS))
        out = run_lighter(*args, str(tree), dest)
        assert out.returncode == 0, out.stderr
        results[level] = _layer_digest(dest)
    assert results[low][1] == results[high][1]  # same tar
    assert results[low][0] != results[high][0]  # another compressed blob
    sizes = {level: _manifest(f"oci:{tmp_path / f'layout-{level}'}:x").layers[0].size for level in (low, high)}
    assert sizes[high] < sizes[low]


def test_gzip_level_zero_is_accepted(tmp_path: Path, run_lighter: Run) -> None:
    """zlib's 0 (ISA-L maps it onto its fastest level): accepted, and the layer reads back."""
    tree = _compressible_tree(tmp_path / "tree")
    dest = f"oci:{tmp_path / 'layout'}:x"
    out = run_lighter("commit", "--compress", "gzip", "--compress-level", "0", str(tree), dest)
    assert out.returncode == 0, out.stderr
    assert _manifest(dest).layers[0].media_type.endswith("+gzip")
    unpack(dest, tmp_path / "out")
    assert (tmp_path / "out" / "text.txt").read_bytes() == (tree / "text.txt").read_bytes()


@pytest.mark.parametrize(
    ("compression", "level", "message"),
    [
        ("gzip", "10", "gzip compression level 10 is out of range: expected 0-9"),
        ("gzip", "-1", "gzip compression level -1 is out of range: expected 0-9"),
        ("zstd", "0", "zstd compression level 0 is out of range: expected 1-22"),
        ("zstd", "23", "zstd compression level 23 is out of range: expected 1-22"),
        ("none", "5", "a compression level (5) needs gzip or zstd compression, got none"),
    ],
)
def test_compress_level_out_of_range_is_refused(
    tmp_path: Path, run_lighter: Run, compression: str, level: str, message: str
) -> None:
    tree = _compressible_tree(tmp_path / "tree")
    out = run_lighter(
        "commit", "--compress", compression, "--compress-level", level, str(tree), f"oci:{tmp_path / 'l'}:x"
    )
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"lighter: error: {message}"]
    assert not (tmp_path / "l").exists()


# --- every --change instruction through the CLI ------------------------------------------------


def test_every_change_instruction_through_the_cli(tmp_path: Path, run_lighter: Run) -> None:
    tree = _tree(tmp_path / "tree", "x")
    first = f"oci:{tmp_path / 'layout'}:first"
    changes = [
        "ENV PATH=/usr/local/bin:/usr/bin GREETING=hello",
        "ENV LEGACY value with spaces",
        "CMD echo $GREETING",
        'ENTRYPOINT ["/usr/bin/tini", "--"]',
        "WORKDIR /srv",
        "WORKDIR app",
        "USER app:app",
        'LABEL org.example.name="lighter test" version=1',
        "EXPOSE 80 53/udp",
        "VOLUME /data /logs",
        'VOLUME ["/cache"]',
        "STOPSIGNAL SIGINT",
    ]
    args = [arg for change in changes for arg in ("--change", change)]
    out = run_lighter("commit", *args, str(tree), first)
    assert out.returncode == 0, out.stderr
    assert _config(first)["config"] == {
        "User": "app:app",
        "ExposedPorts": {"53/udp": {}, "80/tcp": {}},
        "Env": ["PATH=/usr/local/bin:/usr/bin", "GREETING=hello", "LEGACY=value with spaces"],
        "Entrypoint": ["/usr/bin/tini", "--"],
        "Cmd": ["/bin/sh", "-c", "echo $GREETING"],
        "Volumes": {"/cache": {}, "/data": {}, "/logs": {}},
        "WorkingDir": "/srv/app",
        "Labels": {"org.example.name": "lighter test", "version": "1"},
        "StopSignal": "SIGINT",
    }
    second = f"oci:{tmp_path / 'layout'}:second"
    out = run_lighter(
        "commit", "-c", 'CMD ["/app", "--serve"]', "-c", "ENTRYPOINT exec /init", "--from", first, str(tree), second
    )
    assert out.returncode == 0, out.stderr
    runtime = _config(second)["config"]
    assert runtime["Cmd"] == ["/app", "--serve"]
    assert runtime["Entrypoint"] == ["/bin/sh", "-c", "exec /init"]
    assert runtime["WorkingDir"] == "/srv/app"  # the base's settings stay
    out = run_lighter("commit", "-c", "HEALTHCHECK NONE", str(tree), f"oci:{tmp_path / 'bad'}:x")
    assert out.returncode == 1 and "unsupported instruction 'HEALTHCHECK'" in out.stderr
    assert len(out.stderr.splitlines()) == 1


def test_change_variables_come_from_the_base_environment(tmp_path: Path, run_lighter: Run) -> None:
    tree = _tree(tmp_path / "tree", "x")
    base = f"oci:{tmp_path / 'layout'}:base"
    out = run_lighter("commit", "-c", "ENV PATH=/usr/bin APP=/srv/app", str(tree), base)
    assert out.returncode == 0, out.stderr
    derived = f"oci:{tmp_path / 'layout'}:derived"
    changes = ["ENV PATH=$APP/bin:$PATH", "WORKDIR ${APP}", "LABEL where=$APP", "CMD ls $APP", "ENV LIT=\\$APP"]
    out = run_lighter("commit", *[a for c in changes for a in ("-c", c)], "--from", base, str(tree), derived)
    assert out.returncode == 0, out.stderr
    runtime = _config(derived)["config"]
    assert runtime["Env"] == ["PATH=/srv/app/bin:/usr/bin", "APP=/srv/app", "LIT=$APP"]
    assert (runtime["WorkingDir"], runtime["Labels"]) == ("/srv/app", {"where": "/srv/app"})
    assert runtime["Cmd"] == ["/bin/sh", "-c", "ls $APP"]


def test_change_that_fails_once_expanded_writes_nothing(tmp_path: Path, run_lighter: Run) -> None:
    tree = _tree(tmp_path / "tree", "x")
    out = run_lighter("commit", "-c", "EXPOSE $PORT", str(tree), f"oci:{tmp_path / 'layout'}:x")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "lighter: error: --change 'EXPOSE $PORT': invalid port '' (expected PORT[-PORT][/tcp|/udp|/sctp])"
    ]
    assert not (tmp_path / "layout").exists()
