"""The CLI's error contract (issue 2): one line on stderr, no traceback, exit 2 only for "not found".

Every case runs the real ``lighter`` in a subprocess, as a user would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
