"""Reading layers safely: verified, decompressed, bounded, with every member name checked.

``read_layer`` streams one layer blob from an ``ImageSource``: the blob
through ``VerifyingReader`` (its digest and size), then decompressed (gzip,
zstd or plain), then hashed again for the diffID the config promises, and
parsed with ``tarfile`` in stream mode.  It yields one ``Member`` per tar
entry and, once the tar ends, reads both streams to their ends and checks
both digests: a consumer that writes must treat what it wrote as provisional
until the generator is exhausted.

Hostile input is stopped early:

* member names are normalised, and absolute names or ``..`` components
  raise ``UnsafeLayerError``;
* a PAX or GNU long-name header larger than 1 MiB, more than
  ``MAX_EXTENDED_CHAIN`` such headers in a row (``tarfile`` reads a chain
  recursively: thousands of them end in ``RecursionError``), PAX global
  headers adding up to more than 1 MiB (``tarfile`` keeps them all), a bad
  checksum, or a stream that ends without the end-of-archive block raises
  ``InvalidLayerError`` (``tarfile`` itself would read such a header whole
  into memory, or take a truncated stream for a short archive);
* entry counts, declared sizes and extended-header sizes are charged to a
  ``Budget`` shared by all layers of an image, raising ``LayerLimitError``
  before any data is read.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, ClassVar, Final, Literal, cast

import zstandard

from lighter.build.fsmeta import OPAQUE_MARKER, WHITEOUT_PREFIX
from lighter.build.pipe import CHUNK, DigestingReader
from lighter.build.tarcompat import EOF_HEADER, forget_members, proc_member
from lighter.compression import decompressed
from lighter.digest import Digest, VerifyingReader
from lighter.errors import (
    DigestMismatchError,
    InvalidLayerError,
    LayerLimitError,
    UnsafeLayerError,
)
from lighter.manifest import Descriptor
from lighter.transports import ImageSource

#: Larger PAX or GNU long-name headers are refused before they are read.
MAX_HEADER_SIZE: Final = 1024 * 1024
#: At most this many extended headers in a row before an entry (real tars use up to 3: PAX, GNU name and link).
MAX_EXTENDED_CHAIN: Final = 8
_LONG_HEADERS: Final = frozenset(
    {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE}
)
#: What a truncated or corrupt compressed stream or tar raises while being read.
_CORRUPT: Final = (EOFError, zlib.error, tarfile.ReadError, zstandard.ZstdError)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what unpacking one image may create (defaults fit the largest real images)."""

    max_entries: int = 2_000_000
    max_bytes: int = 64 * 1024**3


class Budget:
    """What is left of the ``Limits`` across the layers of one image."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries = 0
        self.bytes = 0

    def charge(self, size: int, what: str) -> None:
        """One entry declaring ``size`` bytes of content."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise LayerLimitError(
                f"{what}: more than {self.limits.max_entries} entries (limit reached; raise it with --max-entries)"
            )
        self.charge_bytes(size, what, "declares")

    def charge_bytes(self, size: int, what: str, doing: str) -> None:
        """``size`` bytes read or declared (``doing`` says which, for the message)."""
        self.bytes += max(size, 0)
        if self.bytes > self.limits.max_bytes:
            raise LayerLimitError(
                f"{what}: {doing} more than {self.limits.max_bytes} bytes of content in all "
                "(limit reached; raise it with --max-size)"
            )


class _HeaderState:
    """Per-layer state of the header parser: the budget, and the extended headers being read."""

    def __init__(self, budget: Budget, what: str) -> None:
        self.budget = budget
        self.what = what
        self.chain = 0
        self.global_bytes = 0


class _GuardedTarInfo(tarfile.TarInfo):
    """A TarInfo whose parsing refuses oversized long headers and reports truncation.

    ``fromtarfile`` is the documented hook ``tarfile`` calls for every header
    (long-name and PAX headers included, through ``_proc_member``, which calls
    it again for the header that follows: ``chain`` counts that recursion).
    Each layer gets its own subclass (``_tarinfo_class``) carrying its state.
    """

    state: ClassVar[_HeaderState]

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> _GuardedTarInfo:
        what = cls.state.what
        fileobj: Any = tarfile_.fileobj
        buf = fileobj.read(tarfile.BLOCKSIZE)
        if not buf and tarfile_.offset == 0:
            raise EOF_HEADER("empty layer")  # an empty stream is an empty archive, as in Go
        if len(buf) < tarfile.BLOCKSIZE:
            raise InvalidLayerError(
                f"{what}: tar stream truncated at byte {tarfile_.offset}: "
                f"expected a 512-byte header, got {len(buf)} bytes"
            )
        if buf.count(0) == tarfile.BLOCKSIZE:
            raise EOF_HEADER("end of archive")
        try:
            obj = cls.frombuf(buf, tarfile_.encoding, tarfile_.errors)
        except tarfile.HeaderError as exc:
            raise InvalidLayerError(f"{what}: invalid tar header at byte {tarfile_.offset}: {exc}") from None
        obj.offset = fileobj.tell() - tarfile.BLOCKSIZE
        if obj.type not in _LONG_HEADERS:
            return cast(_GuardedTarInfo, proc_member(obj, tarfile_))
        cls._check_extended(obj)
        cls.state.chain += 1
        try:
            extended = proc_member(obj, tarfile_)
        finally:
            cls.state.chain -= 1
        return cast(_GuardedTarInfo, extended)

    @classmethod
    def _check_extended(cls, obj: tarfile.TarInfo) -> None:
        """Refuse an extended header before it is read: too large, too many in a row or in all."""
        state = cls.state
        if obj.size > MAX_HEADER_SIZE:
            raise InvalidLayerError(
                f"{state.what}: tar header at byte {obj.offset} declares {obj.size} bytes of extended header "
                f"(at most {MAX_HEADER_SIZE} accepted)"
            )
        if state.chain >= MAX_EXTENDED_CHAIN:
            raise InvalidLayerError(
                f"{state.what}: more than {MAX_EXTENDED_CHAIN} extended headers in a row at byte {obj.offset} "
                "(expected an entry after at most a few)"
            )
        if obj.type == tarfile.XGLTYPE:
            state.global_bytes += obj.size
            if state.global_bytes > MAX_HEADER_SIZE:
                raise InvalidLayerError(
                    f"{state.what}: PAX global headers add up to {state.global_bytes} bytes at byte {obj.offset} "
                    f"(at most {MAX_HEADER_SIZE} accepted)"
                )
        state.budget.charge_bytes(obj.size, state.what, "declares")


