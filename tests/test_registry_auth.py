"""Registry authentication: challenge parsing, and every set-up against a real docker-registry."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lighter.digest import digest_bytes
from lighter.errors import AuthenticationError
from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name
from lighter.transports.registry import RegistryReference, tls
from lighter.transports.registry.challenge import Challenge, parse_challenges
from tests.fixtures_registry import RegistryServer

CHALLENGES = [
    ('Basic realm="registry"', [Challenge("basic", {"realm": "registry"})]),
    (
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
        [
            Challenge(
                "bearer",
                {
                    "realm": "https://auth.example/token",
                    "service": "registry.example",
                    "scope": "repository:a/b:pull,push",
                },
            )
        ],
    ),
    (
        'bearer realm="r", error="insufficient_scope", scope="repository:x:pull repository:y:pull,push"',
        [
            Challenge(
                "bearer",
                {"realm": "r", "error": "insufficient_scope", "scope": "repository:x:pull repository:y:pull,push"},
            )
        ],
    ),
    (
        'Basic realm="a, b", Bearer realm="t",service=s',
        [Challenge("basic", {"realm": "a, b"}), Challenge("bearer", {"realm": "t", "service": "s"})],
    ),
    ('Bearer realm="with \\"quotes\\""', [Challenge("bearer", {"realm": 'with "quotes"'})]),
    ("Negotiate abc123==", [Challenge("negotiate", {"token68": "abc123=="})]),
    ("Basic", [Challenge("basic", {})]),
    ("", []),
    ('Bearer REALM="x"', [Challenge("bearer", {"realm": "x"})]),
]


@pytest.mark.parametrize(("header", "expected"), CHALLENGES)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_parse_challenges_over_several_headers() -> None:
    assert [c.scheme for c in parse_challenges(['Basic realm="x"', 'Bearer realm="y"'])] == ["basic", "bearer"]


_TEXT = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=40)


@given(realm=_TEXT, scope=_TEXT)
def test_quoted_values_round_trip(realm: str, scope: str) -> None:
    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = f"Bearer realm={quote(realm)},service=reg,scope={quote(scope)}"
    assert parse_challenges(header) == [Challenge("bearer", {"realm": realm, "service": "reg", "scope": scope})]


@given(st.text(max_size=200))
def test_parser_never_crashes(header: str) -> None:
    for challenge in parse_challenges(header):
        assert challenge.scheme == challenge.scheme.lower()


# -- against real registries ---------------------------------------------------


def _ref(text: str) -> RegistryReference:
    ref = parse_image_name(text)
    assert isinstance(ref, RegistryReference)
    return ref


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["basic", "token"])
def test_wrong_password_is_one_line_without_the_password(
    kind: str, repo_name: str, request: pytest.FixtureRequest
) -> None:
    server: RegistryServer = request.getfixturevalue(f"{kind}_registry")
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        write_random_image(dest, seed=1)
    secret = "Wr0ng-S3cret-value"
    source = _ref(server.ref(f"{repo_name}:1")).new_source(server.options(creds=f"alice:{secret}"))
    with source, pytest.raises(AuthenticationError) as info:
        source.manifest()
    message = str(info.value)
    assert "\n" not in message
    assert secret not in message and (server.password or "") not in message
    assert server.host in message and "denied" in message
    assert info.value.status == 401


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["basic", "token"])
def test_anonymous_is_refused(kind: str, repo_name: str, request: pytest.FixtureRequest) -> None:
    server: RegistryServer = request.getfixturevalue(f"{kind}_registry")
    source = _ref(server.ref(f"{repo_name}:1")).new_source(server.options(creds=None))
    with source, pytest.raises(AuthenticationError) as info:
        source.manifest()
    assert f"authentication required for {server.host}" in str(info.value)


@pytest.mark.registry
def test_token_cached_per_scope(token_registry: RegistryServer, repo_name: str) -> None:
    server = token_registry
    assert server.token_server is not None
    before = len(server.token_server.requests)
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        write_random_image(dest, layer_sizes=(10, 20, 30), seed=2)
    pushes = server.token_server.requests[before:]
    # one push: one token for pull,push, reused by every blob and the manifest
    assert [r.scopes for r in pushes] == [(f"repository:{repo_name}:pull,push",)]
    assert all(r.user == "alice" and r.granted for r in pushes)
    before = len(server.token_server.requests)
    with _ref(server.ref(f"{repo_name}:1")).new_source(server.options()) as src:
        src.manifest()
        src.head_manifest()
    assert [r.scopes for r in server.token_server.requests[before:]] == [(f"repository:{repo_name}:pull",)]


@pytest.mark.registry
def test_registry_token_is_sent_as_is(token_registry: RegistryServer, repo_name: str) -> None:
    server = token_registry
    assert server.token_server is not None
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        pushed = write_random_image(dest, seed=3)
    token = server.token_server.issue("alice", [f"repository:{repo_name}:pull"])
    before = len(server.token_server.requests)
    with _ref(server.ref(f"{repo_name}:1")).new_source(server.options(creds=None, registry_token=token)) as src:
        assert src.manifest()[0] == pushed.raw
    assert len(server.token_server.requests) == before  # no token fetched
    source = _ref(server.ref(f"{repo_name}:1")).new_source(server.options(creds=None, registry_token="bogus"))
    with source, pytest.raises(AuthenticationError) as info:
        source.manifest()
    assert "bogus" not in str(info.value)


@pytest.mark.registry
def test_tls_is_verified_by_default(tls_registry: RegistryServer, repo_name: str) -> None:
    from lighter.errors import RegistryError

    source = _ref(tls_registry.ref(f"{repo_name}:1")).new_source(tls_registry.options(cert_dir=None))
    with source, pytest.raises(RegistryError) as info:
        source.manifest()
    assert "certificate" in str(info.value).lower()
    # --tls-verify=false accepts the self-signed set-up
    with _ref(tls_registry.ref(f"{repo_name}:1")).new_destination(
        tls_registry.options(cert_dir=None, tls_verify=False)
    ) as dest:
        pushed = write_random_image(dest, seed=4)
    with _ref(tls_registry.ref(f"{repo_name}:1")).new_source(tls_registry.options()) as src:
        assert src.manifest()[0] == pushed.raw


@pytest.mark.registry
@pytest.mark.interop
@pytest.mark.parametrize("kind", ["plain", "tls", "basic", "token"])
def test_skopeo_reads_what_lighter_pushed(kind: str, repo_name: str, request: pytest.FixtureRequest) -> None:
    server: RegistryServer = request.getfixturevalue("registry" if kind == "plain" else f"{kind}_registry")
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        pushed = write_random_image(dest, seed=5)
    result = subprocess.run(
        ["skopeo", "inspect", "--raw", *server.skopeo_args(), server.ref(f"{repo_name}:1")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == pushed.raw


@pytest.mark.registry
def test_expired_token_is_refreshed_on_401(token_registry: RegistryServer, repo_name: str) -> None:
    server = token_registry
    assert server.token_server is not None
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        pushed = write_random_image(dest, seed=8)
    # the next token is refused by the registry although the token server said it lasts 300 s
    server.token_server.expired_tokens = 1
    before = len(server.token_server.requests)
    with _ref(server.ref(f"{repo_name}:1")).new_source(server.options()) as src:
        assert src.manifest()[0] == pushed.raw
        with src.blob(pushed.layers[0]) as stream:
            assert digest_bytes(stream.read()) == pushed.layers[0].digest
    assert len(server.token_server.requests) == before + 2  # the refused token, then one that served both


@pytest.mark.registry
def test_identity_token_from_auth_file(token_registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    server = token_registry
    assert server.token_server is not None
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        pushed = write_random_image(dest, seed=9)
    refresh = "refresh-" + repo_name.replace("/", "-")
    server.token_server.refresh_tokens[refresh] = "alice"
    authfile = tmp_path / "auth.json"
    entry = {"auth": base64.b64encode(b"<token>:").decode(), "identitytoken": refresh}
    authfile.write_text(json.dumps({"auths": {server.host: entry}}))
    options = server.options(creds=None, authfile=str(authfile))
    before = len(server.token_server.requests)
    with _ref(server.ref(f"{repo_name}:1")).new_source(options) as src:
        assert src.manifest()[0] == pushed.raw
    asked = server.token_server.requests[before:]
    assert [(r.user, r.scopes, r.granted) for r in asked] == [("alice", (f"repository:{repo_name}:pull",), True)]


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["basic", "token"])
def test_debug_output_never_shows_secrets(
    kind: str, repo_name: str, request: pytest.FixtureRequest, run_lighter: Callable[..., Any], tmp_path: Path
) -> None:
    """``lighter --debug copy`` logs every request it makes, yet no password, Basic header or bearer token."""
    server: RegistryServer = request.getfixturevalue(f"{kind}_registry")
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options()) as dest:
        write_random_image(dest, layer_sizes=(5 * 1024 * 1024 + 3, 100), seed=12)
    issued_before = len(server.token_server.issued) if server.token_server else 0
    right, wrong = server.password or "", "Wr0ng-" + repo_name.replace("/", "-")
    outputs = {}
    for label, password in (("right", right), ("wrong", wrong)):
        creds = f"alice:{password}"
        done = run_lighter(
            "--debug",
            "copy",
            "--src-tls-verify=false",
            f"--src-creds={creds}",
            "--dest-tls-verify=false",
            f"--dest-creds={creds}",
            server.ref(f"{repo_name}:1"),
            server.ref(f"{repo_name}-{label}:1"),
        )
        assert done.returncode == (0 if label == "right" else 1), done.stderr
        outputs[label] = done.stdout + done.stderr
        assert f"registry {server.host} at http://{server.host}" in done.stderr  # debug logging was on
    assert "authentication denied" in outputs["wrong"]
    secrets = [right, wrong]
    secrets += [base64.b64encode(f"alice:{p}".encode()).decode() for p in (right, wrong)]
    if server.token_server is not None:
        tokens = server.token_server.issued[issued_before:]
        assert tokens, "the right password should have been granted tokens"
        secrets += tokens + [token.rsplit(".", 1)[1] for token in tokens]  # nor the signature alone
    for label, output in outputs.items():
        for secret in secrets:
            assert secret not in output, f"a secret leaked into the {label}-password output"


# -- TLS: certs.d and plain HTTP -------------------------------------------------


@pytest.fixture
def tmp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME (and XDG_CONFIG_HOME, the runtime dir) in tmp; no system certs.d: only what the test writes counts."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tls, "SYSTEM_CERT_DIRS", ())
    return home


def _user_certs_d(home: Path, host: str) -> Path:
    directory = home / ".config" / "containers" / "certs.d" / host
    directory.mkdir(parents=True)
    return directory


@pytest.mark.registry
def test_certs_d_in_home_verifies_tls(
    tls_registry: RegistryServer, repo_name: str, tmp_home: Path, run_lighter: Callable[..., Any]
) -> None:
    """~/.config/containers/certs.d/HOST:PORT/ca.crt is trusted without --cert-dir (containers-certs.d(5))."""
    from lighter.errors import RegistryError

    server = tls_registry
    assert server.ca_dir is not None
    options = server.options(cert_dir=None)  # verify, and no --cert-dir
    source = _ref(server.ref(f"{repo_name}:1")).new_source(options)
    with source, pytest.raises(RegistryError) as info:
        source.manifest()
    assert "certificate verify failed" in str(info.value)
    assert f"certs.d/{server.host}/ca.crt for a private CA" in str(info.value)
    shutil.copy(server.ca_dir / "ca.crt", _user_certs_d(tmp_home, server.host) / "ca.crt")
    with _ref(server.ref(f"{repo_name}:1")).new_destination(options) as dest:
        pushed = write_random_image(dest, seed=13)
    with _ref(server.ref(f"{repo_name}:1")).new_source(options) as src:
        assert src.manifest()[0] == pushed.raw
    # a fresh process with that HOME trusts it too
    done = run_lighter("list-tags", server.ref(repo_name))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Tags"] == ["1"]


@pytest.mark.registry
def test_system_certs_d_verifies_tls(
    tls_registry: RegistryServer, repo_name: str, tmp_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/etc/containers/certs.d (its root moved to tmp: tests never write to /etc) is read the same way."""
    server = tls_registry
    assert server.ca_dir is not None
    system = tmp_path / "etc-containers-certs.d"
    (system / server.host).mkdir(parents=True)
    shutil.copy(server.ca_dir / "ca.crt", system / server.host / "ca.crt")
    monkeypatch.setattr(tls, "SYSTEM_CERT_DIRS", (str(system), "/nonexistent/docker/certs.d"))
    with _ref(server.ref(f"{repo_name}:1")).new_destination(server.options(cert_dir=None)) as dest:
        pushed = write_random_image(dest, seed=14)
    with _ref(server.ref(f"{repo_name}:1")).new_source(server.options(cert_dir=None)) as src:
        assert src.manifest()[0] == pushed.raw


