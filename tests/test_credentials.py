"""Registry credentials: precedence, auth-file matching, credential helpers, login/logout edits.

Every test runs with HOME, XDG_* and the auth-file variables pointed into its
own tmp_path, so nothing of the machine's own configuration leaks in.
Credential helpers are real executables (``docker-credential-test``) put on
PATH, backed by a JSON file, speaking Docker's helper protocol.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lighter.errors import CredentialsError, InvalidInputError, NotLoggedInError
from lighter.transports import TransportOptions
from lighter.transports.registry.credentials import (
    Credentials,
    auth_file_paths,
    auth_keys_for,
    default_auth_file,
    get_login,
    login,
    logout,
    normalize_auth_key,
    parse_creds,
    parse_login_key,
    read_auth_file,
    resolve_credentials,
)

HOST = "registry.example:5000"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def _entry(user: str, password: str = "pw") -> dict[str, str]:
    return {"auth": _b64(f"{user}:{password}")}


class Env:
    """The auth-file locations of one test's isolated environment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.runtime = root / "run"
        self.config_home = root / "config"
        self.bin = root / "bin"
        self.helper_db = root / "helper-db.json"
        self.helper_log = root / "helper-log.txt"

    @property
    def runtime_file(self) -> Path:
        return self.runtime / "containers" / "auth.json"

    @property
    def config_file(self) -> Path:
        return self.config_home / "containers" / "auth.json"

    @property
    def docker_file(self) -> Path:
        return self.home / ".docker" / "config.json"

    @property
    def dockercfg(self) -> Path:
        return self.home / ".dockercfg"

    def helper_calls(self) -> list[str]:
        return self.helper_log.read_text().splitlines() if self.helper_log.exists() else []


HELPER = textwrap.dedent(
    """\
    #!{python}
    # A credential helper speaking docker-credential-helpers' protocol, backed by a JSON file.
    import json, os, sys
    db_path, log_path = os.environ["FAKE_HELPER_DB"], os.environ["FAKE_HELPER_LOG"]
    db = json.load(open(db_path)) if os.path.exists(db_path) else {{}}
    action, data = sys.argv[1], sys.stdin.read()
    if action == "store":
        item = json.loads(data)
        db[item["ServerURL"]] = [item["Username"], item["Secret"]]
        server = item["ServerURL"]
    else:
        server = data
    with open(log_path, "a") as log:
        log.write(f"{{os.path.basename(sys.argv[0])}} {{action}} {{server}}\\n")
    if server == "broken.example":
        print("the keychain is locked", file=sys.stderr)
        sys.exit(3)
    if action == "get":
        if server not in db:
            print("credentials not found in native keychain")
            sys.exit(1)
        user, secret = db[server]
        print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
    elif action == "erase":
        if server not in db:
            print("credentials not found in native keychain")
            sys.exit(1)
        del db[server]
    json.dump(db, open(db_path, "w"))
    """
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    e = Env(tmp_path)
    for d in (e.home, e.runtime, e.config_home, e.bin):
        d.mkdir()
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(e.home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(e.runtime))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e.config_home))
    monkeypatch.setenv("PATH", f"{e.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELPER_DB", str(e.helper_db))
    monkeypatch.setenv("FAKE_HELPER_LOG", str(e.helper_log))
    return e


def _install_helper(env: Env, name: str = "test", db: dict[str, list[str]] | None = None) -> None:
    script = env.bin / f"docker-credential-{name}"
    script.write_text(HELPER.format(python=sys.executable))
    script.chmod(0o755)
    if db is not None:
        env.helper_db.write_text(json.dumps(db))


# ---------------------------------------------------------------- precedence

SOURCES = ["creds", "registry_token", "authfile", "REGISTRY_AUTH_FILE", "runtime", "config", "docker", "dockercfg"]


def _enable(env: Env, monkeypatch: pytest.MonkeyPatch, enabled: list[str]) -> TransportOptions:
    creds = token = authfile = None
    for source in enabled:
        if source == "creds":
            creds = "cli-user:cli-pw"
        elif source == "registry_token":
            token = "tok-123"
        elif source == "authfile":
            authfile = str(_write(env.root / "explicit.json", {"auths": {HOST: _entry("authfile-user")}}))
        elif source == "REGISTRY_AUTH_FILE":
            path = _write(env.root / "env.json", {"auths": {HOST: _entry("envfile-user")}})
            monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
        elif source == "runtime":
            _write(env.runtime_file, {"auths": {HOST: _entry("runtime-user")}})
        elif source == "config":
            _write(env.config_file, {"auths": {HOST: _entry("config-user")}})
        elif source == "docker":
            _write(env.docker_file, {"auths": {HOST: _entry("docker-user")}})
        elif source == "dockercfg":
            _write(env.dockercfg, {f"https://{HOST}/v1/": {**_entry("legacy-user"), "email": "x@y"}})
    return TransportOptions(creds=creds, registry_token=token, authfile=authfile)


