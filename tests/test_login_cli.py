"""``lighter login`` / ``lighter logout``: flags, messages and exit codes as skopeo's.

CliRunner runs the commands in a LighterGroup (the one-line error handling of
``lighter``); the installed ``.venv/bin/lighter`` is run as a subprocess for
the exit codes a shell sees.  Every test has its own HOME and XDG_* dirs.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from lighter.cli.login_cmd import COMMANDS
from lighter.cli.main import LighterGroup
from lighter.manifest import ImageManifest
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name
from lighter.transports.registry.credentials import Credentials, login, resolve_credentials
from tests.fixtures_registry import RegistryServer

LIGHTER = Path(sys.executable).parent / "lighter"
SECRET = "pw-9f3a-secret"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOME; the runtime dir is ``tmp_path/run`` (so the auth file is run/containers/auth.json)."""
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def _auth_file(home: Path) -> Path:
    return home / "run" / "containers" / "auth.json"


def _group() -> click.Group:
    return LighterGroup(name="lighter", commands=COMMANDS)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(_group(), list(args), input=input, catch_exceptions=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _lighter(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIGHTER), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )


# ---------------------------------------------------------------- CliRunner


def test_get_login(home: Path) -> None:
    login("reg.example:5000", "alice", SECRET)
    result = run("login", "--get-login", "reg.example:5000")
    assert (result.exit_code, result.output) == (0, "alice\n")


def test_get_login_not_logged_in(home: Path) -> None:
    result = run("login", "--get-login", "reg.example:5000")
    assert result.exit_code == 1
    assert result.output == "lighter: error: not logged into reg.example:5000\n"


def test_get_login_with_authfile(home: Path) -> None:
    path = home / "elsewhere.json"
    login("reg.example:5000/team", "bob", SECRET, authfile=str(path))
    result = run("login", "--get-login", "--authfile", str(path), "reg.example:5000/team")
    assert (result.exit_code, result.output) == (0, "bob\n")


def test_logout(home: Path) -> None:
    login("reg.example:5000", "alice", SECRET)
    login("other.example", "bob", SECRET)
    result = run("logout", "reg.example:5000")
    assert (result.exit_code, result.output) == (0, "Removed login credentials for reg.example:5000\n")
    assert list(json.loads(_auth_file(home).read_text())["auths"]) == ["other.example"]


def test_logout_url_argument(home: Path) -> None:
    login("reg.example:5000", "alice", SECRET)
    result = run("logout", "https://reg.example:5000/v2/")
    assert (result.exit_code, result.output) == (0, "Removed login credentials for reg.example:5000\n")


def test_logout_not_logged_in(home: Path) -> None:
    result = run("logout", "reg.example:5000")
    assert (result.exit_code, result.output) == (1, "lighter: error: not logged into reg.example:5000\n")


def test_logout_all(home: Path) -> None:
    login("a.example", "alice", SECRET)
    login("b.example", "bob", SECRET)
    result = run("logout", "--all")
    assert (result.exit_code, result.output) == (0, "Removed login credentials for all registries\n")
    assert json.loads(_auth_file(home).read_text()) == {"auths": {}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["logout"], "give the registry to log out from, or --all"),
        (["logout", "--all", "a.example"], "--all takes no registry"),
        (
            ["logout", "--authfile", "/nonexistent/auth.json", "a.example"],
            "auth file /nonexistent/auth.json does not exist",
        ),
        (["logout", "a.example/App:tag"], "invalid registry 'a.example/App:tag'"),
    ],
)
def test_logout_usage_errors(home: Path, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.startswith("lighter: error: ") and message in result.output
    assert result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-u", "alice", "-p", SECRET, "--password-stdin"], SECRET, "cannot both be given"),
        (["--password-stdin"], SECRET, "--password-stdin needs --username"),
        ([], None, "give --username (lighter prompts only on a terminal)"),
        (["-u", "alice"], None, "give --password-stdin or --password"),
        (["-u", "al:ice", "-p", SECRET], None, "the user name must not contain ':'"),
    ],
)
def test_login_refusals_write_nothing(home: Path, args: list[str], stdin: str | None, message: str) -> None:
    port = _free_port()  # nothing listens: a refusal must come before any network use, or fail on it
    result = run("login", "--tls-verify=false", *args, f"127.0.0.1:{port}", input=stdin)
    assert result.exit_code == 1
    assert result.output.startswith("lighter: error: ") and message in result.output
    assert SECRET not in result.output
    assert not _auth_file(home).exists()


def test_login_to_unreachable_registry_writes_nothing(home: Path) -> None:
    port = _free_port()
    result = run(
        "login", "--tls-verify=false", "-u", "alice", "--password-stdin", f"127.0.0.1:{port}", input=SECRET + "\n"
    )
    assert result.exit_code == 1
    assert result.output.startswith("lighter: error: ") and f"127.0.0.1:{port}" in result.output
    assert SECRET not in result.output
    assert not _auth_file(home).exists()


# ---------------------------------------------------------------- the installed command


