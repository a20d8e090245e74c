"""A TCP proxy on 127.0.0.1 that puts a registry "far away": one round trip of delay per request.

Loopback answers in microseconds, so on it a fetch's serial steps (ping,
token, manifest, config, commit) cost nothing and parallelism across items
shows little.  A real registry is milliseconds away.  This proxy models that
the simple way: whenever the client starts talking after the server has
answered (a new request on the connection, or a connection's first bytes),
those bytes wait ``delay`` seconds before they go on.  Bodies then stream
at full speed, so bandwidth is not what it changes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

CHUNK = 256 * 1024


class _Turn:
    """Who spoke last on one connection."""

    def __init__(self) -> None:
        self.client_spoke_last = False
        self.lock = threading.Lock()


def _pump(src: socket.socket, dst: socket.socket, turn: _Turn, from_client: bool, delay: float) -> None:
    try:
        while data := src.recv(CHUNK):
            with turn.lock:
                new_request = from_client and not turn.client_spoke_last
                turn.client_spoke_last = from_client
            if new_request:
                time.sleep(delay)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _serve(listener: socket.socket, upstream: tuple[str, int], delay: float) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the listener was closed
        server = socket.create_connection(upstream)
        turn = _Turn()
        for src, dst, from_client in ((client, server, True), (server, client, False)):
            threading.Thread(target=_pump, args=(src, dst, turn, from_client, delay), daemon=True).start()


@contextlib.contextmanager
def far_away(upstream_host: str, delay: float) -> Iterator[str]:
    """Yield ``127.0.0.1:PORT``, a proxy to ``upstream_host`` (``HOST:PORT``) adding ``delay`` per request."""
    host, port = upstream_host.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_serve, args=(listener, (host, int(port)), delay), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve
        listener.close()