EXPECTED = {
    "creds": Credentials("cli-user", "cli-pw"),
    "registry_token": Credentials(registry_token="tok-123"),
    "authfile": Credentials("authfile-user", "pw"),
    "REGISTRY_AUTH_FILE": Credentials("envfile-user", "pw"),
    "runtime": Credentials("runtime-user", "pw"),
    "config": Credentials("config-user", "pw"),
    "docker": Credentials("docker-user", "pw"),
    "dockercfg": Credentials("legacy-user", "pw"),
}


@pytest.mark.parametrize("first", range(len(SOURCES)), ids=SOURCES)
def test_precedence(env: Env, monkeypatch: pytest.MonkeyPatch, first: int) -> None:
    """With every source from ``first`` on holding credentials, ``first`` wins."""
    options = _enable(env, monkeypatch, SOURCES[first:])
    assert resolve_credentials(HOST, options) == EXPECTED[SOURCES[first]]


@pytest.mark.parametrize("only", SOURCES)
def test_each_source_alone(env: Env, monkeypatch: pytest.MonkeyPatch, only: str) -> None:
    options = _enable(env, monkeypatch, [only])
    found = resolve_credentials(HOST, options)
    assert found == EXPECTED[only]
    assert found is not None and found.source


def test_nothing_configured_is_anonymous(env: Env) -> None:
    assert resolve_credentials(HOST) is None
    assert resolve_credentials(HOST, TransportOptions(), "a/b") is None


@pytest.mark.parametrize("explicit", ["authfile", "REGISTRY_AUTH_FILE"])
def test_explicit_auth_file_is_the_only_one_read(env: Env, monkeypatch: pytest.MonkeyPatch, explicit: str) -> None:
    """As containers/image: a file the user names replaces the default chain, even when it lacks the host."""
    _write(env.runtime_file, {"auths": {HOST: _entry("runtime-user")}})
    path = _write(env.root / "other.json", {"auths": {"elsewhere.example": _entry("x")}})
    options = TransportOptions(authfile=str(path)) if explicit == "authfile" else TransportOptions()
    if explicit == "REGISTRY_AUTH_FILE":
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    assert resolve_credentials(HOST, options) is None


def test_missing_explicit_auth_file_means_anonymous(env: Env) -> None:
    """skopeo reads an absent --authfile as holding nothing."""
    assert resolve_credentials(HOST, TransportOptions(authfile=str(env.root / "absent.json"))) is None


def test_docker_config_variable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(env.docker_file, {"auths": {HOST: _entry("home-docker")}})
    elsewhere = _write(env.root / "dockercfgdir" / "config.json", {"auths": {HOST: _entry("env-docker")}})
    monkeypatch.setenv("DOCKER_CONFIG", str(elsewhere.parent))
    assert resolve_credentials(HOST) == Credentials("env-docker", "pw")


