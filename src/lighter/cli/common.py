"""Options and helpers shared by several commands."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lighter.transports import TransportOptions


def print_json(value: Any) -> None:
    """Indented JSON, as skopeo prints it."""
    click.echo(json.dumps(value, indent=4, ensure_ascii=False))


def write_raw(data: bytes) -> None:
    """Exact bytes on stdout (``--raw``): never re-serialise a manifest."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def parse_bool(value: str | bool | None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise click.BadParameter(f"expected true or false, got {value!r}")


def transport_options(
    creds: str | None = None,
    registry_token: str | None = None,
    authfile: str | None = None,
    tls_verify: str | bool | None = None,
    cert_dir: str | None = None,
    retry_times: int = 3,
    retry_delay: float | None = None,
    store_root: str | None = None,
) -> TransportOptions:
    return TransportOptions(
        creds=creds,
        registry_token=registry_token,
        authfile=authfile,
        tls_verify=parse_bool(tls_verify),
        cert_dir=cert_dir,
        retry_times=retry_times,
        retry_delay=retry_delay,
        store_root=store_root,
    )
