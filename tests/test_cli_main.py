"""The ``lighter`` command itself: ``--version``, ``--help`` on every command, ``--debug``.

Everything runs the real CLI in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import click
import pytest

from lighter.cli import main as cli_main
from lighter.manifest import ImageManifest
from tests.fixtures_images import RunResult, make_oci_image

Run = Callable[..., RunResult]


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand the CLI has, found by walking the click tree."""
    cli_main._register()
    paths: list[tuple[str, ...]] = []

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            paths.append((*prefix, name))
            if isinstance(command, click.Group):
                walk(command, (*prefix, name))

    walk(cli_main.cli, ())
    return paths


COMMAND_PATHS = _command_paths()


def test_the_walk_finds_the_commands_of_issue_2_and_the_groups() -> None:
    assert {("inspect",), ("manifest-digest",), ("copy",)} <= set(COMMAND_PATHS)
    assert any(len(path) == 2 and path[0] == "manifest" for path in COMMAND_PATHS)


def test_version(run_lighter: Run) -> None:
    result = run_lighter("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"lighter, version {version('lighter')}\n", "")


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_help_of_every_command(path: tuple[str, ...], run_lighter: Run) -> None:
    result = run_lighter(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"Usage: lighter {' '.join(path)} ")
    assert "-h, --help" in result.stdout


@pytest.fixture
def image(tmp_path: Path) -> ImageManifest:
    return make_oci_image(tmp_path / "layout", "v1", layer_sizes=(1000, 2000), seed=4)


def _log_lines(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert lines, "no log lines on stderr"
    assert all(line.startswith("DEBUG ") for line in lines), stderr
    return lines


def test_debug_inspect_logs_the_reads(image: ImageManifest, tmp_path: Path, run_lighter: Run) -> None:
    name = f"oci:{tmp_path / 'layout'}:v1"
    quiet = run_lighter("inspect", name)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    result = run_lighter("--debug", "inspect", name)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(quiet.stdout)  # logs go to stderr only
    lines = _log_lines(result.stderr)
    assert any(
        line.startswith("DEBUG lighter.inspect: ") and f"top-level manifest {image.digest}" in line for line in lines
    )
    assert any(line.startswith(f"DEBUG lighter.inspect: {name}: config {image.config.digest}") for line in lines)
    assert any(f"reading blob {image.config.digest}" in line for line in lines)
    assert any(line.startswith("DEBUG lighter.transports._files_common: read index.json") for line in lines)


@pytest.mark.parametrize("kind", ["dir", "oci"])
def test_debug_copy_logs_the_writes(kind: str, image: ImageManifest, tmp_path: Path, run_lighter: Run) -> None:
    dest = f"dir:{tmp_path / 'out'}" if kind == "dir" else f"oci:{tmp_path / 'out'}:v1"
    result = run_lighter("--debug", "copy", "-q", f"oci:{tmp_path / 'layout'}:v1", dest)
    assert result.returncode == 0, result.stderr
    lines = _log_lines(result.stderr)
    for layer in image.layers:
        assert any(f"reading blob {layer.digest}" in line for line in lines)
        assert any(f"wrote blob {layer.digest}: {layer.size} bytes, verified" in line for line in lines)
    module = "dir" if kind == "dir" else "oci_layout"
    assert any(line.startswith(f"DEBUG lighter.transports.{module}: committed {image.digest}") for line in lines)


def test_debug_shows_the_traceback_of_a_failure(tmp_path: Path, image: ImageManifest, run_lighter: Run) -> None:
    name = f"oci:{tmp_path / 'layout'}:nope"
    plain = run_lighter("inspect", name)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    result = run_lighter("--debug", "inspect", name)
    assert result.returncode == 2  # the same exit code as without --debug
    assert "Traceback (most recent call last):" in result.stderr
    assert "lighter.errors.ImageNotFoundError: no image 'nope'" in result.stderr
    assert result.stderr.splitlines()[-1] == plain.stderr.strip()