def test_chain_without_runtime_dir(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    paths = [p.path for p in auth_file_paths()]
    home = str(env.home)
    assert paths == [
        f"{home}/.config/containers/auth.json",
        f"{home}/.docker/config.json",
        f"{home}/.dockercfg",
    ]
    assert [p.legacy for p in auth_file_paths()] == [False, False, True]


def test_runtime_dir_that_does_not_exist_is_skipped_for_reading(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(env.root / "no-such-dir"))
    _write(env.config_file, {"auths": {HOST: _entry("config-user")}})
    assert resolve_credentials(HOST) == Credentials("config-user", "pw")


def test_empty_entry_falls_through_to_the_next_file(env: Env) -> None:
    """Docker writes ``"host": {}`` beside a credential helper: that is not a credential."""
    _write(env.runtime_file, {"auths": {HOST: {}}})
    _write(env.docker_file, {"auths": {HOST: _entry("docker-user")}})
    assert resolve_credentials(HOST) == Credentials("docker-user", "pw")


# ---------------------------------------------------------------- parsing --creds


def test_parse_creds() -> None:
    assert parse_creds("u:p") == Credentials("u", "p")
    assert parse_creds("u:p:with:colons") == Credentials("u", "p:with:colons")
    assert parse_creds("u:") == Credentials("u", "")


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "empty"), (":secret-pw", "empty user name"), ("only-user", "no password")],
)
def test_parse_creds_refuses(value: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as info:
        parse_creds(value)
    assert "secret-pw" not in str(info.value)


def test_creds_without_password_is_refused_via_options(env: Env) -> None:
    with pytest.raises(CredentialsError, match="USER:PASSWORD"):
        resolve_credentials(HOST, TransportOptions(creds="someone"))


# ---------------------------------------------------------------- matching keys


def test_auth_keys_most_specific_first() -> None:
    assert auth_keys_for("quay.io/a/b/c") == ["quay.io/a/b/c", "quay.io/a/b", "quay.io/a", "quay.io"]
    assert auth_keys_for("localhost:5000") == ["localhost:5000"]


@pytest.mark.parametrize(
    ("repository", "user"),
    [
        ("team/app", "repo-user"),
        ("team/app/sub", "repo-user"),
        ("team/other", "namespace-user"),
        ("team", "namespace-user"),
        ("elsewhere/app", "host-user"),
        (None, "host-user"),
        ("teamapp", "host-user"),  # a prefix of a key's text is not a namespace
    ],
)
def test_most_specific_key_wins(env: Env, repository: str | None, user: str) -> None:
    _write(
        env.runtime_file,
        {
            "auths": {
                HOST: _entry("host-user"),
                f"{HOST}/team": _entry("namespace-user"),
                f"{HOST}/team/app": _entry("repo-user"),
            }
        },
    )
    found = resolve_credentials(HOST, None, repository)
    assert found is not None and found.username == user


def test_namespaced_key_in_an_earlier_file_beats_host_key_in_a_later_one(env: Env) -> None:
    _write(env.runtime_file, {"auths": {f"{HOST}/team": _entry("ns-user")}})
    _write(env.docker_file, {"auths": {HOST: _entry("host-user")}})
    assert resolve_credentials(HOST, None, "team/app") == Credentials("ns-user", "pw")
    assert resolve_credentials(HOST, None, "other/app") == Credentials("host-user", "pw")


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("http://registry.example:5000/v2/", HOST),
        ("https://registry.example:5000", HOST),
    ],
)
def test_url_keys_are_normalised(env: Env, key: str, host: str) -> None:
    _write(env.docker_file, {"auths": {key: _entry("url-user")}})
    assert resolve_credentials(host, None, "library/alpine") == Credentials("url-user", "pw")


def test_exact_key_beats_url_key(env: Env) -> None:
    _write(env.docker_file, {"auths": {"https://index.docker.io/v1/": _entry("url"), "docker.io": _entry("exact")}})
    assert resolve_credentials("docker.io", None, "library/alpine") == Credentials("exact", "pw")


def test_docker_hub_api_host_finds_docker_io_keys(env: Env) -> None:
    _write(env.runtime_file, {"auths": {"docker.io/library": _entry("lib-user")}})
    assert resolve_credentials("registry-1.docker.io", None, "library/alpine") == Credentials("lib-user", "pw")


def test_url_key_does_not_match_a_namespace_key_of_another_host(env: Env) -> None:
    _write(env.docker_file, {"auths": {"https://other.example/v1/": _entry("other")}})
    assert resolve_credentials(HOST) is None


def test_normalize_auth_key() -> None:
    assert normalize_auth_key("https://index.docker.io/v1/") == "index.docker.io"
    assert normalize_auth_key("quay.io/ns") == "quay.io/ns"  # not a URL: a namespace key stays as it is
    assert normalize_auth_key("quay.io/ns", legacy=True) == "quay.io"


def test_entry_fields(env: Env) -> None:
    _write(
        env.runtime_file,
        {
            "auths": {
                "colon.example": {"auth": _b64("user:pa:ss\x00\x00")},
                "token.example": {"auth": _b64("user:pw"), "identitytoken": "refresh-me"},
                "onlytoken.example": {"identitytoken": "refresh-only"},
                "fields.example": {"username": "plain", "password": "text"},
                "nocolon.example": {"auth": _b64("justauser")},
            }
        },
    )
    assert resolve_credentials("colon.example") == Credentials("user", "pa:ss")
    assert resolve_credentials("token.example") == Credentials("user", "pw", identity_token="refresh-me")
    assert resolve_credentials("onlytoken.example") == Credentials(identity_token="refresh-only")
    assert resolve_credentials("fields.example") == Credentials("plain", "text")
    assert resolve_credentials("nocolon.example") is None


