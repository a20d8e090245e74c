"""Registry servers for the benchmarks: the tests' ``RegistryServer`` (tests/fixtures_registry.py), reused.

``python -m bench`` runs from the repository root, so ``tests`` is importable;
the fixture module needs pytest only for its fixtures, which are not used here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tests.fixtures_registry import REGISTRY_BINARY, RegistryServer, start_registry

__all__ = ["RegistryServer", "running_registry"]


@contextlib.contextmanager
def running_registry(workdir: Path, kind: str = "plain") -> Iterator[RegistryServer]:
    """A docker-registry on 127.0.0.1 (plain HTTP by default), stopped on exit."""
    if not os.path.exists(REGISTRY_BINARY):
        raise SystemExit(f"the benchmarks need docker-registry ({REGISTRY_BINARY}): run `make debs`")
    server = start_registry(kind, workdir)
    try:
        yield server
    finally:
        server.close()
