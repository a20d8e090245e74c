"""``lighter login`` / ``lighter logout``: skopeo's (containers/common ``pkg/auth``) commands and flags.

``login`` checks the credentials against the registry before storing them
in the auth file (mode 0600).  The password is best given on stdin
(``--password-stdin``): a ``--password`` argument is visible to every user
of the machine in the process list, as it is with skopeo.
"""

from __future__ import annotations

import sys

import click

from lighter.cli.common import parse_bool
from lighter.errors import CredentialsError, InvalidInputError, LighterError
from lighter.transports.registry.credentials import (
    auth_file_paths,
    check_credentials,
    login,
    logout,
    lookup,
    parse_login_key,
)
from lighter.transports.registry.credentials import get_login as stored_username


def _read_password_stdin() -> str:
    """All of stdin, less the newline ``echo`` or a here-string adds."""
    text = sys.stdin.read()
    return text.removesuffix("\n").removesuffix("\r")


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask_username(key: str, known: str) -> str:
    if not _interactive():
        raise CredentialsError(f"logging into {key}: give --username (lighter prompts only on a terminal)")
    answer: str = click.prompt("Username", default=known or None, show_default=bool(known))
    return answer.strip()


def _ask_password(key: str) -> str:
    if not _interactive():
        raise CredentialsError(
            f"logging into {key}: give --password-stdin or --password (lighter prompts only on a terminal)"
        )
    answer: str = click.prompt("Password", hide_input=True)
    return answer


def _try_existing(
    key: str, registry: str, authfile: str | None, verify: bool | None, cert_dir: str | None
) -> str | None:
    """With no -u/-p, reuse stored credentials the registry still takes.

    Returns None when they are valid (nothing more to do), else the stored
    user name ("" if none) to offer at the prompt.
    """
    existing = lookup(key, auth_file_paths(authfile))
    if existing is None:
        return ""
    if existing.identity_token:
        raise CredentialsError(f"currently logged into {key} with an identity token: log out first")
    if not (existing.username and existing.password):
        return existing.username
    click.echo(f"Authenticating with existing credentials for {key}")
    try:
        check_credentials(registry, existing.username, existing.password, tls_verify=verify, cert_dir=cert_dir)
    except LighterError:
        click.echo("Existing credentials are invalid, please enter valid username and password")
        return existing.username
    click.echo(f"Existing credentials are valid. Already logged in to {registry}")
    return None


@click.command("login")
@click.argument("registry")
@click.option("-u", "--username", default="", help="User name for the registry.")
@click.option("-p", "--password", default=None, help="Password (visible in the process list: prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--authfile", metavar="PATH", help="Auth file to write (default $REGISTRY_AUTH_FILE or containers').")
@click.option("--cert-dir", metavar="PATH", help="Extra CA certificates for the registry.")
@click.option(
    "--tls-verify",
    type=str,
    default=None,
    is_flag=False,
    flag_value="true",
    help="Require HTTPS and verify certificates (default true).",
)
@click.option("--get-login", is_flag=True, help="Print the user name stored for the registry.")
@click.option("-v", "--verbose", is_flag=True, help="Say where the credentials were stored.")
def login_command(
    registry: str,
    username: str,
    password: str | None,
    password_stdin: bool,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: str | None,
    get_login: bool,
    verbose: bool,
) -> None:
    """Log into REGISTRY (HOST[:PORT][/NAMESPACE/REPO]): check the credentials, then store them."""
    key, host = parse_login_key(registry)
    if get_login:
        click.echo(stored_username(key, authfile))
        return
    if password_stdin:
        if password is not None:
            raise InvalidInputError("--password-stdin and --password cannot both be given")
        if not username:
            raise InvalidInputError("--password-stdin needs --username")
        password = _read_password_stdin()
    verify = parse_bool(tls_verify)
    known: str | None = ""
    if not username and password is None:
        known = _try_existing(key, host, authfile, verify, cert_dir)
        if known is None:
            return
    username = username or _ask_username(key, known or "")
    if password is None:
        password = _ask_password(key)
    check_credentials(host, username, password, tls_verify=verify, cert_dir=cert_dir)
    where = login(key, username, password, authfile)
    if verbose:
        click.echo(f"Used: {where}")
    click.echo("Login Succeeded!")


@click.command("logout")
@click.argument("registry", required=False)
@click.option("-a", "--all", "all_registries", is_flag=True, help="Remove the credentials of every registry.")
@click.option("--authfile", metavar="PATH", help="Auth file to edit (default $REGISTRY_AUTH_FILE or containers').")
@click.option(
    "--tls-verify",
    type=str,
    default=None,
    is_flag=False,
    flag_value="true",
    help="Accepted for skopeo compatibility; logout does not contact the registry.",
)
def logout_command(registry: str | None, all_registries: bool, authfile: str | None, tls_verify: str | None) -> None:
    """Remove the stored credentials of REGISTRY (or of all registries with --all)."""
    parse_bool(tls_verify)
    if all_registries:
        if registry is not None:
            raise InvalidInputError("--all takes no registry")
        logout(None, authfile, all=True)
        click.echo("Removed login credentials for all registries")
        return
    if registry is None:
        raise InvalidInputError("give the registry to log out from, or --all")
    key, _ = parse_login_key(registry)
    logout(key, authfile)
    click.echo(f"Removed login credentials for {key}")


COMMANDS: list[click.Command] = [login_command, logout_command]
