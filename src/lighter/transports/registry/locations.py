"""Where this process has seen each blob, for cross-repository mounts.

containers/image keeps a "blob info cache" of known locations; lighter keeps
the in-process part of it: registry sources record the repositories their
manifests' blobs live in, destinations record what they uploaded.  A
destination on the same registry can then ask for a mount
(``POST /v2/DEST/blobs/uploads/?mount=DIGEST&from=REPO``) instead of
moving the bytes.  Bounded: the oldest entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from lighter.digest import Digest

MAX_ENTRIES: Final = 100_000
MAX_REPOS_PER_BLOB: Final = 8

_lock = threading.Lock()
_known: OrderedDict[tuple[str, Digest], list[str]] = OrderedDict()


def remember(host: str, repository: str, digests: Iterable[Digest]) -> None:
    """Record that ``repository`` on ``host`` holds each of ``digests``."""
    with _lock:
        for digest in digests:
            key = (host, digest)
            repos = _known.pop(key, [])
            if repository in repos:
                repos.remove(repository)
            repos.append(repository)
            _known[key] = repos[-MAX_REPOS_PER_BLOB:]
        while len(_known) > MAX_ENTRIES:
            _known.popitem(last=False)


def candidates(host: str, digest: Digest, exclude: str = "") -> list[str]:
    """Repositories on ``host`` known to hold ``digest``, most recent first."""
    with _lock:
        repos = _known.get((host, digest), [])
        return [r for r in reversed(repos) if r != exclude]


def forget(host: str, repository: str, digest: Digest) -> None:
    """A mount from ``repository`` failed: do not offer it again."""
    with _lock:
        repos = _known.get((host, digest))
        if repos and repository in repos:
            repos.remove(repository)
