"""The private parts of the standard library's ``tarfile`` that lighter relies on, in one place, checked at import.

* ``TarInfo._proc_member``: the step after a header block is parsed (long
  names, PAX records, sparse maps, and the skip to the next header).  A
  ``fromtarfile`` override that guards each header (``layers``) must call it.
* ``tarfile.EOFHeaderError``: what ``TarFile.next`` takes for the normal end
  of an archive (a zero block, or an empty stream).
* ``TarFile.members``: the list of every header read or written, which
  ``forget_members`` empties after each entry; otherwise a layer of millions
  of entries holds them all in memory.

They exist, with the same meaning, in Python 3.11, 3.12 and 3.13 (3.13 no
longer fills ``members`` when reading a stream; emptying it stays right).
Were a later Python to rename one, unpacking would fail obscurely or, for
``members``, silently grow without bound: importing this module fails
instead, with a message naming what is missing.
"""

from __future__ import annotations

import io
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
