"""The public API is curated: ``__all__`` lists exactly the public names, and every one exists.

As httpx's tests/test_exported_members.py: a name added to a package without
being exported (or exported without existing) fails here.  The doctests of
the pure model run here too, since its docstrings are its grammar.
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import lighter

SUBPACKAGES = sorted(info.name for info in pkgutil.iter_modules(lighter.__path__, "lighter.") if info.ispkg)
MODEL_MODULES = [
    "lighter.digest",
    "lighter.mediatype",
    "lighter.platform",
    "lighter.reference",
    "lighter.compression",
    "lighter.manifest.parse",
    "lighter.manifest.gojson",
]


def _public_members(module: types.ModuleType) -> set[str]:
    """Names a user sees: not private, not a submodule, not a __future__ feature."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }


def test_lighter_all_is_exactly_the_public_members() -> None:
    exported = set(lighter.__all__)
    for name in lighter.__all__:  # the operations are imported on first use: load them all first
        getattr(lighter, name)
    # lighter.copy (a callable module) and lighter.lists (the manifest-list API) are modules exported on purpose
    public = _public_members(lighter) | {"copy", "lists"}
    assert exported == public
    assert len(lighter.__all__) == len(exported), "duplicates in lighter.__all__"
    assert lighter.__all__ == sorted(lighter.__all__, key=lambda n: (not n[0].isupper(), n.lower()))


def test_lighter_exports_the_core_api() -> None:
    for name in ("parse_reference", "parse_digest", "parse_manifest", "manifest_digest", "Platform", "ImageManifest"):
        assert name in lighter.__all__


def test_lists_api_is_reachable_from_import_lighter(tmp_path: Path) -> None:
    """In a fresh interpreter: here another test's ``from lighter import lists`` would already have bound it."""
    script = (
        "import sys, lighter\n"
        "created = lighter.lists.create('app:multi', root=sys.argv[1])\n"
        "assert lighter.lists.load('app:multi', root=sys.argv[1]).id == created.id\n"
        "assert all(callable(getattr(lighter.lists, n)) for n in ('add', 'remove', 'annotate', 'push'))\n"
        "print(created.id)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 64


@pytest.mark.parametrize("name", lighter.__all__)
def test_every_exported_name_exists(name: str) -> None:
    assert getattr(lighter, name) is not None


def test_there_are_subpackages_to_check() -> None:
    assert "lighter.manifest" in SUBPACKAGES
    assert "lighter.transports" in SUBPACKAGES


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackage_all_names_exist(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    if names is None:
        # A namespace-like package (its modules are the API) must not leak names without __all__.
        assert not _public_members(module), f"{package} has public names but no __all__"
        return
    assert len(names) == len(set(names)), f"duplicates in {package}.__all__"
    for name in names:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


def test_manifest_package_exports_all_its_public_members() -> None:
    import lighter.manifest as manifest

    assert set(manifest.__all__) == _public_members(manifest)


@pytest.mark.parametrize("name", MODEL_MODULES)
def test_model_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_lighter_copy_type_checks_as_the_copy_function(tmp_path: Path) -> None:
    """Users' type checkers see ``lighter.copy(...)`` as the function it is, not as an uncallable module."""
    use = tmp_path / "use.py"
    use.write_text(
        "import lighter\n"
        "from lighter.copy import CopyOptions\n"
        "from lighter.digest import Digest\n"
        "result = lighter.copy('oci:/a:1', 'dir:/b', CopyOptions(multi_arch='all'))\n"
        "digest: Digest = result.digest\n"
        "media_type: str = result.media_type\n"
    )
    src = Path(lighter.__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull, str(use)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "MYPYPATH": str(src)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_lighter_loads_only_the_model(tmp_path: Path) -> None:
    """Every CLI run imports lighter: the operations wait until they are used (see lighter/__init__.py)."""
    script = (
        "import sys, lighter\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('lighter'))))\n"
        "lighter.CopyOptions, lighter.check_image\n"
        "print('lighter.copy' in sys.modules, 'lighter.validate' in sys.modules, 'lighter.build' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded, after = result.stdout.splitlines()
    heavy = ("lighter.copy", "lighter.lists", "lighter.build", "lighter.transports", "lighter.cache", "lighter.store")
    assert not [m for m in loaded.split() if m.startswith(heavy)], loaded
    assert after == "True True False"
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        lighter.no_such_name  # noqa: B018
