"""The cache on disk: where entries live, and how they appear and disappear atomically.

The layout is osbuild's sources store, so either tool can fill it::

    CACHE/org.osbuild.containers/sha256:<image id>/image/   a ``dir:`` image
    CACHE/org.osbuild.files/sha256:<list digest>            the list's bytes

An image entry is filed under its image id, which says nothing about its
manifest; so lighter keeps the manifest a second time, beside
``manifest.json``, as ``image/<hex>.manifest.json`` named by its digest
(the name a ``dir:`` image gives a list's instance, so every reader still
sees a plain image).  ``verify`` checks ``manifest.json`` against it.

Everything is first written into a temporary directory ``CACHE/.tmp-*``
(same file system, so a rename moves it) whose ``lock`` file the writer
holds; an entry becomes visible by one rename that never replaces what is
there already.  When two processes fetch the same item, the second rename
fails with ENOTEMPTY/EEXIST: the other one won, with the same verified
bytes, and both succeed.  A killed writer leaves only a ``.tmp-*``
directory, never an entry; ``sweep_temporaries`` (run by ``fetch`` and
``verify``) removes those whose lock nobody holds.  A workspace is made as
``.new-*``, locked, and only then renamed to ``.tmp-*``, so a ``.tmp-*``
directory is never seen unlocked while its writer lives, and stale ones can
go at once; a ``.new-*`` one is left for a minute, the instant it exists
unlocked being a live writer's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from lighter.digest import Digest, parse_digest
from lighter.errors import InvalidDigestError
from lighter.localfs import fsync_dir

IMAGES_DIR: Final = "org.osbuild.containers"
LISTS_DIR: Final = "org.osbuild.files"
TMP_PREFIX: Final = ".tmp-"
NEW_PREFIX: Final = ".new-"
RECORD_SUFFIX: Final = ".manifest.json"

Kind = Literal["image", "list"]


def record_name(digest: Digest) -> str:
    """The file, beside an image entry's ``manifest.json``, that keeps the manifest under its digest."""
    return f"{digest.hex}{RECORD_SUFFIX}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached item: an image (``path`` is its ``dir:`` image) or a list (``path`` is its file)."""

    kind: Kind
    key: Digest
    path: str


class Workspace:
    """A locked temporary directory inside the cache, removed when done."""

    def __init__(self, path: str, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock_fd)


class Cache:
    """A fetch-by-digest cache rooted at ``root``.  Cheap to construct; creates directories lazily."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def __repr__(self) -> str:
        return f"Cache({self.root!r})"

    # -- where things are --------------------------------------------------------

    def entry_path(self, kind: Kind, key: Digest) -> str:
        """The entry's top path: the directory holding ``image/``, or the list file."""
        return os.path.join(self.root, IMAGES_DIR if kind == "image" else LISTS_DIR, str(key))

    def image_path(self, image_id: Digest) -> str:
        """The ``dir:`` image of a cached image id."""
        return os.path.join(self.entry_path("image", image_id), "image")

    def list_path(self, digest: Digest) -> str:
        return self.entry_path("list", digest)

    def has(self, kind: Kind, key: Digest) -> bool:
        if kind == "image":
            return os.path.isfile(os.path.join(self.image_path(key), "manifest.json"))
        return os.path.isfile(self.list_path(key))

    def entry(self, kind: Kind, key: Digest) -> Entry:
        return Entry(kind, key, self.image_path(key) if kind == "image" else self.list_path(key))

    def entries(self) -> list[Entry]:
        """Every entry, images first, each kind sorted by key; temporaries and foreign names are skipped."""
        out: list[Entry] = []
        kinds: tuple[tuple[Kind, str], ...] = (("image", IMAGES_DIR), ("list", LISTS_DIR))
        for kind, sub in kinds:
            directory = os.path.join(self.root, sub)
            if not os.path.isdir(directory):
                continue
            for name in sorted(os.listdir(directory)):
                try:
                    key = parse_digest(name)
                except InvalidDigestError:
                    continue  # a temporary, or not ours
                out.append(self.entry(kind, key))
        return out

    # -- writing -----------------------------------------------------------------

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Workspace]:
        """A fresh locked temporary directory inside the cache, removed afterwards whatever happens."""
        os.makedirs(self.root, exist_ok=True)
        new = tempfile.mkdtemp(prefix=NEW_PREFIX, dir=self.root)
        path = os.path.join(self.root, TMP_PREFIX + os.path.basename(new).removeprefix(NEW_PREFIX))
        fd = -1
        try:
            fd = os.open(os.path.join(new, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(new, path)  # the lock goes along: it is held on the file, not on its name
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            if fd >= 0:
                os.close(fd)
            raise
        space = Workspace(path, fd)
        try:
            yield space
        finally:
            space.close()

    def install(self, kind: Kind, key: Digest, staged: str) -> bool:
        """Move ``staged`` (inside a workspace) into place unless the entry exists; True if ours won.

        For an image, ``staged`` is the directory that becomes the entry (it
        holds ``image/``); for a list, the file.  Never replaces an entry.
        """
        target = self.entry_path(kind, key)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        try:
            if kind == "image":
                os.rename(staged, target)  # fails with ENOTEMPTY/EEXIST on a non-empty directory
            else:
                os.link(staged, target)  # fails with EEXIST: rename(2) would replace
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise
        fsync_dir(parent)
        return True

    def remove(self, entry: Entry) -> None:
        """Take an entry away atomically (one rename out of sight), then delete it."""
        top = self.entry_path(entry.kind, entry.key)
        with self.workspace() as space:
            try:
                os.rename(top, os.path.join(space.path, "removed"))
            except FileNotFoundError:
                return
            fsync_dir(os.path.dirname(top))

    def sweep_temporaries(self, min_age: float = 60.0) -> int:
        """Remove temporary directories of writers that are gone; returns how many.

        A writer holds its workspace's lock for as long as it lives, and its
        ``.tmp-*`` name appears only once the lock is held: an unlocked one
        is stale whatever its age.  A ``.new-*`` directory (a workspace
        being made) is removed once ``min_age`` seconds old and unlocked.
        """
        if not os.path.isdir(self.root):
            return 0
        removed = 0
        now = time.time()
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if not name.startswith((TMP_PREFIX, NEW_PREFIX)) or not os.path.isdir(path):
                continue
            with contextlib.suppress(FileNotFoundError):
                young = name.startswith(NEW_PREFIX) and now - os.stat(path).st_mtime < min_age
                if not young and not _locked(os.path.join(path, "lock")):
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        return removed


def _locked(lock_path: str) -> bool:
    """Whether some process holds the lock (a missing lock file counts as free)."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
