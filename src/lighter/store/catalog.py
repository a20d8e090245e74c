"""The store's catalogue: image records in SQLite.

A record is what ``lighter images`` lists: an id, its names, the digest and
media type of its top-level manifest (an image or a list), when it was
created, its size, and for manifest lists the instance → location map
(where each instance lives, so that a push can fetch it; libimage keeps it
as ``instances.json``).  Each change is one SQLite transaction, so a record
is never half-written; the manifest bytes themselves are blobs, written and
synced before the transaction that makes a record point at them.

Read-modify-write of one record (editing a list) happens under that
record's ``fcntl`` lock (``Catalog.locked``), so concurrent editors never
lose each other's updates.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from lighter.digest import Digest, parse_digest
from lighter.localfs import locked

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,
    digest      TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    created     TEXT NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    is_list     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS names (
    name        TEXT PRIMARY KEY,
    image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS names_by_image ON names(image_id);
CREATE TABLE IF NOT EXISTS instances (
    list_id     TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest      TEXT NOT NULL,
    location    TEXT NOT NULL,
    PRIMARY KEY (list_id, digest)
);
CREATE INDEX IF NOT EXISTS instances_by_digest ON instances(digest);
CREATE TABLE IF NOT EXISTS digests (
    image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest      TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE INDEX IF NOT EXISTS digests_by_digest ON digests(digest);
"""

#: How long a writer waits for another process's transaction (seconds).
BUSY_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image or manifest list in the store."""

    id: str
    digest: Digest
    media_type: str
    created: str
    size: int = 0
    is_list: bool = False
    names: tuple[str, ...] = ()
    #: For lists: instance digest → the image name it was added from ("" when it lives in the store).
    instances: Mapping[Digest, str] = field(default_factory=dict, hash=False)
    #: Other manifest digests the image answers to: the lists it was copied out of (their bytes are
    #: stored), as containers-storage records them, so ``name@list-digest`` still finds it.
    extra_digests: tuple[Digest, ...] = ()


class Catalog:
    """Records in ``<root>/catalog.db``; one short-lived connection per operation."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.path = os.path.join(root, "catalog.db")
        self._ready = False

    # -- connections ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        os.makedirs(self.root, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        if not self._ready:
            # WAL lets readers (images, inspect) run while a writer commits.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            self._ready = True
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in the block happens, or nothing does."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextlib.contextmanager
    def locked(self, image_id: str) -> Iterator[None]:
        """The record's own lock, held while it is read, changed and written back."""
        directory = os.path.join(self.root, "locks")
        os.makedirs(directory, exist_ok=True)
        with locked(os.path.join(directory, f"{image_id}.lock")):
            yield

    # -- reading -------------------------------------------------------------

    def _records(self, conn: sqlite3.Connection, where: str, args: Iterable[object]) -> list[ImageRecord]:
        rows = conn.execute(
            f"SELECT id, digest, media_type, created, size, is_list FROM images {where} ORDER BY created, id",
            tuple(args),
        ).fetchall()
        out = []
        for image_id, digest, media_type, created, size, is_list in rows:
            names = tuple(
                n for (n,) in conn.execute("SELECT name FROM names WHERE image_id = ? ORDER BY rowid", (image_id,))
            )
            instances = {
                parse_digest(d): loc
                for d, loc in conn.execute(
                    "SELECT digest, location FROM instances WHERE list_id = ? ORDER BY rowid", (image_id,)
                )
            }
            extra = tuple(
                parse_digest(d)
                for (d,) in conn.execute("SELECT digest FROM digests WHERE image_id = ? ORDER BY rowid", (image_id,))
            )
            out.append(
                ImageRecord(
                    id=image_id,
                    digest=parse_digest(digest),
                    media_type=media_type,
                    created=created,
                    size=int(size),
                    is_list=bool(is_list),
                    names=names,
                    instances=instances,
                    extra_digests=extra,
                )
            )
        return out

    def get(self, image_id: str) -> ImageRecord | None:
        with self._read() as conn:
            found = self._records(conn, "WHERE id = ?", (image_id,))
        return found[0] if found else None

    def by_name(self, name: str) -> ImageRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT image_id FROM names WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            found = self._records(conn, "WHERE id = ?", (row[0],))
        return found[0] if found else None

    def by_id_prefix(self, prefix: str) -> list[ImageRecord]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._read() as conn:
            return self._records(conn, "WHERE id LIKE ? ESCAPE '\\'", (escaped + "%",))

    def by_digest(self, digest: Digest) -> list[ImageRecord]:
        with self._read() as conn:
            return self._records(
                conn, "WHERE digest = ? OR id IN (SELECT image_id FROM digests WHERE digest = ?)", (str(digest),) * 2
            )

    def lists_with_instance(self, digest: Digest) -> list[ImageRecord]:
        """List records that name ``digest`` among their instances' locations map."""
        with self._read() as conn:
            return self._records(conn, "WHERE id IN (SELECT list_id FROM instances WHERE digest = ?)", (str(digest),))

    def all(self) -> list[ImageRecord]:
        with self._read() as conn:
            return self._records(conn, "", ())

    # -- writing -------------------------------------------------------------

    def save(self, record: ImageRecord, names: Iterable[str] = (), replace_instances: bool = True) -> None:
        """Insert or update a record, then give it ``names`` (taken from any record that had them)."""
        with self.transaction() as conn:
            self.save_in(conn, record, names, replace_instances)

    @staticmethod
    def save_in(
        conn: sqlite3.Connection, record: ImageRecord, names: Iterable[str] = (), replace_instances: bool = True
    ) -> None:
        conn.execute(
            "INSERT INTO images (id, digest, media_type, created, size, is_list) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type, "
            "size = excluded.size, is_list = excluded.is_list",
            (record.id, str(record.digest), record.media_type, record.created, record.size, int(record.is_list)),
        )
        if replace_instances:
            conn.execute("DELETE FROM instances WHERE list_id = ?", (record.id,))
            conn.executemany(
                "INSERT INTO instances (list_id, digest, location) VALUES (?, ?, ?)",
                [(record.id, str(d), loc) for d, loc in record.instances.items()],
            )
        conn.executemany(  # accumulated, as containers-storage adds the digests of each pull
            "INSERT OR IGNORE INTO digests (image_id, digest) VALUES (?, ?)",
            [(record.id, str(d)) for d in record.extra_digests],
        )
        for name in names:
            conn.execute(
                "INSERT INTO names (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = ?",
                (name, record.id, record.id),
            )

    def add_name(self, image_id: str, name: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO names (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = ?",
                (name, image_id, image_id),
            )

    def remove_name(self, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM names WHERE name = ?", (name,))

    def remove(self, image_id: str) -> None:
        """Delete a record with its names and instance map."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
