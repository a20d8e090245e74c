"""Every file transport passes the shared conformance kit (lighter.testing.conformance)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lighter.testing.conformance import CHECKS, ConformanceError, check_transport
from lighter.transports import ImageReference, parse_image_name

Factory = Callable[[Path], Callable[[str], ImageReference]]

FACTORIES: dict[str, Factory] = {
    "dir": lambda root: lambda name: parse_image_name(f"dir:{root / name}"),
    # one layout for every name: the checks also prove that images in one layout stay apart
    "oci": lambda root: lambda name: parse_image_name(f"oci:{root / 'layout'}:{name}"),
    "oci-archive": lambda root: lambda name: parse_image_name(f"oci-archive:{root / name}.tar:{name}"),
    "docker-archive": lambda root: (
        lambda name: parse_image_name(f"docker-archive:{root / name}.tar:example.com/{name}:1")
    ),
}


@pytest.mark.parametrize("transport", sorted(FACTORIES))
def test_file_transports_conform(tmp_path: Path, transport: str) -> None:
    ran = check_transport(FACTORIES[transport](tmp_path), keeps_manifest=transport != "docker-archive")
    assert ran == [name for name, _ in CHECKS]


def test_oci_layout_keeps_every_image_the_checks_wrote(tmp_path: Path) -> None:
    check_transport(FACTORIES["oci"](tmp_path))
    for name in ("round-trip", "present", "list"):
        with parse_image_name(f"oci:{tmp_path / 'layout'}:{name}").new_source() as source:
            assert source.manifest()[0]


def test_the_kit_catches_a_transport_that_loses_manifests(tmp_path: Path) -> None:
    """A kit that never fails proves nothing: a dir: whose manifest.json is rewritten must fail it."""
    from lighter.transports.dir import DirDestination, DirReference

    class Lossy(DirDestination):
        def put_manifest(self, raw: bytes, media_type: str, instance: object = None) -> None:  # type: ignore[override]
            super().put_manifest(raw.replace(b'"schemaVersion":2', b'"schemaVersion": 2'), media_type, instance)  # type: ignore[arg-type]

    class LossyRef(DirReference):
        def new_destination(self, options: object = None) -> Lossy:  # type: ignore[override]
            return Lossy(self)

    with pytest.raises(ConformanceError, match="round_trip"):
        check_transport(lambda name: LossyRef(str(tmp_path / name)))
