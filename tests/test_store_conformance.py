"""The store: transport passes the shared transport conformance kit."""

from __future__ import annotations

from pathlib import Path

from lighter.store import Store
from lighter.testing.conformance import CHECKS, check_transport
from lighter.transports import TransportOptions, parse_image_name


def test_store_transport_conforms(tmp_path: Path) -> None:
    # one store for every name: the checks also prove that images in one store stay apart
    options = TransportOptions(store_root=str(tmp_path))
    ran = check_transport(lambda name: parse_image_name(f"store:conformance/{name}"), options=options)
    assert ran == [name for name, _ in CHECKS]
    assert Store(str(tmp_path)).catalog.all()  # the checks' committed images are records


def test_store_transport_conforms_with_the_root_in_the_name(tmp_path: Path) -> None:
    ran = check_transport(lambda name: parse_image_name(f"store:[{tmp_path}]{name}:1"))
    assert ran == [name for name, _ in CHECKS]
