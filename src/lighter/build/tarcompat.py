"""The private parts of the standard library's ``tarfile`` that lighter relies on, in one place, checked at import.

* ``TarInfo._proc_member``: the step after a header block is parsed (long
  names, PAX records, sparse maps, and the skip to the next header).  A
  ``fromtarfile`` override that guards each header (``layers``) must call it.
* ``tarfile.EOFHeaderError``: what ``TarFile.next`` takes for the normal end
  of an archive (a zero block, or an empty stream).
* ``TarFile.members``: the list of every header read or written, which
  ``forget_members`` empties after each entry; otherwise a layer of millions
  of entries holds them all in memory.

And one shortcut: ``plain_header`` builds the single ustar block that
``TarInfo.tobuf(PAX_FORMAT, "utf-8", "surrogateescape")`` writes for a member
needing no PAX record (ASCII names that fit, small numbers, no xattrs), some
ten times faster (~2.5 us against ~25 us a member, which made up three
quarters of a commit's tar writer).  Anything else goes to ``tarfile``.  At
import the shortcut is compared byte for byte with this Python's ``tarfile``
on every kind of member; on any difference (a later Python writing its
headers otherwise) ``FAST_HEADERS`` is False and only ``tarfile`` is used.

They exist, with the same meaning, in Python 3.11, 3.12 and 3.13 (3.13 no
longer fills ``members`` when reading a stream; emptying it stays right).
Were a later Python to rename one, unpacking would fail obscurely or, for
``members``, silently grow without bound: importing this module fails
instead, with a message naming what is missing.
"""

from __future__ import annotations

import io
import struct
import sys
import tarfile
from typing import Final, cast


def missing_internals() -> list[str]:
    """The private tarfile names lighter needs that this Python lacks (empty when all are there)."""
    missing = []
    if not callable(getattr(tarfile.TarInfo, "_proc_member", None)):
        missing.append("tarfile.TarInfo._proc_member")
    eof = getattr(tarfile, "EOFHeaderError", None)
    if not (isinstance(eof, type) and issubclass(eof, tarfile.HeaderError)):
        missing.append("tarfile.EOFHeaderError")
    probe = tarfile.TarFile(fileobj=io.BytesIO(), mode="w")
    if not isinstance(getattr(probe, "members", None), list):
        missing.append("tarfile.TarFile.members")
    return missing


def check_internals() -> None:
    missing = missing_internals()
    if missing:
        raise ImportError(
            f"lighter.build needs private parts of the standard library's tarfile that Python "
            f"{sys.version.split()[0]} lacks: {', '.join(missing)} (expected those of Python 3.11 to 3.13)"
        )


check_internals()

#: Raised from a header read to end the archive normally (not in typeshed).
EOF_HEADER: Final = cast(type[Exception], tarfile.EOFHeaderError)  # type: ignore[attr-defined]


def proc_member(info: tarfile.TarInfo, tar: tarfile.TarFile) -> tarfile.TarInfo:
    """``info._proc_member(tar)``: finish reading the member whose header block ``info`` was parsed from."""
    member: tarfile.TarInfo = info._proc_member(tar)  # type: ignore[attr-defined]
    return member


def forget_members(tar: tarfile.TarFile) -> None:
    """Drop the headers ``tar`` keeps of every entry so far (constant memory over huge archives)."""
    tar.members.clear()  # type: ignore[attr-defined]


#: name, mode+uid+gid+size+mtime, checksum, type, linkname, magic, uname, gname, devmajor+devminor, prefix
_USTAR: Final = struct.Struct("100s48s8sc100s8s32s32s16s155s12x")
_MAGIC: Final = tarfile.POSIX_MAGIC
#: What the checksum adds besides the variable fields: its own field counted as 8 spaces, and the magic.
_CHECKSUM_BASE: Final = 8 * 0x20 + sum(_MAGIC)
_MAX_ID: Final = 8**7
_MAX_TIME: Final = 8**11