def test_installed_lighter_has_login_and_logout() -> None:
    done = _lighter("--help")
    assert done.returncode == 0
    commands = done.stdout.split("Commands:", 1)[-1].split()
    assert "login" in commands and "logout" in commands, "lighter.cli.login_cmd is not in cli/main.py's COMMAND_MODULES"


def test_installed_lighter_exit_codes(home: Path) -> None:
    missing = _lighter("logout", "reg.example:5000")
    assert (missing.returncode, missing.stderr) == (1, "lighter: error: not logged into reg.example:5000\n")
    login("reg.example:5000", "alice", SECRET)
    who = _lighter("login", "--get-login", "reg.example:5000")
    assert (who.returncode, who.stdout) == (0, "alice\n")
    out = _lighter("logout", "reg.example:5000")
    assert (out.returncode, out.stdout) == (0, "Removed login credentials for reg.example:5000\n")
    assert resolve_credentials("reg.example:5000") is None
    assert stat.S_IMODE(_auth_file(home).stat().st_mode) == 0o600


def test_installed_lighter_refused_login(home: Path) -> None:
    port = _free_port()
    done = _lighter("login", "--tls-verify=false", "-u", "alice", "--password-stdin", f"127.0.0.1:{port}", input=SECRET)
    assert done.returncode == 1
    assert done.stderr.startswith("lighter: error: ") and done.stderr.count("\n") == 1
    assert SECRET not in done.stderr + done.stdout
    assert not _auth_file(home).exists()


# ---------------------------------------------------------------- against real registries


@pytest.fixture(params=["basic", "token"])
def auth_registry(request: pytest.FixtureRequest) -> RegistryServer:
    """The htpasswd (Basic) registry, then the token-auth one."""
    server: RegistryServer = request.getfixturevalue(f"{request.param}_registry")
    return server


def _push(server: RegistryServer, repo: str, tag: str = "v1") -> ImageManifest:
    """A random image pushed with the server's own --creds (not through any auth file)."""
    with parse_image_name(f"{server.ref(repo)}:{tag}").new_destination(server.options()) as dest:
        return write_random_image(dest, seed=len(repo))


def _tls_flags(server: RegistryServer, side: str = "") -> list[str]:
    """The server's TLS flags without its credentials: --cert-dir for the TLS set-up, else --tls-verify=false."""
    return [arg for arg in server.lighter_args(side) if "creds=" not in arg]


