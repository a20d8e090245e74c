"""The private parts of ``tarfile`` that commit and unpack rely on: present here, and loudly missed if ever gone."""

from __future__ import annotations

import importlib
import io
import tarfile
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lighter.build import tarcompat
from tests.test_build_helpers import add_member, layer_tar


@pytest.fixture
def reload_after() -> Iterator[None]:
    """Reload ``tarcompat`` once the test's monkeypatching is undone (list this fixture before ``monkeypatch``)."""
    yield
    importlib.reload(tarcompat)


def test_this_python_has_everything() -> None:
    assert tarcompat.missing_internals() == []
    assert issubclass(tarcompat.EOF_HEADER, tarfile.HeaderError)


@pytest.mark.parametrize(
    ("owner", "attribute", "name"),
    [
        (tarfile.TarInfo, "_proc_member", "tarfile.TarInfo._proc_member"),
        (tarfile, "EOFHeaderError", "tarfile.EOFHeaderError"),
    ],
)
def test_a_missing_name_fails_the_import_with_a_clear_message(
    reload_after: None, monkeypatch: pytest.MonkeyPatch, owner: object, attribute: str, name: str
) -> None:
    monkeypatch.delattr(owner, attribute)
    with pytest.raises(ImportError, match=rf"private parts of the standard library's tarfile .* lacks: {name} "):
        importlib.reload(tarcompat)


def test_members_no_longer_a_list_fails_the_import(reload_after: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class WithoutMembers(tarfile.TarFile):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            del self.members

    monkeypatch.setattr(tarfile, "TarFile", WithoutMembers)
    with pytest.raises(ImportError, match=r"tarfile\.TarFile\.members"):
        importlib.reload(tarcompat)


def test_forget_members_keeps_a_writer_and_a_stream_reader_constant_in_memory() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(100):
            add_member(tar, f"f{i}", b"x", mode=0o644)
            tarcompat.forget_members(tar)
            assert tar.members == []  # type: ignore[attr-defined]
    buffer.seek(0)
    seen = 0
    with tarfile.open(fileobj=buffer, mode="r|") as reader:
        while reader.next() is not None:
            seen += 1
            tarcompat.forget_members(reader)
            assert reader.members == []  # type: ignore[attr-defined]
    assert seen == 100


def test_proc_member_finishes_a_member_from_its_first_header_block() -> None:
    """What ``layers._GuardedTarInfo.fromtarfile`` relies on: parse one block, ``proc_member`` does the rest."""
    name = "d" * 150 + "/file"  # longer than ustar's 100 bytes: a PAX header block comes first
    raw = layer_tar(lambda t: add_member(t, name, b"data", mode=0o644))
    with tarfile.TarFile(fileobj=io.BytesIO(raw)) as tar:
        tar.fileobj.seek(0)  # type: ignore[union-attr]
        tar.offset = 0
        first = tarfile.TarInfo.frombuf(tar.fileobj.read(tarfile.BLOCKSIZE), "utf-8", "surrogateescape")  # type: ignore[union-attr]
        first.offset = 0
        assert first.type == tarfile.XHDTYPE
        member = tarcompat.proc_member(first, tar)
        assert (member.name, member.size, member.isreg()) == (name, 4, True)
        assert tar.offset == 3 * tarfile.BLOCKSIZE + tarfile.BLOCKSIZE  # PAX header + its records + header + data


_TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE]
_TYPES.append(tarfile.BLKTYPE)
_short_text = st.text(max_size=120) | st.text(alphabet=st.characters(max_codepoint=127), max_size=110)
_ascii_name = st.text(alphabet=st.characters(max_codepoint=127), max_size=40)


def test_the_header_shortcut_is_enabled_on_this_python() -> None:
    assert tarcompat.fast_headers_match()
    assert tarcompat.FAST_HEADERS


@settings(max_examples=400, deadline=None)
@given(
    name=_short_text,
    type_=st.sampled_from(_TYPES),
    mode=st.integers(0, 0o7777),
    ids=st.tuples(st.integers(0, 8**7 + 5), st.integers(0, 8**7 + 5)),
    size=st.integers(0, 8**11 + 5) | st.integers(0, 10_000),
    mtime=st.integers(-5, 8**11 + 5) | st.integers(1_600_000_000, 1_800_000_000),
    linkname=_short_text,
    owners=st.tuples(_ascii_name | st.text(max_size=5), _ascii_name),
    device=st.tuples(st.integers(0, 8**7 + 5), st.integers(0, 8**7 + 5)),
)
def test_plain_header_is_tarfiles_header_or_none(
    name: str,
    type_: bytes,
    mode: int,
    ids: tuple[int, int],
    size: int,
    mtime: int,
    linkname: str,
    owners: tuple[str, str],
    device: tuple[int, int],
) -> None:
    """Byte for byte what tarfile writes whenever that is one block; None exactly when tarfile needs more."""
    is_device = type_ in (tarfile.CHRTYPE, tarfile.BLKTYPE)
    info = tarfile.TarInfo(name)
    info.type, info.mode, (info.uid, info.gid), info.size, info.mtime = type_, mode, ids, size, mtime
    info.linkname, (info.uname, info.gname) = linkname, owners
    if is_device:
        info.devmajor, info.devminor = device
    stored = name + "/" if type_ == tarfile.DIRTYPE and not name.endswith("/") else name
    fast = tarcompat.plain_header(
        stored, type_, mode, *ids, size, mtime, linkname, *owners, device=device if is_device else None
    )
    try:
        expected = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    except ValueError:  # a device number too large for its field: tarfile refuses it
        assert fast is None
        return
    if len(expected) == tarfile.BLOCKSIZE:
        assert fast == expected
    else:
        assert fast is None


def test_a_python_writing_other_headers_turns_the_shortcut_off(
    reload_after: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tarfile.TarInfo.tobuf

    def other(self: tarfile.TarInfo, *args: object, **kwargs: object) -> bytes:
        header = bytearray(original(self, *args, **kwargs))  # type: ignore[arg-type]
        header[329:345] = b"0000000\x000000000\x00"  # device fields filled for every type, as older tarfiles did
        return bytes(header)

    monkeypatch.setattr(tarfile.TarInfo, "tobuf", other)
    module = importlib.reload(tarcompat)
    assert module.FAST_HEADERS is False
