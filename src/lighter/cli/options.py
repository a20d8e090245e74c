"""Click options shared by commands, with skopeo's names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lighter.cli.common import transport_options
from lighter.transports import TransportOptions

F = TypeVar("F", bound=Callable[..., Any])


def _bool_option(name: str, help_text: str) -> Callable[[F], F]:
    # skopeo spells these as Go bool flags: --tls-verify, --tls-verify=false
    return click.option(name, type=str, default=None, is_flag=False, flag_value="true", help=help_text)


def registry_options(prefix: str = "", side: str = "") -> Callable[[F], F]:
    """--creds, --registry-token, --authfile, --tls-verify, --cert-dir for one side (src/dest) or both."""
    what = f" for the {side}" if side else ""

    def decorate(fn: F) -> F:
        fn = click.option(f"--{prefix}creds", metavar="USER[:PASSWORD]", help=f"Credentials{what} registry.")(fn)
        fn = click.option(f"--{prefix}registry-token", metavar="TOKEN", help=f"Bearer token{what} registry.")(fn)
        fn = click.option(f"--{prefix}authfile", metavar="PATH", help=f"Auth file{what}.")(fn)
        fn = _bool_option(f"--{prefix}tls-verify", f"Require HTTPS and verify certificates{what} (default true).")(fn)
        fn = click.option(f"--{prefix}cert-dir", metavar="PATH", help=f"Extra CA certificates{what}.")(fn)
        return fn

    return decorate


def retry_options(fn: F) -> F:
    fn = click.option(
        "--retry-times",
        type=click.IntRange(0, 100),
        default=3,
        show_default=True,
        help="How many times to retry transient registry failures.",
    )(fn)
    fn = click.option(
        "--retry-delay", type=float, default=None, help="Seconds between retries (default: exponential back-off)."
    )(fn)
    return fn


def store_root_option(fn: F) -> F:
    return click.option(
        "--root",
        "store_root",
        envvar="LIGHTER_ROOT",
        metavar="DIR",
        help="Root of the local store (default $XDG_DATA_HOME/lighter).",
    )(fn)


def side_options(kwargs: dict[str, Any], prefix: str, authfile: str | None = None) -> TransportOptions:
    """TransportOptions for one side from the parsed click kwargs (``prefix`` '' / 'src_' / 'dest_')."""
    return transport_options(
        creds=kwargs.get(f"{prefix}creds"),
        registry_token=kwargs.get(f"{prefix}registry_token"),
        authfile=kwargs.get(f"{prefix}authfile") or authfile,
        tls_verify=kwargs.get(f"{prefix}tls_verify"),
        cert_dir=kwargs.get(f"{prefix}cert_dir"),
        retry_times=int(kwargs.get("retry_times", 3)),
        retry_delay=kwargs.get("retry_delay"),
        store_root=kwargs.get("store_root"),
    )