def _pull(server: RegistryServer, repo: str, target: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``lighter copy`` with no --creds: whatever credentials it uses come from auth files."""
    tls = flags or tuple(_tls_flags(server, "src"))
    return _lighter("copy", "-q", *tls, f"{server.ref(repo)}:v1", f"oci:{target}:v1")


def _pulled_digest(target: Path) -> str:
    digest: str = json.loads((target / "index.json").read_text())["manifests"][0]["digest"]
    return digest


def _password(server: RegistryServer) -> str:
    """The registry's password; the open set-ups take any, as with skopeo."""
    return server.password or SECRET


def _check_without_credentials(server: RegistryServer, repo: str, target: Path) -> None:
    """Before any login: the auth set-ups refuse an anonymous pull, the open ones serve it."""
    anonymous = _pull(server, repo, target)
    if server.kind in ("basic", "token"):
        assert anonymous.returncode == 1, anonymous.stderr
        assert anonymous.stderr.startswith(f"lighter: error: authentication required for {server.host}")
        assert anonymous.stderr.count("\n") == 1
    else:
        assert anonymous.returncode == 0, anonymous.stderr


def _check_credentials_do_not_relax_tls(server: RegistryServer, repo: str, target: Path) -> None:
    """Stored credentials are no licence to skip TLS: without the CA (or --tls-verify=false) the pull fails."""
    untrusted = _pull(server, repo, target, "--src-tls-verify=true")
    assert untrusted.returncode == 1
    assert (
        untrusted.stderr.startswith("lighter: error: TLS error talking to https://")
        and untrusted.stderr.count("\n") == 1
    ), untrusted.stderr
    if server.kind == "tls":
        assert f"(--cert-dir or certs.d/{server.host}/ca.crt for a private CA," in untrusted.stderr
    else:
        assert f"{server.host} does not speak TLS" in untrusted.stderr and "--tls-verify=false" in untrusted.stderr
    assert _password(server) not in untrusted.stderr


def test_login_then_pull_uses_the_auth_file(home: Path, any_registry: RegistryServer, repo_name: str) -> None:
    server = any_registry
    manifest = _push(server, repo_name)
    host, password = server.host, _password(server)
    _check_without_credentials(server, repo_name, home / "anon")

    result = run("login", *_tls_flags(server), "-u", "alice", "--password-stdin", host, input=f"{password}\n")
    assert (result.exit_code, result.output) == (0, "Login Succeeded!\n")
    assert stat.S_IMODE(_auth_file(home).stat().st_mode) == 0o600
    stored = json.loads(_auth_file(home).read_text())["auths"][host]["auth"]
    assert base64.b64decode(stored).decode() == f"alice:{password}"  # the newline was stripped

    pulled = _pull(server, repo_name, home / "pulled")
    assert pulled.returncode == 0, pulled.stderr
    assert _pulled_digest(home / "pulled") == str(manifest.digest)
    _check_credentials_do_not_relax_tls(server, repo_name, home / "untrusted")
    # skopeo (containers/image) reads the same file and is let in too
    skopeo_tls = [arg for arg in server.skopeo_args() if "creds=" not in arg]
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", *skopeo_tls, f"{server.ref(repo_name)}:v1"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert (raw.returncode, raw.stdout) == (0, manifest.raw), raw.stderr

    assert run("login", "--get-login", host).output == "alice\n"
    assert run("logout", host).exit_code == 0
    after = _pull(server, repo_name, home / "after-logout")
    assert after.returncode == (1 if server.kind in ("basic", "token") else 0), after.stderr


def test_login_with_wrong_password(home: Path, auth_registry: RegistryServer) -> None:
    wrong = "wrong-" + SECRET
    result = run("login", "--tls-verify=false", "-u", "alice", "-p", wrong, auth_registry.host)
    assert result.exit_code == 1
    assert result.output == f"lighter: error: logging into {auth_registry.host}: invalid username/password\n"
    assert wrong not in result.output
    assert not _auth_file(home).exists()


def test_login_with_valid_stored_credentials(home: Path, auth_registry: RegistryServer) -> None:
    host = auth_registry.host
    login(host, "alice", auth_registry.password or "")
    result = run("login", "--tls-verify=false", host)
    assert result.exit_code == 0
    assert result.output == (
        f"Authenticating with existing credentials for {host}\n"
        f"Existing credentials are valid. Already logged in to {host}\n"
    )


def test_login_with_stale_stored_credentials_asks_again(home: Path, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    login(host, "alice", "stale-" + SECRET)
    result = run("login", "--tls-verify=false", host)  # not a terminal: nothing to prompt with
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Authenticating with existing credentials for {host}\n"
        "Existing credentials are invalid, please enter valid username and password\n"
        "lighter: error: logging into"
    )
    assert SECRET not in result.output


def test_skopeo_login_file_is_read_by_lighter(home: Path, basic_registry: RegistryServer, repo_name: str) -> None:
    manifest = _push(basic_registry, repo_name)
    done = subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "-u", "alice", "--password-stdin", basic_registry.host],
        input=basic_registry.password,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _auth_file(home).exists()
    pulled = _pull(basic_registry, repo_name, home / "pulled")
    assert pulled.returncode == 0, pulled.stderr
    assert _pulled_digest(home / "pulled") == str(manifest.digest)


@pytest.mark.parametrize("style", ["auths", "url-key", "credHelpers"])
def test_docker_config_json(
    home: Path, any_registry: RegistryServer, repo_name: str, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.docker/config.json as ``docker login`` leaves it: an auth entry (maybe keyed by URL) or a helper."""
    server = any_registry
    manifest = _push(server, repo_name)
    _check_without_credentials(server, repo_name, home / "anon")
    host, password = server.host, _password(server)
    entry = {"auth": base64.b64encode(f"alice:{password}".encode()).decode()}
    if style == "credHelpers":
        helper = home / "bin" / "docker-credential-lightertest"
        helper.parent.mkdir()
        answer = json.dumps({"ServerURL": host, "Username": "alice", "Secret": password})
        helper.write_text(
            f"#!/bin/sh\n[ \"$1\" = get ] && [ \"$(cat)\" = '{host}' ] && echo '{answer}' && exit 0\nexit 1\n"
        )
        helper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
        config: dict[str, object] = {"auths": {host: {}}, "credHelpers": {host: "lightertest"}}
    else:
        scheme = "https" if server.kind == "tls" else "http"
        config = {"auths": {f"{scheme}://{host}/v2/" if style == "url-key" else host: entry}}
    docker_config = home / "home" / ".docker" / "config.json"
    docker_config.parent.mkdir()
    docker_config.write_text(json.dumps(config))
    pulled = _pull(server, repo_name, home / "pulled")
    assert pulled.returncode == 0, pulled.stderr
    assert _pulled_digest(home / "pulled") == str(manifest.digest)
    _check_credentials_do_not_relax_tls(server, repo_name, home / "untrusted")


def test_login_over_tls_with_cert_dir(home: Path, tls_registry: RegistryServer) -> None:
    """The TLS registry needs no credentials (so any are accepted, as with skopeo); --cert-dir is what matters."""
    host = tls_registry.host
    untrusted = run("login", "-u", "alice", "-p", SECRET, host)
    assert untrusted.exit_code == 1 and "TLS" in untrusted.output
    assert not _auth_file(home).exists()
    trusted = run("login", "--cert-dir", str(tls_registry.ca_dir), "-u", "alice", "-p", SECRET, host)
    assert (trusted.exit_code, trusted.output) == (0, "Login Succeeded!\n")
    assert resolve_credentials(host) == Credentials("alice", SECRET)