def test_repr_and_str_hide_secrets() -> None:
    creds = Credentials("alice", "hunter2-secret", identity_token="idtok-secret", registry_token="regtok-secret")
    for text in (repr(creds), str(creds)):
        assert "alice" in text
        for secret in ("hunter2-secret", "idtok-secret", "regtok-secret"):
            assert secret not in text


# ---------------------------------------------------------------- malformed files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"auths": {"h": {"auth": "s3cr3t-value', "not valid JSON"),
        ("", "not valid JSON"),
        ('["s3cr3t-value"]', "expected a JSON object, got an array"),
        ('{"auths": ["s3cr3t-value"]}', '"auths" must be an object, got an array'),
        ('{"auths": {"h": "s3cr3t-value"}}', "entry 'h' must be an object, got a string"),
        ('{"auths": {"h": {"auth": 12}}}', "'auth' of 'h' must be a string, got a number"),
        ('{"credHelpers": {"h": 1}}', '"credHelpers" must map hosts to helper names'),
        ('{"credsStore": ["s3cr3t-value"]}', '"credsStore" must be a string'),
        ('{"auths": {"h": {"auth": "s3cr3t-value!!"}}}', "not base64"),
    ],
)
def test_malformed_auth_file(env: Env, content: str, message: str) -> None:
    path = _write(env.runtime_file, content)
    with pytest.raises(CredentialsError, match=message) as info:
        resolve_credentials("h")
    text = str(info.value)
    assert str(path) in text
    assert "s3cr3t" not in text
    assert "\n" not in text


def test_invalid_utf8_auth_file(env: Env) -> None:
    env.runtime_file.parent.mkdir(parents=True)
    env.runtime_file.write_bytes(b'{"auths": {"h": {"auth": "\xff\xfe"}}}')
    with pytest.raises(CredentialsError, match="not UTF-8"):
        resolve_credentials("h")


def test_unreadable_auth_file(env: Env) -> None:
    env.runtime_file.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(CredentialsError, match=re.escape(f"cannot read auth file {env.runtime_file}")):
        resolve_credentials(HOST)


def test_malformed_file_of_another_host_still_fails(env: Env) -> None:
    """A broken file is reported, not skipped: silently going anonymous would hide the mistake."""
    _write(env.runtime_file, "{broken")
    _write(env.docker_file, {"auths": {HOST: _entry("docker-user")}})
    with pytest.raises(CredentialsError, match=re.escape(str(env.runtime_file))):
        resolve_credentials(HOST)


# ---------------------------------------------------------------- credential helpers


def test_cred_helper(env: Env) -> None:
    _install_helper(env, db={HOST: ["helper-user", "helper-secret"]})
    _write(env.docker_file, {"auths": {HOST: _entry("file-user")}, "credHelpers": {HOST: "test"}})
    found = resolve_credentials(HOST, None, "team/app")
    assert found == Credentials("helper-user", "helper-secret")
    assert found is not None and found.source == "credential helper docker-credential-test"
    assert env.helper_calls() == [f"docker-credential-test get {HOST}"]


def test_cred_helper_identity_token(env: Env) -> None:
    _install_helper(env, db={HOST: ["<token>", "refresh-token"]})
    _write(env.docker_file, {"credHelpers": {HOST: "test"}})
    assert resolve_credentials(HOST) == Credentials(identity_token="refresh-token")


def test_cred_helper_holding_nothing_falls_through_to_the_next_file(env: Env) -> None:
    _install_helper(env, db={})
    _write(env.runtime_file, {"auths": {HOST: _entry("ignored")}, "credHelpers": {HOST: "test"}})
    _write(env.docker_file, {"auths": {HOST: _entry("docker-user")}})
    assert resolve_credentials(HOST) == Credentials("docker-user", "pw")


def test_cred_helper_not_installed(env: Env) -> None:
    _write(env.docker_file, {"credHelpers": {HOST: "absent"}})
    with pytest.raises(CredentialsError, match="docker-credential-absent not found on PATH"):
        resolve_credentials(HOST)


def test_cred_helper_failure_is_reported(env: Env) -> None:
    _install_helper(env)
    _write(env.docker_file, {"credHelpers": {"broken.example": "test"}})
    with pytest.raises(CredentialsError, match="exit status 3: the keychain is locked"):
        resolve_credentials("broken.example")