def plain_header(
    name: str,
    type_: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: str = "",
    uname: str = "",
    gname: str = "",
    device: tuple[int, int] | None = None,
) -> bytes | None:
    """The 512-byte header ``tarfile`` writes in PAX format for a member without PAX records, else None.

    ``name`` is the member's name as ``tarfile`` stores it (a directory's ends
    in ``/``); ``device`` is given for character and block devices only.  None
    means that ``tarfile`` would add a PAX record (a non-ASCII or long name, a
    large number, a negative time): the caller then uses ``tarfile``.
    """
    if not (name.isascii() and linkname.isascii() and uname.isascii() and gname.isascii()):
        return None
    if len(name) > 100 or len(linkname) > 100 or len(uname) > 32 or len(gname) > 32:
        return None
    if not (0 <= uid < _MAX_ID and 0 <= gid < _MAX_ID and 0 <= size < _MAX_TIME and 0 <= mtime < _MAX_TIME):
        return None
    dev = b""
    if device is not None:
        if not (0 <= device[0] < _MAX_ID and 0 <= device[1] < _MAX_ID):
            return None
        dev = b"%07o\0%07o\0" % device
    name_b, link_b, uname_b, gname_b = name.encode(), linkname.encode(), uname.encode(), gname.encode()
    numbers = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode & 0o7777, uid, gid, size, mtime)
    checksum = _CHECKSUM_BASE + type_[0] + sum(name_b + numbers + link_b + uname_b + gname_b + dev)
    return _USTAR.pack(name_b, numbers, b"%06o\0 " % checksum, type_, link_b, _MAGIC, uname_b, gname_b, dev, b"")


def tarfile_header(info: tarfile.TarInfo) -> bytes:
    """What ``TarFile(format=PAX_FORMAT, encoding="utf-8", errors="surrogateescape").addfile`` writes first."""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _probes() -> list[tuple[tarfile.TarInfo, dict[str, object]]]:
    """One member of each kind with ``plain_header``'s arguments for it (reaching every field's limit)."""
    cases: list[tuple[str, bytes, dict[str, object]]] = [
        ("a/file", tarfile.REGTYPE, {"size": 8**11 - 1, "mtime": 8**11 - 1, "uname": "u" * 32, "gname": "g"}),
        ("d" * 99 + "/", tarfile.DIRTYPE, {"mode": 0o7777, "uid": 8**7 - 1, "gid": 8**7 - 1}),
        ("sym", tarfile.SYMTYPE, {"linkname": "t" * 100, "mode": 0o777}),
        ("hard", tarfile.LNKTYPE, {"linkname": "a/file"}),
        ("fifo", tarfile.FIFOTYPE, {"mode": 0o640, "mtime": 1_700_000_000}),
        ("chr", tarfile.CHRTYPE, {"device": (8**7 - 1, 0)}),
        ("blk", tarfile.BLKTYPE, {"device": (8, 1), "uname": "root", "gname": "root"}),
        (".wh.x", tarfile.REGTYPE, {"mode": 0, "mtime": 0}),
    ]
    out = []
    for name, type_, fields in cases:
        info = tarfile.TarInfo(name)
        info.type = type_
        for key, value in fields.items():
            if key == "device":
                info.devmajor, info.devminor = cast(tuple[int, int], value)
            else:
                setattr(info, key, value)
        args: dict[str, object] = {"mode": info.mode, "uid": 0, "gid": 0, "size": 0, "mtime": 0, **fields}
        out.append((info, {"name": name, "type_": type_, **args}))
    return out


def fast_headers_match() -> bool:
    """Whether ``plain_header`` writes exactly what this Python's ``tarfile`` does, on every probe."""
    return all(plain_header(**args) == tarfile_header(info) for info, args in _probes())  # type: ignore[arg-type]


#: ``plain_header`` may stand in for ``tarfile`` on this Python.
FAST_HEADERS: Final = fast_headers_match()
