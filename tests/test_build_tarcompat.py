"""The private parts of ``tarfile`` that commit and unpack rely on: present here, and loudly missed if ever gone."""

from __future__ import annotations

import importlib
import io
import tarfile
from collections.abc import Iterator

import pytest

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
