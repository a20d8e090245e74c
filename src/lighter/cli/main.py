"""The ``lighter`` command: a thin shell over the operations.

Errors a user can cause are ``LighterError``s: printed as one line on
stderr, no traceback, exit code 2 for "not found" (as skopeo since 1.16)
and 1 otherwise.  ``--debug`` turns on logging and shows tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import Any, NoReturn

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
    # imported here: importlib.metadata is ~20 ms of start-up that only --version needs
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lighter")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"lighter, version {_version()}")
        ctx.exit()


class LighterGroup(click.Group):
    """Turns LighterError into a one-line message and the right exit code.

    Command modules are imported when first needed: ``lighter copy`` imports
    only the modules up to the one defining ``copy`` instead of all of them
    (sync's YAML and the cache's JSON schemas), which halves start-up time,
    and start-up is a good part of a short copy.
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            _register(until=cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register()
        return super().list_commands(ctx)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # the group's own options and arguments: ``lighter --bogus``, ``lighter`` alone
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _usage_exit(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            # an unknown command, a subcommand's missing argument or bad option, a BadParameter
            _usage_exit(exc)
        except LighterError as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                # --debug: where it happened too, but still the one-line message last and the same exit code
                traceback.print_exc(file=sys.stderr)
            click.echo(f"lighter: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("lighter: interrupted", err=True)
            sys.exit(130)


def _usage_exit(exc: click.ClickException) -> NoReturn:
    """A usage error as every other error: one line on stderr, exit code 1 (as skopeo).

    Click would print usage, a hint and the message on several lines and exit
    2, which lighter keeps for "not found".  Asking for nothing at all
    (``lighter``, ``lighter manifest``) still shows the help, on stderr.
    """
    if isinstance(exc, _NO_ARGS_IS_HELP):
        exc.show()
        sys.exit(1)
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if isinstance(ctx, click.Context) else ""
    click.echo(f"lighter: error: {message}{hint}", err=True)
    sys.exit(1)


#: click >= 8.2 raises this for a group given no command; 8.1 printed the help and exited 0.
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    cls for cls in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if isinstance(cls, type)
)


@click.group(cls=LighterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option("--debug", is_flag=True, help="Log what lighter does, and show tracebacks.")
def cli(debug: bool) -> None:
    """Copy, inspect, assemble and build OCI/Docker images and multi-arch manifest lists."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


_registered: set[str] = set()


def _register(until: str | None = None) -> None:
    """Import the command modules in order: all of them, or until one defines the command ``until``."""
    for name in COMMAND_MODULES:
        if name in _registered:
            continue
        _registered.add(name)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command group not built yet
            raise
        for command in module.COMMANDS:
            cli.add_command(command)
        if until is not None and until in cli.commands:
            return


def main() -> None:
    cli(prog_name="lighter")


if __name__ == "__main__":  # pragma: no cover
    main()