def test_docker_hub_certs_d_is_looked_up_as_docker_io(tmp_home: Path) -> None:
    """As containers/image: the name the user sees (docker.io), not the API host (registry-1.docker.io)."""
    from lighter.errors import InvalidInputError
    from lighter.transports.base import TransportOptions
    from lighter.transports.registry.client import RegistryClient

    api = _user_certs_d(tmp_home, "registry-1.docker.io") / "ca.crt"
    api.write_text("not a certificate\n")
    RegistryClient("docker.io", TransportOptions()).close()  # never read: no error
    hub = _user_certs_d(tmp_home, "docker.io") / "ca.crt"
    hub.write_text("not a certificate\n")
    with pytest.raises(InvalidInputError) as info:
        RegistryClient("docker.io", TransportOptions())
    assert str(info.value).startswith(f"cannot load CA certificate {hub}: ")


@pytest.mark.registry
def test_plain_http_without_tls_verify_false_says_so(
    registry: RegistryServer, repo_name: str, run_lighter: Callable[..., Any]
) -> None:
    from lighter.errors import RegistryError

    source = _ref(registry.ref(f"{repo_name}:1")).new_source(registry.options(tls_verify=None))
    with source, pytest.raises(RegistryError) as info:
        source.manifest()
    message = str(info.value)
    assert message.startswith(f"TLS error talking to https://{registry.host}/v2/: {registry.host} does not speak TLS (")
    assert message.endswith("): a plain-HTTP registry needs --tls-verify=false")
    done = run_lighter("list-tags", registry.ref(repo_name))
    assert done.returncode == 1
    assert done.stderr == f"lighter: error: {message}\n"
