"""A small token server for docker-registry's ``auth: token`` set-up (tests only).

It does what a real one (docker_auth, Harbor's core, Docker Hub's auth)
does for distribution 2.8: checks HTTP Basic credentials, and issues a JWT
signed with an EC key whose certificate goes in the token's ``x5c`` header;
the registry trusts it because the certificate chains to the CA written by
``write_root_bundle`` (the registry's ``rootcertbundle``).  The ``access``
claim grants the actions asked for in each ``scope`` parameter to known
users; anonymous requests get ``pull`` only when ``anonymous_pull`` is set.

Every request is recorded in ``requests`` as ``TokenRequest(user, scopes)``
and every token handed out in ``issued`` (so tests can look for it in output);
``expired_tokens = N`` makes the next N tokens arrive already expired.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TokenRequest:
    user: str | None
    scopes: tuple[str, ...]
    granted: bool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key or key, hashes.SHA256())


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``repository:NAME:pull,push`` -> (type, name, actions); NAME may not hold ':' but a type may hold '(class)'."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    return kind.split("(")[0], name, [a for a in actions.split(",") if a]


class TokenServer:
    """``with TokenServer({"alice": "pw"}) as ts: ts.realm``; see the module docstring."""

    def __init__(
        self,
        users: dict[str, str],
        *,
        service: str = "lighter-test-registry",
        issuer: str = "lighter-test-issuer",
        lifetime: int = 300,
        anonymous_pull: bool = False,
    ) -> None:
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.anonymous_pull = anonymous_pull
        self.requests: list[TokenRequest] = []
        #: every token handed out, in order
        self.issued: list[str] = []
        #: OAuth2 refresh tokens (what ``docker login`` stores as "identitytoken") -> user
        self.refresh_tokens: dict[str, str] = {}
        #: how many of the next tokens to issue already expired (while claiming ``expires_in``),
        #: as a revoked or early-expired token looks to a client
        self.expired_tokens = 0
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = _cert("lighter test token CA", self._ca_key, None, None, ca=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _cert("lighter test token signer", self._key, self.ca_cert, self._ca_key, ca=False)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> TokenServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="tokenserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def realm(self) -> str:
        assert self._server is not None, "token server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def write_root_bundle(self, path: Path) -> Path:
        path.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        return path

    # -- tokens --------------------------------------------------------------

    def authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """(ok, user) from an Authorization header; no header is anonymous (ok, None)."""
        if not header:
            return True, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False, None
        expected = self.users.get(user)
        if expected is None or not secrets.compare_digest(expected.encode(), password.encode()):
            return False, user
        return True, user

    def access(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        granted = []
        for scope in scopes:
            for part in scope.split():
                parsed = parse_scope(part)
                if parsed is None:
                    continue
                kind, name, actions = parsed
                allowed = actions if user is not None else [a for a in actions if a == "pull" and self.anonymous_pull]
                granted.append({"type": kind, "name": name, "actions": allowed})
        return granted

    def issue(self, user: str | None, scopes: list[str]) -> str:
        now = int(time.time())
        expired = self.expired_tokens > 0
        if expired:
            self.expired_tokens -= 1
            now -= 3600  # beyond distribution's 60 s leeway
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode("ascii")],
        }
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self.access(user, scopes),
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        token = f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        self.issued.append(token)
        return token


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="lighter-test-token"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            scopes = query.get("scope", [])
            ok, user = server.authenticate(self.headers.get("Authorization"))
            server.requests.append(TokenRequest(user, tuple(scopes), ok))
            if not ok:
                self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]})
                return
            if query.get("service", [server.service])[0] != server.service:
                self._send(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                return
            token = server.issue(user, scopes)
            issued = dt.datetime.now(dt.UTC).isoformat()
            self._send(200, {"token": token, "access_token": token, "expires_in": server.lifetime, "issued_at": issued})

        def do_POST(self) -> None:
            # OAuth2 token endpoint: grant_type=refresh_token (identity tokens) or password
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            scopes = " ".join(form.get("scope", [])).split()
            grant = form.get("grant_type", [""])[0]
            user: str | None = None
            if grant == "refresh_token":
                user = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
            elif grant == "password":
                name, password = form.get("username", [""])[0], form.get("password", [""])[0]
                user = name if server.users.get(name) == password else None
            server.requests.append(TokenRequest(user, tuple(scopes), user is not None))
            if user is None:
                self._send(401, {"error": "invalid_grant"})
                return
            token = server.issue(user, scopes)
            self._send(200, {"access_token": token, "expires_in": server.lifetime, "scope": " ".join(scopes)})

    return Handler
