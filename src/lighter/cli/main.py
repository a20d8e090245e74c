"""The ``lighter`` command: a thin shell over the operations.

Errors a user can cause are ``LighterError``s: printed as one line on
stderr, no traceback, exit code 2 for "not found" (as skopeo since 1.16)
and 1 otherwise.  ``--debug`` turns on logging and shows tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click

from lighter.errors import LighterError

#: One module per command group; each exposes ``COMMANDS: list[click.Command]``.
COMMAND_MODULES = (
    "lighter.cli.inspect_cmd",
    "lighter.cli.copy_cmd",
    "lighter.cli.registry_cmd",
    "lighter.cli.login_cmd",
    "lighter.cli.sync_cmd",
    "lighter.cli.store_cmd",
    "lighter.cli.manifest_cmd",
    "lighter.cli.build_cmd",
    "lighter.cli.cache_cmd",
)


def _version() -> str:
    try:
        return version("lighter")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


class LighterGroup(click.Group):
    """Turns LighterError into a one-line message and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LighterError as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            click.echo(f"lighter: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("lighter: interrupted", err=True)
            sys.exit(130)


@click.group(cls=LighterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="lighter")
@click.option("--debug", is_flag=True, help="Log what lighter does, and show tracebacks.")
def cli(debug: bool) -> None:
    """Copy, inspect, assemble and build OCI/Docker images and multi-arch manifest lists."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command group not built yet
            raise
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="lighter")


if __name__ == "__main__":  # pragma: no cover
    main()
