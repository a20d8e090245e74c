"""The layers of DESIGN.md hold: import-linter's contract in pyproject.toml is kept.

Like go-containerregistry's depcheck test.  A second test proves the contract
has teeth (a model module importing the CLI breaks it), and a third that the
pure model does no I/O by construction (it imports no file, process or network
module).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MODEL = ["digest.py", "mediatype.py", "platform.py", "reference.py", "compression.py", "manifest"]
IO_MODULES = {
    "os",
    "pathlib",
    "shutil",
    "subprocess",
    "socket",
    "tempfile",
    "fcntl",
    "sqlite3",
    "http",
    "urllib",
    "urllib3",
    "requests",
    "asyncio",
    "threading",
    "concurrent",
}


def _lint(cwd: Path, config: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_lint_imports_is_installed() -> None:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} missing: install the test extras"


def test_layer_contract_is_kept() -> None:
    done = _lint(ROOT, ROOT / "pyproject.toml", ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    assert "Layers of DESIGN.md KEPT" in done.stdout


def test_layer_contract_catches_a_model_module_importing_the_cli(tmp_path: Path) -> None:
    package = tmp_path / "src" / "lighter"
    shutil.copytree(ROOT / "src" / "lighter", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (package / "digest.py").open("a") as f:
        f.write("\nimport lighter.cli.main  # noqa: E402 - a deliberate layer violation\n")
    done = _lint(tmp_path, tmp_path / "pyproject.toml", tmp_path / "src")
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout
    assert "lighter.digest" in done.stdout


def _model_files() -> list[Path]:
    out: list[Path] = []
    for name in MODEL:
        path = ROOT / "src" / "lighter" / name
        out.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return out


@pytest.mark.parametrize("path", _model_files(), ids=lambda p: str(p.relative_to(ROOT / "src")))
def test_the_pure_model_imports_no_io_module(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_MODULES, f"{path.name} imports {sorted(imported & IO_MODULES)}"
