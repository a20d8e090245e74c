"""``make demo``: the demo runs, its OCI layout is whole, and skopeo and umoci read it.

Also the Makefile's venv step on a Debian whose python3 lacks ensurepip,
with stand-ins for python and apt-get so that nothing is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lighter.digest import digest_bytes
from lighter.manifest import Index, parse_manifest
from lighter.validate import check_image

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def demo_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    stdout = _run([sys.executable, "-m", "lighter.demo"], cwd=out.parent, env={"LIGHTER_DEMO_DIR": str(out)})
    assert f"$ lighter manifest push --all demo/app:multi oci:{out / 'layout'}:multi" in stdout
    assert not (out.parent / "demo-out").exists()  # LIGHTER_DEMO_DIR is where it all went
    return out / "layout"


def _index(layout: Path) -> Index:
    entry = json.loads((layout / "index.json").read_bytes())["manifests"][0]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "multi"
    index = parse_manifest((layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
    assert isinstance(index, Index)
    return index


def test_demo_layout_passes_lighters_validation(demo_layout: Path) -> None:
    index = _index(demo_layout)
    assert sorted(str(m.platform) for m in index.manifests) == ["linux/amd64", "linux/arm64"]
    report = check_image(f"oci:{demo_layout}:multi")
    assert report.manifests[0] == index.digest
    assert set(report.manifests[1:]) == {m.digest for m in index.manifests}
    assert len(report.blobs) == 2 * 3  # per instance: a config and two layers


@pytest.mark.interop
def test_skopeo_reads_the_demo_layout(demo_layout: Path) -> None:
    index = _index(demo_layout)
    name = f"oci:{demo_layout}:multi"
    raw = _run(["skopeo", "inspect", "--raw", name]).encode()
    assert raw == index.raw
    for arch in ("amd64", "arm64"):
        inspected = json.loads(_run(["skopeo", "--override-arch", arch, "--override-os", "linux", "inspect", name]))
        assert inspected["Digest"] == str(digest_bytes(raw))
        assert inspected["Architecture"] == arch


@pytest.mark.interop
def test_umoci_stats_each_demo_image(demo_layout: Path, tmp_path: Path) -> None:
    # umoci 0.4 stats single images only: give each instance a ref of its own in a copy of the layout
    layout = tmp_path / "layout"
    shutil.copytree(demo_layout, layout)
    index = _index(layout)
    entries = [
        {"mediaType": m.media_type, "digest": str(m.digest), "size": m.size,
         "annotations": {"org.opencontainers.image.ref.name": m.platform.architecture}}
        for m in index.manifests
        if m.platform is not None
    ]  # fmt: skip
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    for arch in ("amd64", "arm64"):
        stat = json.loads(_run(["umoci", "stat", "--json", "--image", f"{layout}:{arch}"]))
        assert len(stat["history"]) == 2


# -- the Makefile's venv step ----------------------------------------------------


def _stand_ins(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A python whose ``import ensurepip`` fails (as Debian's without pythonX.Y-venv) and a recording apt-get."""
    log = tmp_path / "apt.log"
    python = tmp_path / "python-without-ensurepip"
    python.write_text(
        f'#!/bin/sh\nif [ "$1" = "-c" ] && [ "$2" = "import ensurepip" ]; then exit 1; fi\nexec {sys.executable} "$@"\n'
    )
    apt = tmp_path / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    for script in (python, apt):
        script.chmod(0o755)
    return python, apt, log


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_venv_step_installs_python_venv_when_ensurepip_is_missing(tmp_path: Path) -> None:
    python, apt, log = _stand_ins(tmp_path)
    result = _make("venv-deps", f"PYTHON={python}", f"APT_GET={apt}", "SUDO=")
    assert result.returncode == 0, result.stderr
    package = f"python{sys.version_info[0]}.{sys.version_info[1]}-venv"
    assert log.read_text().splitlines() == [
        "update -qq",
        f"install -y -qq --no-install-recommends {package}",
    ]
    assert f"installing Debian package {package}" in result.stdout


def test_venv_step_installs_nothing_when_ensurepip_is_there(tmp_path: Path) -> None:
    _python, apt, log = _stand_ins(tmp_path)
    result = _make("venv-deps", f"PYTHON={sys.executable}", f"APT_GET={apt}", "SUDO=")
    assert result.returncode == 0, result.stderr
    assert not log.exists()
    assert result.stdout == ""


def test_make_demo_installs_no_test_tools() -> None:
    # a dry run of everything `make demo` does on a fresh machine (-B: as if no venv existed yet)
    result = _make("-n", "-B", "demo")
    assert result.returncode == 0, result.stderr
    assert "import ensurepip" in result.stdout
    assert "-m venv .venv" in result.stdout
    assert result.stdout.rstrip().endswith("-m lighter.demo")
    for tool in ("skopeo", "umoci", "docker-registry"):
        assert tool not in result.stdout
