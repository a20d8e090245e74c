"""Shared fixtures: running the CLIs under test and making images on disk.

* ``run_lighter(*args, input=None, env=None)`` runs ``python -m lighter.cli.main`` in a
  subprocess and returns the CompletedProcess (text mode); it never raises on failure.
* ``run_tool(name, *args)`` runs skopeo or umoci the same way.
* ``make_oci_image(path, tag, **random_image_kwargs)`` writes a random image into an
  OCI layout with lighter and returns its manifest; ``make_oci_index(...)`` does the
  same for a list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from lighter.manifest import ImageManifest, Index
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import parse_image_name

RunResult = subprocess.CompletedProcess[str]
TIMEOUT = 300


def run_command(argv: Sequence[str], input: str | None = None, env: dict[str, str] | None = None) -> RunResult:
    merged = {**os.environ, **(env or {})}
    return subprocess.run(
        list(argv), input=input, capture_output=True, text=True, env=merged, timeout=TIMEOUT, check=False
    )


@pytest.fixture
def run_lighter() -> Callable[..., RunResult]:
    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> RunResult:
        return run_command([sys.executable, "-m", "lighter.cli.main", *args], input=input, env=env)

    return run


@pytest.fixture
def run_tool() -> Callable[..., RunResult]:
    def run(name: str, *args: str, input: str | None = None) -> RunResult:
        return run_command([name, *args], input=input)

    return run


def make_oci_image(path: Path, tag: str = "latest", **kwargs: Any) -> ImageManifest:
    """A random image in the OCI layout at ``path`` under ``tag``."""
    ref = parse_image_name(f"oci:{path}:{tag}")
    with ref.new_destination() as dest:
        return write_random_image(dest, **kwargs)


def make_oci_index(path: Path, tag: str = "latest", **kwargs: Any) -> Index:
    """A random list in the OCI layout at ``path`` under ``tag``."""
    ref = parse_image_name(f"oci:{path}:{tag}")
    with ref.new_destination() as dest:
        return write_random_index(dest, **kwargs)
