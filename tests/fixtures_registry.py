"""Real registries for the tests: Debian's ``docker-registry`` on 127.0.0.1.

Fixtures (each server starts lazily on a random free port, once per test
session and xdist worker, and stops at the end; tests share it, so each
test uses its own repository name — ``repo_name`` gives one):

* ``registry``        plain HTTP, anonymous
* ``tls_registry``    HTTPS with a CA made here (``.ca_dir`` holds ``ca.crt``)
* ``basic_registry``  htpasswd Basic auth (``.username``, ``.password``; bcrypt)
* ``token_registry``  token auth through ``tests/tokenserver.py`` (``.token_server``)
* ``registry_factory(kind="plain", token_lifetime=300)`` a fresh server of that
  kind for one test (several at once for registry-to-registry copies; stopped
  after the test)
* ``fault_proxy(server)`` a ``tests.faultproxy.FaultProxy`` in front of ``server``
  (stopped after the test)
* ``repo_name``       ``"t/<test>-<random>"``, unique per test

A ``RegistryServer`` offers::

    .kind .host ("127.0.0.1:PORT") .url .root (storage dir)
    .username .password (auth kinds) .ca_dir (tls) .token_server (token)
    .ref(name) -> "docker://HOST/name"
    .options(**overrides) -> TransportOptions     what lighter needs (creds, cert_dir, tls_verify)
    .skopeo_args(side="") -> ["--src-tls-verify=false", "--src-creds=u:p", ...]  side "src"/"dest"/""
    .lighter_args(side="") -> the same flags for lighter's CLI
    .requests(since=0) -> [AccessLogEntry(method, path, status)] from the registry's access log
    .log_mark() -> int       a position for requests(since=...)
    .blob_upload_count(since=0, repository=None) -> completed blob uploads (PUT .../blobs/uploads/... 201)
    .mount_count(since=0, repository=None) -> successful cross-repository mounts (POST ...?mount= 201)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lighter.transports import TransportOptions
from tests.faultproxy import FaultProxy
from tests.tokenserver import TokenServer

REGISTRY_BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
KINDS = ("plain", "tls", "basic", "token")
USERNAME = "alice"
READY_TIMEOUT = 15.0
#: requests to this repository are the fixture's own log sentinels, never reported
SENTINEL = "lighter-log-sentinel"
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')

requires_registry = pytest.mark.skipif(not os.path.exists(REGISTRY_BINARY), reason="docker-registry is not installed")


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str
    status: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pem(obj: Any) -> bytes:
    return bytes(obj.public_bytes(serialization.Encoding.PEM))


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost; returns (ca dir, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lighter test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_dir = directory / "certs"
    ca_dir.mkdir(parents=True)
    (ca_dir / "ca.crt").write_bytes(_pem(ca))
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(_pem(cert))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_dir, cert_path, key_path


def _htpasswd(path: Path, username: str, password: str) -> None:
    import bcrypt  # docker-registry accepts only bcrypt entries

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{username}:{hashed}\n")


@dataclass
class RegistryServer:
    """One docker-registry process; see the module docstring."""

    kind: str
    workdir: Path
    port: int = 0
    username: str | None = None
    password: str | None = None
    ca_dir: Path | None = None
    token_server: TokenServer | None = None
    _process: subprocess.Popen[bytes] | None = None
    _extra_config: str = ""
    _cert: Path | None = field(default=None, repr=False)
    _key: Path | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.kind == 'tls' else 'http'}://{self.host}"

    @property
    def root(self) -> Path:
        return self.workdir / "storage"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def ref(self, name: str) -> str:
        return f"docker://{self.host}/{name}"

    # -- client flags ----------------------------------------------------------

    @property
    def creds(self) -> str | None:
        return f"{self.username}:{self.password}" if self.username else None

    def options(self, **overrides: Any) -> TransportOptions:
        values: dict[str, Any] = {"retry_delay": 0.05}
        if self.kind == "tls":
            values["cert_dir"] = str(self.ca_dir)
        else:
            values["tls_verify"] = False
        if self.creds:
            values["creds"] = self.creds
        values.update(overrides)
        return TransportOptions(**values)

    def skopeo_args(self, side: str = "") -> list[str]:
        prefix = f"--{side}-" if side else "--"
        args = [f"{prefix}cert-dir={self.ca_dir}"] if self.kind == "tls" else [f"{prefix}tls-verify=false"]
        if self.creds:
            args.append(f"{prefix}creds={self.creds}")
        return args

    lighter_args = skopeo_args

    # -- process -----------------------------------------------------------------

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  formatter: text",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.root}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: lighter-test-secret",
        ]
        if self.kind == "tls":
            lines += ["  tls:", f"    certificate: {self._cert}", f"    key: {self._key}"]
        if self.kind == "basic":
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: lighter-test",
                f"    path: {self.workdir / 'htpasswd'}",
            ]
        if self.kind == "token":
            assert self.token_server is not None
            bundle = self.token_server.write_root_bundle(self.workdir / "token-ca.pem")
            lines += [
                "auth:",
                "  token:",
                f"    realm: {self.token_server.realm}",
                f"    service: {self.token_server.service}",
                f"    issuer: {self.token_server.issuer}",
                f"    rootcertbundle: {bundle}",
            ]
        return "\n".join(lines) + "\n" + self._extra_config

    token_lifetime: int = 300

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        if self.kind == "tls":
            self.ca_dir, self._cert, self._key = make_tls_files(self.workdir / "tls")
        if self.kind in ("basic", "token"):
            self.username, self.password = USERNAME, "pw-" + uuid.uuid4().hex[:12]
        if self.kind == "basic":
            _htpasswd(self.workdir / "htpasswd", USERNAME, self.password or "")
        if self.kind == "token":
            self.token_server = TokenServer({USERNAME: self.password or ""}, lifetime=self.token_lifetime).start()

    def start(self) -> RegistryServer:
        self.prepare()
        for _ in range(5):
            self.port = _free_port()
            config = self.workdir / "config.yml"
            config.write_text(self._config())
            log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
            env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
            self._process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
            )
            log.close()
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"docker-registry ({self.kind}) did not start; log: {self.log_path.read_text()[-2000:]}")

    def _get(self, path: str) -> int:
        """One bare GET (no auth), for readiness and log sentinels; the status."""
        if self.kind == "tls":
            assert self.ca_dir is not None
            context = ssl.create_default_context(cafile=str(self.ca_dir / "ca.crt"))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(self.host, timeout=5, context=context)
        else:
            conn = http.client.HTTPConnection(self.host, timeout=5)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                if self._get("/v2/") in (200, 401):
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if self.token_server is not None:
            self.token_server.stop()

    # -- observing -----------------------------------------------------------

    def log_mark(self) -> int:
        return len(self._read_log())

    def _read_log(self) -> list[AccessLogEntry]:
        # An access-log line is written just after its answer.  A sentinel request sent now is
        # logged after every request already answered: once its line is there, so are theirs.
        sentinel = f"/v2/{SENTINEL}/{uuid.uuid4().hex}/tags/list"
        text = ""
        with contextlib.suppress(OSError):
            self._get(sentinel)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            if sentinel in text:
                break
            time.sleep(0.02)
        entries = (AccessLogEntry(m.group(1), m.group(2), int(m.group(3))) for m in _ACCESS.finditer(text))
        return [e for e in entries if not e.path.startswith(f"/v2/{SENTINEL}/")]

    def requests(self, since: int = 0) -> list[AccessLogEntry]:
        return self._read_log()[since:]

    def blob_upload_count(self, since: int = 0, repository: str | None = None) -> int:
        prefix = f"/v2/{repository}/blobs/uploads/" if repository else "/v2/"
        return sum(
            1
            for e in self.requests(since)
            if e.method == "PUT" and e.status == 201 and e.path.startswith(prefix) and "/blobs/uploads/" in e.path
        )

    def mount_count(self, since: int = 0, repository: str | None = None) -> int:
        prefix = f"/v2/{repository}/blobs/uploads/" if repository else "/v2/"
        return sum(
            1
            for e in self.requests(since)
            if e.method == "POST" and e.status == 201 and e.path.startswith(prefix) and "mount=" in e.path
        )


def skopeo_raw(server: RegistryServer, name: str) -> bytes:
    """What ``skopeo inspect --raw`` reads of NAME on ``server``: the far side's view of a manifest."""
    result = subprocess.run(
        ["skopeo", "inspect", "--raw", *server.skopeo_args(), server.ref(name)],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def start_registry(kind: str, workdir: Path, token_lifetime: int = 300) -> RegistryServer:
    """A running registry of ``kind``; ``token_lifetime`` (seconds) is what the token server grants."""
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not os.path.exists(REGISTRY_BINARY):
        pytest.skip("docker-registry is not installed")
    return RegistryServer(kind, workdir, token_lifetime=token_lifetime).start()


@contextlib.contextmanager
def _running(kind: str, workdir: Path) -> Iterator[RegistryServer]:
    server = start_registry(kind, workdir)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with _running("plain", tmp_path_factory.mktemp("registry-plain")) as server:
        yield server


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with _running("tls", tmp_path_factory.mktemp("registry-tls")) as server:
        yield server


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with _running("basic", tmp_path_factory.mktemp("registry-basic")) as server:
        yield server


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with _running("token", tmp_path_factory.mktemp("registry-token")) as server:
        yield server


@pytest.fixture
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryServer]]:
    started: list[RegistryServer] = []

    def start(kind: str = "plain", token_lifetime: int = 300) -> RegistryServer:
        server = start_registry(kind, tmp_path_factory.mktemp(f"registry-{kind}"), token_lifetime)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[RegistryServer], FaultProxy]]:
    proxies: list[FaultProxy] = []

    def start(server: RegistryServer) -> FaultProxy:
        tls = None
        if server.kind == "tls":
            assert server.ca_dir is not None
            tls = ssl.create_default_context(cafile=str(server.ca_dir / "ca.crt"))
        proxy = FaultProxy(server.host, tls).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40] or "test"
    return f"t/{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=KINDS)
def any_registry(request: pytest.FixtureRequest) -> RegistryServer:
    """Each of the four set-ups in turn (parametrised)."""
    server: RegistryServer = request.getfixturevalue(
        {"plain": "registry"}.get(request.param, f"{request.param}_registry")
    )
    return server