def _tarinfo_class(budget: Budget, what: str) -> type[_GuardedTarInfo]:
    return type("_LayerTarInfo", (_GuardedTarInfo,), {"state": _HeaderState(budget, what)})


def normalise_name(name: str, what: str) -> tuple[str, ...]:
    """The components of a member name; absolute names and ``..`` are refused."""
    if "\x00" in name:
        raise InvalidLayerError(f"{what}: entry name {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafeLayerError(f"{what}: entry {name!r} has an absolute path (expected a path inside the root)")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeLayerError(f"{what}: entry {name!r} has a '..' component (expected a path inside the root)")
    return parts


MemberKind = Literal["entry", "whiteout", "opaque"]


@dataclass(slots=True)
class Member:
    """One tar entry: ``parts`` is its normalised path (for a whiteout, the path it deletes)."""

    kind: MemberKind
    parts: tuple[str, ...]
    info: tarfile.TarInfo
    what: str
    _tar: tarfile.TarFile

    def chunks(self) -> Iterator[bytes]:
        """The content of a regular file, in chunks (valid only until the next member)."""
        stream = self._tar.extractfile(self.info)
        if stream is None:
            return
        remaining = self.info.size
        while remaining > 0:
            try:
                chunk = stream.read(min(CHUNK, remaining))
            except _CORRUPT as exc:
                raise InvalidLayerError(
                    f"{self.what}: truncated or corrupt stream in {self.info.name!r}: {exc}"
                ) from None
            if not chunk:
                raise InvalidLayerError(f"{self.what}: tar stream truncated inside {self.info.name!r}")
            remaining -= len(chunk)
            yield chunk


def _classify(info: tarfile.TarInfo, what: str) -> tuple[MemberKind, tuple[str, ...]]:
    parts = normalise_name(info.name, what)
    if not parts or not parts[-1].startswith(WHITEOUT_PREFIX):
        return "entry", parts
    if parts[-1] == OPAQUE_MARKER:
        return "opaque", parts[:-1]
    target = parts[-1][len(WHITEOUT_PREFIX) :]
    if target in ("", ".", ".."):
        raise UnsafeLayerError(f"{what}: whiteout {info.name!r} names no entry")
    return "whiteout", (*parts[:-1], target)


def _drain(stream: IO[bytes] | DigestingReader | VerifyingReader) -> None:
    while stream.read(CHUNK):
        pass


def _drain_trailing(plain: DigestingReader, budget: Budget, what: str) -> None:
    """Read what follows the end-of-archive (it counts for the diffID), charged to the budget.

    Tar writers pad to a record (10 KiB for GNU tar); anything more is read too, since the
    diffID covers it, but it counts against ``max_bytes``: a tiny blob of zeros must not
    decompress into an unbounded read.
    """
    while chunk := plain.read(CHUNK):
        budget.charge_bytes(len(chunk), what, "with trailing data after the end of the archive, reads")


def read_layer(source: ImageSource, descriptor: Descriptor, diff_id: Digest | None, budget: Budget) -> Iterator[Member]:
    """Yield the members of a layer; digests (blob and diffID) are checked when the generator ends."""
    what = f"layer {descriptor.digest}"
    with source.blob(descriptor) as raw:
        verifying = VerifyingReader(raw, descriptor.digest, descriptor.size, what)
        plain = DigestingReader(decompressed(verifying, what))  # type: ignore[arg-type]
        try:
            yield from _members(plain, what, budget)
            _drain_trailing(plain, budget, what)
        except _CORRUPT as exc:
            raise InvalidLayerError(f"{what}: truncated or corrupt stream: {exc}") from None
        _drain(verifying)
    if diff_id is not None and plain.digest() != diff_id:
        raise DigestMismatchError(f"diffID of {what}", str(diff_id), str(plain.digest()))


def _members(plain: DigestingReader, what: str, budget: Budget) -> Iterator[Member]:
    tar = tarfile.open(  # noqa: SIM115 - a stream reader over ``plain``, which the caller owns
        fileobj=cast(IO[bytes], plain),
        mode="r|",
        tarinfo=_tarinfo_class(budget, what),
        encoding="utf-8",
        errors="surrogateescape",
    )
    while True:
        info = tar.next()
        if info is None:
            return
        forget_members(tar)  # stream mode (before 3.13) would keep every header otherwise
        budget.charge(info.size, what)
        if info.sparse is not None:
            raise InvalidLayerError(f"{what}: sparse entry {info.name!r} is not supported")
        kind, parts = _classify(info, what)
        yield Member(kind, parts, info, what, tar)
