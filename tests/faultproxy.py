"""A fault-injecting HTTP proxy in front of a real registry (the one allowed fake).

It forwards every request to the upstream registry (keeping ``Host``, so
the registry's ``Location`` URLs point back at the proxy) and records it;
rules set on it misbehave on purpose for the requests they match:

* ``drop_once(after=N)``: the first matching GET answer is cut after N body
  bytes (the connection is closed mid-blob);
* ``fail(times=N, status=503)``: answer ``status`` N times, then pass through;
* ``reset(times=N)``: read the request, then reset the connection (TCP RST)
  without answering, N times (recorded with status 0);
* ``cut_upload(after=N, skip=K, forward=False)``: the first matching PATCH
  after K of them is cut after N body bytes: the connection is reset without
  an answer; with ``forward`` those N bytes reach the registry first (it is
  left holding a torn chunk), else the registry never sees the request;
* ``flip_byte(offset=0)``: flip one byte of matching GET bodies;
* ``ignore_range()``: matching GETs go upstream without their ``Range``
  header (a server without ranges: 200 and the whole body);
* ``bad_content_range(shift=1, value=None)``: the ``Content-Range`` of a
  matching 206 answer starts ``shift`` bytes later than it should (or is
  replaced by ``value``);
* ``redirect(to=URL)``: answer matching GETs with a 307 to ``URL + path``
  (another proxy plays a storage backend);
* ``paginate_tags(n)``: serve ``/tags/list`` in pages of ``n`` with the
  spec's ``Link: <...?last=T&n=N>; rel="next"`` (distribution 2.8 ignores
  ``n``; distribution 3, Docker Hub and most cloud registries paginate).

``requests`` lists ``ProxiedRequest(method, path, status, authorization,
headers)`` (``headers``: the request's, without ``Authorization``);
``count(method, contains)`` counts them.  Rules match on the method and a
substring of the path (default: blob GETs); ``skip=K`` lets the first K
matching requests through untouched.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from lighter.transports import TransportOptions

BLOBS = "/blobs/sha256:"
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"})


@dataclass
class Rule:
    kind: str  # drop | fail | reset | cut | flip | norange | badrange | redirect | paginate
    method: str | None
    contains: str
    times: int | None  # None: forever
    after: int = 0
    status: int = 503
    retry_after: str | None = None
    target: str = ""
    skip: int = 0
    forward: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.contains in path and self.times != 0

    def use(self) -> None:
        if self.times is not None:
            self.times -= 1


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    status: int
    authorization: bool
    headers: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass
class FaultProxy:
    """``FaultProxy("127.0.0.1:5000").start()``; ``.host``/``.url`` are what clients use."""

    upstream: str
    upstream_tls: ssl.SSLContext | None = None
    requests: list[ProxiedRequest] = field(default_factory=list)
    _rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> FaultProxy:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="faultproxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def host(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, name: str) -> str:
        return f"docker://{self.host}/{name}"

    def options(self, **overrides: Any) -> TransportOptions:
        """Plain HTTP to the proxy; pass ``creds`` etc. for the registry behind it."""
        values: dict[str, Any] = {"tls_verify": False, "retry_delay": 0.01}
        values.update(overrides)
        return TransportOptions(**values)

    # -- rules ---------------------------------------------------------------

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def drop_once(self, after: int = 1024, contains: str = BLOBS, method: str = "GET") -> Rule:
        return self._add(Rule("drop", method, contains, 1, after=after))

    def fail(
        self,
        times: int,
        status: int = 503,
        contains: str = "",
        method: str | None = None,
        retry_after: str | None = None,
    ) -> Rule:
        return self._add(Rule("fail", method, contains, times, status=status, retry_after=retry_after))

    def reset(self, times: int, contains: str = "", method: str | None = None) -> Rule:
        return self._add(Rule("reset", method, contains, times))

    def cut_upload(self, after: int, skip: int = 0, forward: bool = False, contains: str = "/blobs/uploads/") -> Rule:
        return self._add(Rule("cut", "PATCH", contains, 1, after=after, skip=skip, forward=forward))

    def flip_byte(self, offset: int = 0, contains: str = BLOBS, times: int | None = None) -> Rule:
        return self._add(Rule("flip", "GET", contains, times, after=offset))

    def ignore_range(self, contains: str = BLOBS) -> Rule:
        return self._add(Rule("norange", "GET", contains, None))

    def bad_content_range(self, shift: int = 1, value: str | None = None, contains: str = BLOBS) -> Rule:
        return self._add(Rule("badrange", "GET", contains, None, after=shift, target=value or ""))

    def redirect(self, to: str, contains: str = BLOBS) -> Rule:
        return self._add(Rule("redirect", "GET", contains, None, target=to.rstrip("/")))

    def paginate_tags(self, page_size: int) -> Rule:
        return self._add(Rule("paginate", "GET", "/tags/list", None, after=page_size))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take_rule(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    if rule.skip > 0:
                        rule.skip -= 1
                        continue
                    rule.use()
                    return rule
        return None

    def record(self, method: str, path: str, status: int, authorization: bool) -> None:
        # the headers come from the handler's thread (subclasses override this four-argument hook)
        headers = dict(getattr(_handling, "headers", {}))
        with self._lock:
            self.requests.append(ProxiedRequest(method, path, status, authorization, headers))

    def find(self, method: str | None = None, contains: str = "") -> list[ProxiedRequest]:
        """The requests recorded so far with that method and a path containing ``contains``, in order."""
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def count(self, method: str | None = None, contains: str = "", status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method)
                and contains in r.path
                and (status is None or r.status == status)
            )

    def connect(self) -> http.client.HTTPConnection:
        if self.upstream_tls is not None:
            return http.client.HTTPSConnection(self.upstream, timeout=60, context=self.upstream_tls)
        return http.client.HTTPConnection(self.upstream, timeout=60)


#: the request the current handler thread is answering: its headers, for ``FaultProxy.record``
_handling = threading.local()


def _shifted(content_range: str, shift: int) -> str:
    """``bytes S-E/T`` with S moved by ``shift``."""
    unit, _, rest = content_range.partition(" ")
    span, _, total = rest.partition("/")
    start, _, end = span.partition("-")
    return f"{unit} {int(start) + shift}-{end}/{total}"


def _chunks_in(rfile: Any) -> Iterator[bytes]:
    """Decode a chunked request body."""
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        yield rfile.read(size)
        rfile.readline()


def _limited(rfile: Any, length: int) -> Iterator[bytes]:
    while length > 0:
        data = rfile.read(min(length, 1 << 20))
        if not data:
            return
        length -= len(data)
        yield data


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> Iterator[bytes] | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return _chunks_in(self.rfile)
            length = int(self.headers.get("Content-Length") or 0)
            return _limited(self.rfile, length) if length else None

        def _answer(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _reset(self) -> None:
            """Close with SO_LINGER 0: the client reads a connection reset, not an answer."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _cut(self, rule: Rule, body: Iterator[bytes] | None, headers: dict[str, str]) -> None:
            """Read ``rule.after`` bytes of the request body (forwarding them when asked), then reset."""
            head, left = [], rule.after
            for data in body or ():
                head.append(data[:left])
                left -= len(head[-1])
                if left <= 0:
                    break
            if rule.forward:
                conn = proxy.connect()
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for key, value in headers.items():
                        conn.putheader(key, value)
                    conn.endheaders()
                    conn.send(b"".join(head))
                finally:
                    conn.close()  # the registry reads a torn body
            self._reset()

        def _proxy(self) -> None:
            method, path = self.command, self.path
            authorization = "Authorization" in self.headers
            _handling.headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            body = self._body()
            rule = proxy.take_rule(method, path)
            if rule is not None and rule.kind in ("reset", "cut"):
                proxy.record(method, path, 0, authorization)
                if rule.kind == "cut":
                    self._cut(rule, body, {k: v for k, v in self.headers.items() if k.lower() not in _HOP})
                    return
                for _ in body or ():
                    pass
                self._reset()
                return
            if rule is not None and rule.kind in ("fail", "redirect"):
                for _ in body or ():
                    pass
                if rule.kind == "fail":
                    error = {"errors": [{"code": "UNAVAILABLE", "message": "injected failure"}]}
                    extra = {"Retry-After": rule.retry_after} if rule.retry_after else {}
                    self._answer(rule.status, {"Content-Type": "application/json", **extra}, json.dumps(error).encode())
                    proxy.record(method, path, rule.status, authorization)
                else:
                    self._answer(307, {"Location": rule.target + path})
                    proxy.record(method, path, 307, authorization)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers["X-Forwarded-Proto"] = "http"
            if rule is not None and rule.kind == "norange":
                headers = {k: v for k, v in headers.items() if k.lower() != "range"}
            if rule is not None and rule.kind == "paginate":
                self._paginate(path, headers, rule.after, authorization)
                return
            conn = proxy.connect()
            try:
                if body is not None and "Content-Length" not in headers:
                    conn.request(method, path, body=body, headers=headers, encode_chunked=True)
                else:
                    conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                proxy.record(method, path, resp.status, authorization)
                self._relay(resp, rule)
            finally:
                conn.close()

        def _paginate(self, path: str, headers: dict[str, str], page_size: int, authorization: bool) -> None:
            parts = urlsplit(path)
            query = parse_qs(parts.query)
            conn = proxy.connect()
            try:
                conn.request("GET", parts.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
            proxy.record("GET", path, resp.status, authorization)
            if resp.status != 200:
                self._answer(resp.status, {"Content-Type": "application/json"}, body)
                return
            data = json.loads(body)
            tags = sorted(data.get("tags") or [])
            last = query.get("last", [""])[0]
            size = int(query.get("n", [str(page_size)])[0])
            rest = [t for t in tags if t > last]
            data["tags"] = rest[:size]
            extra = {}
            if len(rest) > size:
                extra["Link"] = f'<{parts.path}?{urlencode({"last": rest[size - 1], "n": size})}>; rel="next"'
            self._answer(200, {"Content-Type": "application/json", **extra}, json.dumps(data).encode())

        def _relay(self, resp: http.client.HTTPResponse, rule: Rule | None) -> None:
            length = resp.getheader("Content-Length")
            data = b"" if self.command == "HEAD" else None
            if length is None and data is None:
                data = resp.read()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in _HOP and key.lower() != "content-length":
                    if key.lower() == "content-range" and rule is not None and rule.kind == "badrange":
                        value = rule.target or _shifted(value, rule.after)
                    self.send_header(key, value)
            self.send_header("Content-Length", length if length is not None else str(len(data or b"")))
            self.end_headers()
            if self.command == "HEAD":
                return
            if data is not None:
                self.wfile.write(data)
                return
            self._stream(resp, rule)

        def _stream(self, resp: http.client.HTTPResponse, rule: Rule | None) -> None:
            sent = 0
            while chunk := resp.read(1 << 16):
                if rule is not None and rule.kind == "flip" and sent <= rule.after < sent + len(chunk):
                    i = rule.after - sent
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
                if rule is not None and rule.kind == "drop" and sent + len(chunk) >= rule.after:
                    self.wfile.write(chunk[: rule.after - sent])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                sent += len(chunk)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy

    return Handler
