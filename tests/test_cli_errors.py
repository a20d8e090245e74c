"""The CLI's error contract (issue 2): one line on stderr, no traceback, exit 2 only for "not found".

Every case runs the real ``lighter`` in a subprocess, as a user would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lighter.copy import copy_image
from lighter.digest import Digest
from lighter.manifest import ImageManifest
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name
from tests.fixtures_images import RunResult

Run = Callable[..., RunResult]


def _one_line_error(result: RunResult, code: int) -> str:
    """The single stderr line of a failed command, after checking the contract."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lighter: error: ")
    return lines[0]


# -- usage errors: click's, reported the way lighter reports everything -------

USAGE_ERRORS: dict[str, tuple[list[str], str]] = {
    "missing argument": (["inspect"], "Missing argument 'IMAGE'. (see 'lighter inspect --help')"),
    "unknown option": (["inspect", "--bogus", "oci:x"], "No such option '--bogus'"),
    "unknown command": (["bogus"], "No such command 'bogus'. (see 'lighter --help')"),
    "unknown option of the group": (["--bogus", "inspect"], "No such option '--bogus'. (see 'lighter --help')"),
    "unknown subcommand": (["manifest", "bogus"], "No such command 'bogus'. (see 'lighter manifest --help')"),
    "bad option value": (["copy", "--retry-times", "x", "dir:a", "dir:b"], "Invalid value for '--retry-times'"),
    "extra argument": (["manifest-digest", "a", "b"], "Got unexpected extra argument (b)"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_are_one_line_and_exit_1(case: str, run_lighter: Run) -> None:
    args, expected = USAGE_ERRORS[case]
    result = run_lighter(*args)
    line = _one_line_error(result, 1)
    assert expected in line
    assert "Usage:" not in result.stderr
    assert result.stdout == ""


def test_manifest_digest_of_a_directory_is_a_usage_error(tmp_path: Path, run_lighter: Run) -> None:
    line = _one_line_error(run_lighter("manifest-digest", str(tmp_path)), 1)
    assert line == (
        f"lighter: error: Invalid value for 'MANIFEST_FILE': File '{tmp_path}' is a directory. "
        "(see 'lighter manifest-digest --help')"
    )


def test_no_command_shows_the_help_and_exits_1(run_lighter: Run) -> None:
    for args in ([], ["manifest"]):
        result = run_lighter(*args)
        assert result.returncode == 1
        assert result.stderr.startswith(f"Usage: lighter {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
        assert "Commands:" in result.stderr


def test_help_still_exits_0(run_lighter: Run) -> None:
    for args in (["--help"], ["-h"], ["inspect", "--help"], ["manifest", "create", "--help"]):
        result = run_lighter(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith("Usage: lighter")
        assert result.stderr == ""


# -- bad input (issue 2's acceptance): specific error, right exit code, nothing changed on disk ------


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash (directories too: an empty one left behind counts)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
        for p in sorted(root.rglob("*"))
    }


def _layout_blob(root: Path, digest: Digest) -> Path:
    return root / "layout" / "blobs" / digest.algorithm / digest.hex


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _short_digest_in_index(root: Path, _manifest: ImageManifest) -> None:
    path = root / "layout" / "index.json"
    index = json.loads(path.read_bytes())
    index["manifests"][0]["digest"] = index["manifests"][0]["digest"][:-1]
    path.write_text(json.dumps(index))


def _short_digest_in_manifest(root: Path, _manifest: ImageManifest) -> None:
    path = root / "dir" / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["layers"][0]["digest"] += "0"
    path.write_text(json.dumps(manifest))


Breaker = Callable[[Path, ImageManifest], None]
LAYOUT = "oci:{root}/layout:v1"
DIR = "dir:{root}/dir"


@dataclass(frozen=True)
class Bad:
    """One bad input: how to break the good images, what to run on it, and what must come out."""

    breaker: Breaker
    source: str
    code: int
    message: str
    commands: tuple[str, ...] = ("inspect", "copy-dir", "copy-oci")
    dest: str = ""  # a copy's destination, when it is the bad part


BAD: dict[str, Bad] = {
    "invalid JSON": Bad(
        lambda root, _m: (root / "dir" / "manifest.json").write_bytes(b'{"schemaVersion": 2,'), DIR, 1, "not valid JSON"
    ),
    "wrong schemaVersion": Bad(
        lambda root, _m: (root / "dir" / "manifest.json").write_bytes(b'{"schemaVersion": 3}'),
        DIR,
        1,
        "unsupported manifest schemaVersion 3 (expected 1 or 2)",
    ),
    "5 MiB manifest": Bad(
        lambda root, _m: (root / "dir" / "manifest.json").write_bytes(b" " * (5 * 1024 * 1024)),
        DIR,
        1,
        "is 5242880 bytes, over the 4194304 byte limit",
    ),
    "digest of the wrong length in index.json": Bad(
        _short_digest_in_index, LAYOUT, 1, "sha256 needs 64 hex characters, got 63"
    ),
    "digest of the wrong length in a manifest": Bad(
        _short_digest_in_manifest, DIR, 1, "sha256 needs 64 hex characters, got 65"
    ),
    "unknown transport": Bad(lambda root, _m: None, "nosuch:{root}/layout", 1, "unknown transport"),
    "unknown transport of the destination": Bad(
        lambda root, _m: None, LAYOUT, 1, "unknown transport", ("copy",), dest="nosuch:{root}/new"
    ),
    "missing layer blob": Bad(
        lambda root, m: _layout_blob(root, m.layers[0].digest).unlink(),
        LAYOUT,
        2,
        "is missing from the OCI layout",
        ("copy-dir", "copy-oci"),
    ),
    "missing config blob": Bad(
        lambda root, m: _layout_blob(root, m.config.digest).unlink(), LAYOUT, 2, "is missing from the OCI layout"
    ),
    "layer bytes not matching the digest": Bad(
        lambda root, m: _flip_a_byte(_layout_blob(root, m.layers[0].digest)),
        LAYOUT,
        1,
        "digest mismatch",
        ("copy-dir", "copy-oci"),
    ),
    "config bytes not matching the digest": Bad(
        lambda root, m: _flip_a_byte(_layout_blob(root, m.config.digest)), LAYOUT, 1, "digest mismatch"
    ),
    "layout with no index.json": Bad(
        lambda root, _m: (root / "layout" / "index.json").unlink(), LAYOUT, 1, "it has no index.json"
    ),
    "uppercase repository": Bad(
        lambda root, _m: None, "docker://registry.example/Upper/app:1", 1, "must be lowercase", ("inspect",)
    ),
    "uppercase repository of the destination": Bad(
        lambda root, _m: None,
        LAYOUT,
        1,
        "must be lowercase",
        ("copy",),
        dest="docker-archive:{root}/new.tar:registry.example/Upper/app:1",
    ),
}


def _argv(command: str, source: str, dest: str, root: Path) -> list[str]:
    if command == "inspect":
        return ["inspect", source]
    target = (
        dest.format(root=root)
        or {
            "copy-dir": f"dir:{root}/new-dir",
            "copy-oci": f"oci:{root}/new-oci:v1",
        }[command]
    )
    return ["copy", "-q", source, target]


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_the_right_code_and_changes_nothing(case: str, tmp_path: Path, run_lighter: Run) -> None:
    bad = BAD[case]
    with parse_image_name(f"oci:{tmp_path / 'layout'}:v1").new_destination() as dest:
        # uncompressed, so that a flipped byte reaches the digest check rather than gzip's own CRC check
        manifest = write_random_image(dest, layer_sizes=(4000,), seed=9, compression="none")
    copy_image(f"oci:{tmp_path / 'layout'}:v1", f"dir:{tmp_path / 'dir'}")
    bad.breaker(tmp_path, manifest)
    source = bad.source.format(root=tmp_path)
    before = _snapshot(tmp_path)
    for command in bad.commands:
        result = run_lighter(*_argv(command, source, bad.dest, tmp_path))
        line = _one_line_error(result, bad.code)
        assert bad.message in line, (command, line)
        assert result.stdout == ""
        assert _snapshot(tmp_path) == before, command