def test_creds_store_serves_every_host(env: Env) -> None:
    _install_helper(env, db={HOST: ["store-user", "store-secret"]})
    _write(env.docker_file, {"auths": {HOST: {}, "other.example": _entry("other")}, "credsStore": "test"})
    assert resolve_credentials(HOST) == Credentials("store-user", "store-secret")
    assert resolve_credentials("other.example") == Credentials("other", "pw")


def test_creds_store_not_installed_is_skipped(env: Env) -> None:
    """A config.json copied from Docker Desktop (credsStore: desktop) must not break other hosts."""
    _write(env.docker_file, {"auths": {HOST: _entry("file-user")}, "credsStore": "desktop-absent"})
    assert resolve_credentials(HOST) == Credentials("file-user", "pw")
    assert resolve_credentials("nothing.example") is None


def test_docker_hub_helper_asked_with_dockers_server_url(env: Env) -> None:
    _install_helper(env, db={"https://index.docker.io/v1/": ["hub-user", "hub-secret"]})
    _write(env.docker_file, {"credHelpers": {"index.docker.io": "test"}})
    assert resolve_credentials("docker.io", None, "library/alpine") == Credentials("hub-user", "hub-secret")


def test_helper_answer_that_is_not_json(env: Env) -> None:
    script = env.bin / "docker-credential-junk"
    script.write_text("#!/bin/sh\necho 'secret-junk-output'\n")
    script.chmod(0o755)
    _write(env.docker_file, {"credHelpers": {HOST: "junk"}})
    with pytest.raises(CredentialsError, match="docker-credential-junk answered") as info:
        resolve_credentials(HOST)
    assert "secret-junk-output" not in str(info.value)


# ---------------------------------------------------------------- login


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_login_writes_the_runtime_file_0600(env: Env) -> None:
    where = login(HOST, "alice", "s3cret")
    assert where == str(env.runtime_file) == default_auth_file()
    assert _mode(env.runtime_file) == 0o600
    assert _mode(env.runtime_file.parent) == 0o700
    assert json.loads(env.runtime_file.read_text()) == {"auths": {HOST: {"auth": _b64("alice:s3cret")}}}
    assert resolve_credentials(HOST) == Credentials("alice", "s3cret")


def test_login_without_runtime_dir_writes_the_config_file(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert login(HOST, "alice", "pw") == str(env.config_file)
    assert _mode(env.config_file) == 0o600


def test_login_with_missing_runtime_dir_is_refused(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(env.root / "gone"))
    with pytest.raises(CredentialsError, match=r"XDG_RUNTIME_DIR does not exist"):
        login(HOST, "alice", "pw")


def test_login_honours_registry_auth_file(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    target = env.root / "deep" / "dir" / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(target))
    assert login(HOST, "alice", "pw") == str(target)
    assert _mode(target) == 0o600
    assert not env.runtime_file.exists()


def test_login_merges_and_keeps_unknown_keys(env: Env) -> None:
    path = env.root / "auth.json"
    auths = {"other.example": {"auth": _b64("bob:pw"), "email": "bob@example"}, HOST: _entry("old")}
    original: dict[str, Any] = {
        "auths": auths,
        "credHelpers": {"helper.example": "test"},
        "HttpHeaders": {"User-Agent": "x"},
        "psFormat": "table",
    }
    _write(path, original)
    path.chmod(0o644)
    login(HOST, "alice", "new-pw", authfile=str(path))
    doc = json.loads(path.read_text())
    assert doc == {**original, "auths": {**auths, HOST: {"auth": _b64("alice:new-pw")}}}
    assert _mode(path) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_login_namespaced_key(env: Env) -> None:
    login(f"{HOST}/team/app", "team-user", "pw")
    login(HOST, "host-user", "pw")
    assert resolve_credentials(HOST, None, "team/app") == Credentials("team-user", "pw")
    assert resolve_credentials(HOST, None, "team/other") == Credentials("host-user", "pw")


def test_login_url_argument_stores_the_host(env: Env) -> None:
    login("https://registry.example:5000/v2/", "alice", "pw")
    assert list(json.loads(env.runtime_file.read_text())["auths"]) == [HOST]


def test_login_into_a_cred_helper_host_uses_the_helper(env: Env) -> None:
    _install_helper(env, db={})
    path = _write(env.root / "auth.json", {"auths": {}, "credHelpers": {HOST: "test"}})
    before = path.read_bytes()
    where = login(HOST, "alice", "helper-pw", authfile=str(path))
    assert where == "credential helper docker-credential-test"
    assert path.read_bytes() == before
    assert json.loads(env.helper_db.read_text()) == {HOST: ["alice", "helper-pw"]}
    assert resolve_credentials(HOST, TransportOptions(authfile=str(path))) == Credentials("alice", "helper-pw")
    logout(HOST, authfile=str(path))
    assert json.loads(env.helper_db.read_text()) == {}


def test_login_refuses_a_malformed_file_and_leaves_it(env: Env) -> None:
    path = _write(env.root / "auth.json", '{"auths": {"x": {"auth": "secret-part')
    with pytest.raises(CredentialsError, match="not valid JSON") as info:
        login(HOST, "alice", "pw", authfile=str(path))
    assert "secret-part" not in str(info.value)
    assert path.read_text() == '{"auths": {"x": {"auth": "secret-part'


@pytest.mark.parametrize(
    ("user", "message"),
    [("", "user name is required"), ("a:b", "must not contain ':'")],
)
def test_login_refuses_bad_user_names(env: Env, user: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        login(HOST, user, "pw")
    assert not env.runtime_file.exists()


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("quay.io", ("quay.io", "quay.io")),
        ("https://quay.io/v1/", ("quay.io", "quay.io")),
        ("http://localhost:5000", ("localhost:5000", "localhost:5000")),
        ("localhost:5000/a/b", ("localhost:5000/a/b", "localhost:5000")),
    ],
)
def test_parse_login_key(arg: str, expected: tuple[str, str]) -> None:
    assert parse_login_key(arg) == expected


