"""Registry credentials: where they come from, and the auth-file edits of ``login`` / ``logout``.

Precedence, highest first (skopeo's, with containers/image's ``pkg/docker/config``)::

    1. TransportOptions.creds           --creds USER:PASSWORD
    2. TransportOptions.registry_token  --registry-token TOKEN (a bearer token, used as is)
    3. TransportOptions.authfile        --authfile PATH: that file only
    4. $REGISTRY_AUTH_FILE              that file only
    5. the default chain, the first file holding something for the key wins:
         $XDG_RUNTIME_DIR/containers/auth.json
         $XDG_CONFIG_HOME/containers/auth.json  (~/.config/containers/auth.json)
         $DOCKER_CONFIG/config.json             (~/.docker/config.json)
         ~/.dockercfg                           (legacy: the "auths" map at top level)

A missing file is skipped (skopeo reads an absent ``--authfile`` as "no
credentials"); an unreadable or malformed one is an error naming the file.

Auth file format::

    {"auths": {"HOST[:PORT][/NAMESPACE/REPO]": {"auth": base64("USER:PASSWORD"),
                                                  "identitytoken": "..."}},
     "credHelpers": {"HOST": "NAME"},
     "credsStore": "NAME"}

Within one file: a ``credHelpers`` entry for the host decides alone (as in
containers/image); then ``credsStore`` (Docker's "all hosts" helper; a store
whose program is not installed is skipped, so a config.json copied from a
Docker Desktop machine does not break public pulls); then ``auths``, most
specific key first (``host/ns/repo``, ``host/ns``, ``host``), then keys
written as URLs (``https://index.docker.io/v1/`` is Docker Hub).  Helpers run
as ``docker-credential-NAME get`` with the server URL on stdin and answer
``{"Username", "Secret"}``; the user name ``<token>`` marks an identity token.

Secrets never reach a log line, an exception or a repr: messages name the
file, the key or the helper, never what they hold.  Helpers get secrets on
stdin, never in their argument list.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from lighter.errors import AuthenticationError, CredentialsError, InvalidInputError, NotLoggedInError
from lighter.localfs import atomic_write
from lighter.transports.base import TransportOptions

log = logging.getLogger(__name__)

#: The key Docker writes for Docker Hub, in auth files and credential helpers.
DOCKER_HUB_SERVER: Final = "https://index.docker.io/v1/"
#: What docker-credential-helpers print when they hold nothing for a server.
HELPER_NOT_FOUND: Final = "credentials not found in native keychain"
HELPER_TIMEOUT: Final = 60.0
#: Auth files are small; a bigger one is not an auth file.
MAX_AUTH_FILE: Final = 4 * 1024 * 1024

_DOCKER_HUB_HOSTS: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_PATH_COMPONENT: Final = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What to authenticate with: a user and password, an identity token, or a registry token.

    ``identity_token`` is an OAuth2 refresh token for the token server;
    ``registry_token`` is a bearer token sent to the registry as is.
    ``source`` says where they were found (for debug logs and error hints).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class AuthPath:
    """An auth file to read; ``legacy`` files (``~/.dockercfg``) hold the ``auths`` map at top level."""

    path: str
    legacy: bool = False


# ---------------------------------------------------------------- resolving


def resolve_credentials(
    host: str, options: TransportOptions | None = None, repository: str | None = None
) -> Credentials | None:
    """Credentials for ``host`` (``HOST[:PORT]``), or None to go anonymous.

    ``repository`` is the path on that host (``library/alpine``); with it,
    auth-file keys naming the repository or one of its namespaces are
    preferred to the bare host.
    """
    options = options or TransportOptions()
    if options.creds is not None:
        return parse_creds(options.creds)
    if options.registry_token:
        return Credentials(registry_token=options.registry_token, source="--registry-token")
    registry = _canonical_host(host)
    key = f"{registry}/{repository.strip('/')}" if repository else registry
    return lookup(key, auth_file_paths(options.authfile))


def parse_creds(value: str) -> Credentials:
    """``USER:PASSWORD`` as ``--creds`` gives it; the password may hold colons, the user may not."""
    if not value:
        raise CredentialsError("--creds is empty: expected USER:PASSWORD")
    username, sep, password = value.partition(":")
    if not username:
        raise CredentialsError("--creds has an empty user name: expected USER:PASSWORD")
    if not sep:
        raise CredentialsError(
            "--creds gives a user name but no password: expected USER:PASSWORD (lighter does not prompt)"
        )
    return Credentials(username=username, password=password, source="--creds")


def lookup(key: str, paths: list[AuthPath]) -> Credentials | None:
    """The first credentials for ``key`` (``host[/namespace/repo]``) found in ``paths``, in order."""
    registry = key.partition("/")[0]
    for auth_path in paths:
        found = _find_in_file(auth_path, registry, key)
        if found is not None:
            log.debug("credentials for %s from %s", key, found.source)
            return found
    log.debug("no credentials for %s", key)
    return None


def auth_file_paths(authfile: str | None = None) -> list[AuthPath]:
    """The auth files to read, in order; an explicit file (option or $REGISTRY_AUTH_FILE) is the only one."""
    explicit = authfile or os.environ.get("REGISTRY_AUTH_FILE")
    if explicit:
        return [AuthPath(explicit)]
    home = os.path.expanduser("~")
    paths: list[AuthPath] = []
    runtime = _runtime_auth_file(strict=False)
    if runtime is not None:
        paths.append(AuthPath(runtime))
    paths.append(AuthPath(_config_auth_file()))
    docker_config = os.environ.get("DOCKER_CONFIG")
    docker_dir = docker_config if docker_config else os.path.join(home, ".docker")
    paths.append(AuthPath(os.path.join(docker_dir, "config.json")))
    paths.append(AuthPath(os.path.join(home, ".dockercfg"), legacy=True))
    unique: list[AuthPath] = []
    for p in paths:
        if all(os.path.abspath(p.path) != os.path.abspath(q.path) for q in unique):
            unique.append(p)
    return unique


def default_auth_file() -> str:
    """The file ``login``/``logout`` edit: $REGISTRY_AUTH_FILE, else the containers runtime or config file."""
    explicit = os.environ.get("REGISTRY_AUTH_FILE")
    if explicit:
        return explicit
    return _runtime_auth_file(strict=True) or _config_auth_file()


def _runtime_auth_file(strict: bool) -> str | None:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime_dir:
        return None
    if not os.path.isdir(runtime_dir):
        # containers/image says so rather than silently writing elsewhere
        if strict:
            raise CredentialsError(
                f"{runtime_dir!r} set by $XDG_RUNTIME_DIR does not exist: create it or unset $XDG_RUNTIME_DIR"
            )
        log.debug("skipping %s/containers/auth.json: $XDG_RUNTIME_DIR does not exist", runtime_dir)
        return None
    return os.path.join(runtime_dir, "containers", "auth.json")


def _config_auth_file() -> str:
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config_home, "containers", "auth.json")


def _canonical_host(host: str) -> str:
    # Docker Hub's API host and legacy index name are the one registry users log into as docker.io
    return "docker.io" if host in _DOCKER_HUB_HOSTS else host


def auth_keys_for(key: str) -> list[str]:
    """Keys to try for ``key``, most specific first.

    >>> auth_keys_for("quay.io/ns/app")
    ['quay.io/ns/app', 'quay.io/ns', 'quay.io']
    """
    keys = [key]
    while "/" in key:
        key = key.rpartition("/")[0]
        keys.append(key)
    return keys


def normalize_auth_key(key: str, legacy: bool = False) -> str:
    """A key written as a URL (or any key of a legacy file) reduced to its host; Docker Hub spelt one way.

    >>> normalize_auth_key("https://index.docker.io/v1/")
    'index.docker.io'
    >>> normalize_auth_key("docker.io")
    'index.docker.io'
    """
    stripped = key.removeprefix("http://").removeprefix("https://")
    if legacy or stripped != key:
        stripped = stripped.partition("/")[0]
    return "index.docker.io" if stripped in _DOCKER_HUB_HOSTS else stripped


def _find_in_file(auth_path: AuthPath, registry: str, key: str) -> Credentials | None:
    doc = read_auth_file(auth_path.path, auth_path.legacy)
    if doc is None:
        return None
    helper = _helper_for(doc["credHelpers"], registry)
    if helper is not None:
        return helper_get(helper, registry)
    store = doc.get("credsStore")
    if store:
        found = helper_get(store, registry, missing_ok=True)
        if found is not None:
            return found
    auths: dict[str, Any] = doc["auths"]
    for candidate in [registry] if auth_path.legacy else auth_keys_for(key):
        if candidate in auths:
            return _decode_entry(auth_path.path, candidate, auths[candidate])
    wanted = normalize_auth_key(registry)
    for entry_key, entry in auths.items():
        if normalize_auth_key(entry_key, auth_path.legacy) == wanted:
            return _decode_entry(auth_path.path, entry_key, entry)
    return None


def _helper_for(helpers: dict[str, str], registry: str) -> str | None:
    if registry in helpers:
        return helpers[registry]
    wanted = normalize_auth_key(registry)
    for host, name in helpers.items():
        if normalize_auth_key(host) == wanted:
            return name
    return None


def _decode_entry(path: str, key: str, entry: dict[str, Any]) -> Credentials | None:
    """One ``auths`` entry; None for an empty one (Docker writes ``{}`` beside a credential helper)."""
    auth = _string_field(path, key, entry, "auth")
    identity = _string_field(path, key, entry, "identitytoken")
    registry_token = _string_field(path, key, entry, "registrytoken")
    if auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(
                f'auth file {path}: the "auth" of {key!r} is not base64 of "user:password"'
            ) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            log.warning('auth file %s: the "auth" of %r has no ":" between user and password; ignored', path, key)
            return None
        return Credentials(username, password.strip("\x00"), identity, registry_token, source=path)
    # Docker also reads "username"/"password" fields when "auth" is absent
    username = _string_field(path, key, entry, "username")
    password = _string_field(path, key, entry, "password")
    if username or identity or registry_token:
        return Credentials(username, password, identity, registry_token, source=path)
    return None


def _string_field(path: str, key: str, entry: dict[str, Any], name: str) -> str:
    value = entry.get(name, "")
    if not isinstance(value, str):
        raise CredentialsError(f"auth file {path}: {name!r} of {key!r} must be a string, got {_json_type(value)}")
    return value


# ---------------------------------------------------------------- auth files


def read_auth_file(path: str, legacy: bool = False) -> dict[str, Any] | None:
    """The parsed, checked file with ``auths`` and ``credHelpers`` always present; None when it does not exist."""
    doc = _load_auth_file(path, legacy)
    if doc is None:
        return None
    return {**doc, "auths": doc.get("auths", {}), "credHelpers": doc.get("credHelpers", {})}


def _load_auth_file(path: str, legacy: bool = False) -> dict[str, Any] | None:
    """The file as it is (checked, nothing added), or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_AUTH_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read auth file {path}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_AUTH_FILE:
        raise CredentialsError(f"auth file {path} is larger than {MAX_AUTH_FILE} bytes: not an auth file")
    doc = _parse_json(path, data)
    if legacy:
        doc = {"auths": doc}
    _check_structure(path, doc)
    return doc