@pytest.mark.parametrize("arg", ["", "quay.io/app:tag", "quay.io/app@sha256:00", "quay.io/App", "a b", "/x"])
def test_parse_login_key_refuses(arg: str) -> None:
    with pytest.raises(InvalidInputError, match="expected HOST"):
        parse_login_key(arg)


def test_login_file_is_read_by_skopeo(env: Env) -> None:
    """Interop: skopeo (containers/image) finds the user lighter stored."""
    path = env.root / "auth.json"
    login(HOST, "alice", "pw", authfile=str(path))
    done = subprocess.run(
        ["skopeo", "login", "--get-login", "--authfile", str(path), HOST],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "alice\n"), done.stderr


# ---------------------------------------------------------------- logout / get_login


def test_logout_removes_only_that_entry(env: Env) -> None:
    login(HOST, "alice", "pw")
    login("other.example", "bob", "pw")
    assert logout(HOST) == str(env.runtime_file)
    assert list(json.loads(env.runtime_file.read_text())["auths"]) == ["other.example"]
    assert _mode(env.runtime_file) == 0o600
    assert resolve_credentials(HOST) is None


def test_logout_of_absent_entry(env: Env) -> None:
    login("other.example", "bob", "pw")
    with pytest.raises(NotLoggedInError, match=f"^not logged into {re.escape(HOST)}$"):
        logout(HOST)


def test_logout_without_any_file(env: Env) -> None:
    with pytest.raises(NotLoggedInError, match=f"not logged into {re.escape(HOST)}"):
        logout(HOST)
    assert not env.runtime_file.exists()


def test_logout_with_missing_explicit_file(env: Env) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        logout(HOST, authfile=str(env.root / "absent.json"))


def test_logout_all(env: Env) -> None:
    _install_helper(env, db={"helper.example": ["u", "p"]})
    path = _write(
        env.runtime_file,
        {"auths": {HOST: _entry("a"), "b.example": _entry("b")}, "credHelpers": {"helper.example": "test"}, "k": 1},
    )
    logout(None, all=True)
    assert json.loads(path.read_text()) == {"auths": {}, "credHelpers": {}, "k": 1}
    assert json.loads(env.helper_db.read_text()) == {}
    logout(None, all=True)  # nothing left: still fine


def test_logout_all_without_file_does_not_create_one(env: Env) -> None:
    logout(None, all=True)
    assert not env.runtime_file.exists()


def test_get_login(env: Env) -> None:
    login(HOST, "alice", "pw")
    assert get_login(HOST) == "alice"
    with pytest.raises(NotLoggedInError, match=r"not logged into other\.example"):
        get_login("other.example")


def test_read_auth_file_defaults(env: Env) -> None:
    assert read_auth_file(str(env.root / "absent.json")) is None
    path = _write(env.root / "a.json", {"credsStore": "x"})
    assert read_auth_file(str(path)) == {"credsStore": "x", "auths": {}, "credHelpers": {}}