def _parse_json(path: str, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CredentialsError(f"auth file {path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: the text around the error may be a secret
        raise CredentialsError(
            f"auth file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"auth file {path}: expected a JSON object, got {_json_type(doc)}")
    return doc


def _check_structure(path: str, doc: dict[str, Any]) -> None:
    auths = doc.get("auths", {})
    if not isinstance(auths, dict):
        raise CredentialsError(f'auth file {path}: "auths" must be an object, got {_json_type(auths)}')
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            raise CredentialsError(f"auth file {path}: the entry {key!r} must be an object, got {_json_type(entry)}")
    helpers = doc.get("credHelpers", {})
    if not isinstance(helpers, dict) or not all(isinstance(v, str) for v in helpers.values()):
        raise CredentialsError(f'auth file {path}: "credHelpers" must map hosts to helper names')
    store = doc.get("credsStore", "")
    if not isinstance(store, str):
        raise CredentialsError(f'auth file {path}: "credsStore" must be a string, got {_json_type(store)}')


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _edit_auth_file(path: str, editor: Callable[[dict[str, Any]], bool]) -> None:
    """Read ``path`` (absent: empty), let ``editor`` change it, write it back 0600 if it says so.

    Keys lighter does not know are kept: the file is shared with podman,
    skopeo, buildah and Docker.  A malformed file is refused, never overwritten.
    """
    doc = _load_auth_file(path)
    if doc is None:
        doc = {}
    doc.setdefault("auths", {})
    if not editor(doc):
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    data = json.dumps(doc, indent="\t", ensure_ascii=False).encode("utf-8") + b"\n"
    atomic_write(path, data, mode=0o600)


# ---------------------------------------------------------------- login / logout


def parse_login_key(arg: str) -> tuple[str, str]:
    """``(key, registry)`` for ``login``/``logout``: a URL becomes its ``host[:port]``; a repository path is kept.

    >>> parse_login_key("https://quay.io/v1/")
    ('quay.io', 'quay.io')
    >>> parse_login_key("localhost:5000/team/app")
    ('localhost:5000/team/app', 'localhost:5000')
    """
    key = arg
    if arg.startswith(("https://", "http://")):
        key = urlsplit(arg).netloc
    registry, _, path = key.partition("/")
    expected = "expected HOST[:PORT][/NAMESPACE/REPOSITORY] without tag or digest"
    if not registry or "@" in key or ":" in path or any(c.isspace() for c in key):
        raise InvalidInputError(f"invalid registry {arg!r}: {expected}")
    if path and not all(_PATH_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise InvalidInputError(f"invalid registry {arg!r}: {expected}")
    return key, registry


def check_username(key: str, username: str) -> None:
    """A user name an auth file can hold: not empty, no ``:`` (the file stores ``base64(user:password)``)."""
    if not username:
        raise CredentialsError(f"logging into {key}: a user name is required")
    if ":" in username:
        raise CredentialsError(f"logging into {key}: the user name must not contain ':'")


def login(host: str, username: str, password: str, authfile: str | None = None) -> str:
    """Store ``username``/``password`` for ``host`` (or ``host/namespace/repo``); return where they went.

    Written into ``authfile`` (default: ``default_auth_file()``) with mode
    0600, other entries and unknown keys kept; when that file names a
    credential helper for the host, the helper stores them instead, as
    containers/image does.  Nothing here checks them against the registry:
    that is the caller's ``verify`` step.
    """
    key, _ = parse_login_key(host)
    check_username(key, username)
    path = authfile or default_auth_file()
    where = path

    def edit(doc: dict[str, Any]) -> bool:
        nonlocal where
        helper = doc.get("credHelpers", {}).get(key)
        if helper is not None:
            helper_store(helper, key, username, password)
            where = f"credential helper docker-credential-{helper}"
            return False
        pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        doc["auths"][key] = {"auth": pair}
        return True

    _edit_auth_file(path, edit)
    log.debug("stored credentials for %s in %s", key, where)
    return where


def logout(host: str | None, authfile: str | None = None, all: bool = False) -> str:
    """Remove the entry for ``host`` (every entry with ``all``); return the file edited.

    An auth file named explicitly (``authfile`` or $REGISTRY_AUTH_FILE) must
    exist, as skopeo checks; NotLoggedInError when there is nothing to remove.
    """
    explicit = authfile or os.environ.get("REGISTRY_AUTH_FILE")
    path = explicit or default_auth_file()
    exists = os.path.exists(path)
    if explicit and not exists:
        raise CredentialsError(f"auth file {path} does not exist")
    if all:
        if exists:
            _edit_auth_file(path, _remove_all)
        return path
    if host is None:
        raise InvalidInputError("logout needs a registry, or --all")
    key, _ = parse_login_key(host)
    removed = False

    def edit(doc: dict[str, Any]) -> bool:
        nonlocal removed
        helper = doc.get("credHelpers", {}).get(key)
        if helper is not None and helper_erase(helper, key):
            removed = True
        if key in doc["auths"]:
            del doc["auths"][key]
            removed = True
            return True
        return False

    if exists:
        _edit_auth_file(path, edit)
    if not removed:
        raise NotLoggedInError(f"not logged into {key}")
    log.debug("removed credentials for %s from %s", key, path)
    return path


def _remove_all(doc: dict[str, Any]) -> bool:
    helpers: dict[str, str] = doc.get("credHelpers", {})
    for registry, helper in helpers.items():
        helper_erase(helper, registry)
    doc["auths"] = {}
    if helpers:
        doc["credHelpers"] = {}
    return True


def get_login(host: str, authfile: str | None = None) -> str:
    """The user name stored for ``host`` (``login --get-login``); NotLoggedInError when there is none."""
    key, _ = parse_login_key(host)
    found = lookup(key, auth_file_paths(authfile))
    if found is None or not found.username:
        raise NotLoggedInError(f"not logged into {key}")
    return found.username


def check_credentials(
    host: str, username: str, password: str, *, tls_verify: bool | None = None, cert_dir: str | None = None
) -> None:
    """Ask ``host`` whether it accepts these credentials, as ``login`` does before storing them.

    ``GET /v2/`` with Basic auth, or with a token the registry's token
    server grants for them (no scope: what ``docker login`` asks for).
    AuthenticationError when they are refused; a registry open to everyone
    accepts any credentials, as with skopeo.
    """
    # imported here: looking credentials up must not need the HTTP stack, and
    # the client itself imports this module
    from lighter.transports.registry.client import RegistryClient, read_body
    from lighter.transports.registry.errors import raise_for_status

    check_username(host, username)
    options = TransportOptions(creds=f"{username}:{password}", tls_verify=tls_verify, cert_dir=cert_dir, retry_times=1)
    refused = f"logging into {host}: invalid username/password"
    client = RegistryClient(host, options)
    try:
        resp = client.request("GET", "/v2/")
        status, body = resp.status, read_body(resp)
    except AuthenticationError as exc:  # the token server said no
        raise AuthenticationError(refused, exc.status) from None
    finally:
        client.close()
    if status == 200:
        return
    if status in (401, 403):
        raise AuthenticationError(refused, status)
    raise_for_status(status, body, host=host, repository="", what="/v2/")


# ---------------------------------------------------------------- credential helpers


def helper_get(name: str, registry: str, missing_ok: bool = False) -> Credentials | None:
    """Ask ``docker-credential-NAME`` for ``registry``'s credentials; None when it holds none.

    Docker Hub is asked for under Docker's key first, then as ``docker.io``.
    ``missing_ok`` turns "the program is not installed" into None.
    """
    program = f"docker-credential-{name}"
    servers = [DOCKER_HUB_SERVER, registry] if registry in _DOCKER_HUB_HOSTS else [registry]
    for server in servers:
        try:
            done = _run_helper(name, "get", server)
        except FileNotFoundError:
            if missing_ok:
                log.warning("credential helper %s not found on PATH; ignored", program)
                return None
            raise CredentialsError(f"credential helper {program} not found on PATH") from None
        if done.returncode != 0:
            if done.stdout.strip() == HELPER_NOT_FOUND:
                continue
            raise CredentialsError(f"credential helper {program} get {server} failed: {_helper_message(done)}")
        return _parse_helper_answer(program, server, done.stdout)
    return None


def _parse_helper_answer(program: str, server: str, text: str) -> Credentials | None:
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("Username", ""), str)
        or not isinstance(answer.get("Secret", ""), str)
    ):
        raise CredentialsError(f'credential helper {program} answered for {server} with no {{"Username", "Secret"}}')
    username: str = answer.get("Username", "")
    secret: str = answer.get("Secret", "")
    source = f"credential helper {program}"
    if username == "<token>":
        return Credentials(identity_token=secret, source=source)
    if not username and not secret:
        return None
    return Credentials(username=username, password=secret, source=source)


def helper_store(name: str, server: str, username: str, password: str) -> None:
    """``docker-credential-NAME store``, the secret on stdin."""
    payload = json.dumps({"ServerURL": server, "Username": username, "Secret": password})
    done = _run_or_fail(name, "store", payload)
    if done.returncode != 0:
        raise CredentialsError(
            f"credential helper docker-credential-{name} store {server} failed: {_helper_message(done)}"
        )


def helper_erase(name: str, server: str) -> bool:
    """``docker-credential-NAME erase``; False when the helper held nothing for ``server``."""
    done = _run_or_fail(name, "erase", server)
    if done.returncode == 0:
        return True
    if done.stdout.strip() == HELPER_NOT_FOUND:
        return False
    raise CredentialsError(f"credential helper docker-credential-{name} erase {server} failed: {_helper_message(done)}")


def _run_or_fail(name: str, action: str, stdin: str) -> subprocess.CompletedProcess[str]:
    try:
        return _run_helper(name, action, stdin)
    except FileNotFoundError:
        raise CredentialsError(f"credential helper docker-credential-{name} not found on PATH") from None


def _run_helper(name: str, action: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run a helper; FileNotFoundError when it is not installed."""
    program = f"docker-credential-{name}"
    if not name or "/" in name:
        raise CredentialsError(f"invalid credential helper name {name!r}")
    try:
        return subprocess.run(
            [program, action],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialsError(
            f"credential helper {program} {action} did not answer within {HELPER_TIMEOUT:.0f} s"
        ) from None
    except PermissionError:
        raise CredentialsError(f"credential helper {program} is not executable") from None


def _helper_message(done: subprocess.CompletedProcess[str]) -> str:
    # the helper's own one-line complaint (never its stdout on success, which holds the secret)
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    first = text[0][:200] if text else ""
    return f"exit status {done.returncode}" + (f": {first}" if first else "")
