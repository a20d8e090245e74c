"""Hostile layers: each must fail with its specific error and write nothing outside ROOTFS (nor ROOTFS itself).

The layers are crafted here with ``tarfile`` (and by hand where tarfile
would refuse to write them), put in real OCI layouts through the ``oci:``
transport, and unpacked into ``sandbox/rootfs``; ``sandbox`` also holds a
``victim`` directory that every escape aims at.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lighter.build import Limits, unpack
from lighter.digest import digest_bytes
from lighter.errors import (
    DigestMismatchError,
    InvalidLayerError,
    LayerLimitError,
    LighterError,
    SizeMismatchError,
    UnsafeLayerError,
)
from tests.test_build_helpers import add_member, layer_tar, write_layers_image

Build = Callable[[tarfile.TarFile], None]


VICTIM_MTIME = 1_000_000
VICTIM_XATTR = ("user.victim", b"original")


def _sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """``sandbox/victim`` (a file and a subdirectory, with known modes, mtimes and an xattr) beside ROOTFS."""
    sandbox = tmp_path / "sandbox"
    victim = sandbox / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep.txt").write_text("untouched\n")
    for path, mode in ((victim / "keep.txt", 0o644), (victim / "sub", 0o755), (victim, 0o755)):
        os.chmod(path, mode)
        os.setxattr(path, *VICTIM_XATTR)
        os.utime(path, (VICTIM_MTIME, VICTIM_MTIME))
    return sandbox, victim


def _victim_state(victim: Path) -> dict[str, tuple[object, ...]]:
    """name → (mode, uid, gid, mtime, xattrs) of the victim and everything in it."""
    state: dict[str, tuple[object, ...]] = {}
    for path in (victim, *sorted(victim.rglob("*"))):
        st = os.lstat(path)
        xattrs = sorted(
            (n, os.getxattr(path, n, follow_symlinks=False)) for n in os.listxattr(path, follow_symlinks=False)
        )
        state[str(path.relative_to(victim))] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime, xattrs)
    return state


def _assert_victim_untouched(victim: Path) -> None:
    owner = (os.getuid(), os.getgid())
    assert _victim_state(victim) == {
        ".": (0o755, *owner, VICTIM_MTIME, [VICTIM_XATTR]),
        "keep.txt": (0o644, *owner, VICTIM_MTIME, [VICTIM_XATTR]),
        "sub": (0o755, *owner, VICTIM_MTIME, [VICTIM_XATTR]),
    }
    assert (victim / "keep.txt").read_text() == "untouched\n"


def _assert_nothing_written(tmp_path: Path, sandbox: Path, victim: Path) -> None:
    assert sorted(p.name for p in sandbox.iterdir()) == ["victim"], "ROOTFS or a temporary directory was left"
    _assert_victim_untouched(victim)
    assert not (tmp_path / "escaped").exists()


def _expect(tmp_path: Path, layers: list[bytes], error: type[LighterError], match: str, **kwargs: object) -> None:
    sandbox, victim = _sandbox(tmp_path)
    name = write_layers_image(tmp_path / "layout", "evil", layers)
    with pytest.raises(error, match=match):
        unpack(name, sandbox / "rootfs", **kwargs)  # type: ignore[arg-type]
    _assert_nothing_written(tmp_path, sandbox, victim)


def _ok_file(tar: tarfile.TarFile) -> None:
    add_member(tar, "fine.txt", b"a harmless first entry\n", mode=0o644)


def test_path_traversal(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _ok_file(tar)
        add_member(tar, "../victim/pwned", b"x", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, r"'\.\.' component")


def test_nested_traversal(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "a/b/../../../../escaped", b"x", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, r"'\.\.' component")


def test_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "escaped"

    def build(tar: tarfile.TarFile) -> None:
        _ok_file(tar)
        add_member(tar, str(target), b"x", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, "absolute path")


def test_symlink_escape(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "link", type=tarfile.SYMTYPE, linkname="../victim")
        add_member(tar, "link/pwned", b"x", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, "outside the root through a symlink")


def test_symlink_chain_escape_across_layers(tmp_path: Path) -> None:
    def first(tar: tarfile.TarFile) -> None:
        add_member(tar, "d", type=tarfile.DIRTYPE, mode=0o755)
        add_member(tar, "d/one", type=tarfile.SYMTYPE, linkname="two")
        add_member(tar, "d/two", type=tarfile.SYMTYPE, linkname="../three")
        add_member(tar, "three", type=tarfile.SYMTYPE, linkname="d/../../victim")

    def second(tar: tarfile.TarFile) -> None:
        add_member(tar, "d/one/pwned", b"x", mode=0o644)

    _expect(tmp_path, [layer_tar(first), layer_tar(second)], UnsafeLayerError, "outside the root")


def test_symlink_loop(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "a", type=tarfile.SYMTYPE, linkname="b")
        add_member(tar, "b", type=tarfile.SYMTYPE, linkname="a")
        add_member(tar, "a/file", b"x", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, "too many levels of symlinks")


def test_absolute_symlink_stays_inside(tmp_path: Path) -> None:
    """chroot semantics: an absolute symlink in a parent path leads to the root, not to the host."""
    sandbox, victim = _sandbox(tmp_path)

    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "victim", type=tarfile.SYMTYPE, linkname=str(victim))
        add_member(tar, "victim/inside.txt", b"x", mode=0o644)

    name = write_layers_image(tmp_path / "layout", "ok", [layer_tar(build)])
    unpack(name, sandbox / "rootfs")
    assert (sandbox / "rootfs" / str(victim).lstrip("/") / "inside.txt").read_bytes() == b"x"
    _assert_victim_untouched(victim)


def test_hardlink_escape(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _ok_file(tar)
        add_member(tar, "stolen", type=tarfile.LNKTYPE, linkname="../victim/keep.txt")

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, r"'\.\.' component")


def test_hardlink_escape_through_symlink(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "up", type=tarfile.SYMTYPE, linkname="..")
        add_member(tar, "stolen", type=tarfile.LNKTYPE, linkname="up/victim/keep.txt")

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, "outside the root")


def test_hardlink_to_absolute_host_file(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "passwd", type=tarfile.LNKTYPE, linkname="/etc/passwd")

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, "absolute path")


def test_hardlink_to_missing_target(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "orphan", type=tarfile.LNKTYPE, linkname="not/there")

    _expect(tmp_path, [layer_tar(build)], InvalidLayerError, "does not exist")


def test_oversized_pax_header(tmp_path: Path) -> None:
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 8 * 1024**3  # 8 GiB of "extended header" that tarfile would read into memory
    raw = header.tobuf(tarfile.GNU_FORMAT) + b"0" * 4096
    _expect(tmp_path, [raw], InvalidLayerError, "extended header")


def _pax_record(key: str, value: str) -> bytes:
    """One PAX record, ``LENGTH key=value\\n``, where LENGTH counts itself."""
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _extended(data: bytes, kind: bytes = tarfile.XHDTYPE) -> bytes:
    """An extended header (PAX, global PAX or GNU long name) carrying ``data``, padded to a block."""
    header = tarfile.TarInfo("././@PaxHeader" if kind != tarfile.GNUTYPE_LONGNAME else "././@LongLink")
    header.type = kind
    header.size = len(data)
    return header.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


def _plain_entry(name: str) -> bytes:
    return tarfile.TarInfo(name).tobuf(tarfile.USTAR_FORMAT)


_END = b"\0" * 2 * tarfile.BLOCKSIZE


def test_thousands_of_chained_pax_headers(tmp_path: Path) -> None:
    """tarfile reads a chain of extended headers recursively: 3000 would end in RecursionError."""
    raw = _extended(_pax_record("comment", "aaaaaaaa")) * 3000 + _plain_entry("f") + _END
    _expect(tmp_path, [raw], InvalidLayerError, "more than 8 extended headers in a row")


def test_chained_gnu_long_names(tmp_path: Path) -> None:
    raw = _extended(b"long/name\0", tarfile.GNUTYPE_LONGNAME) * 20 + _plain_entry("f") + _END
    _expect(tmp_path, [raw], InvalidLayerError, "extended headers in a row")


@pytest.mark.parametrize("count", [8, 9])
def test_extended_header_chain_limit(tmp_path: Path, count: int) -> None:
    """Up to 8 extended headers before an entry are read (real tars use 1 to 3); the 9th is refused."""
    records = [_extended(_pax_record("comment", f"header {i}")) for i in range(count - 1)]
    raw = b"".join(records) + _extended(_pax_record("path", "renamed.txt")) + _plain_entry("f") + _END
    if count > 8:
        _expect(tmp_path, [raw], InvalidLayerError, "more than 8 extended headers in a row")
        return
    name = write_layers_image(tmp_path / "layout", "ok", [raw])
    unpack(name, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["renamed.txt"]


def test_global_pax_headers_are_bounded(tmp_path: Path) -> None:
    """tarfile keeps every global header's records for the rest of the archive: 1 MiB in all at most."""
    big = _extended(_pax_record("comment", "g" * 600_000), tarfile.XGLTYPE)
    raw = big + _plain_entry("a") + big + _plain_entry("b") + _END
    _expect(tmp_path, [raw], InvalidLayerError, "global headers add up")


def test_extended_headers_are_charged_to_the_budget(tmp_path: Path) -> None:
    raw = _extended(_pax_record("comment", "c" * 600_000)) + _plain_entry("f") + _END
    _expect(tmp_path, [raw], LayerLimitError, "more than 100000 bytes", limits=Limits(max_bytes=100_000))
    name = write_layers_image(tmp_path / "layout", "ok", [raw])
    unpack(name, tmp_path / "out", limits=Limits(max_bytes=700_000))
    assert (tmp_path / "out" / "f").is_file()


def test_trailing_data_after_the_end_of_the_archive_is_bounded(tmp_path: Path) -> None:
    """Zeros after end-of-archive compress to almost nothing; reading them counts against max_bytes."""
    raw = _plain_entry("f") + _END + bytes(16 * 1024 * 1024)
    _expect(
        tmp_path, [raw], LayerLimitError, "trailing data after the end of the archive", limits=Limits(max_bytes=1 << 20)
    )


def test_trailing_data_counts_against_max_bytes(tmp_path: Path) -> None:
    """Record padding (tarfile, like GNU tar, pads to 10 KiB) and extra trailing bytes count as content does."""
    content = b"p" * 3000
    tar = layer_tar(lambda t: add_member(t, "f", content, mode=0o644))
    assert len(tar) == tarfile.RECORDSIZE
    trailing = 64 * 1024
    name = write_layers_image(tmp_path / "layout", "ok", [tar + bytes(trailing)])
    unpack(name, tmp_path / "out", limits=Limits(max_bytes=len(content) + tarfile.RECORDSIZE + trailing))
    assert (tmp_path / "out" / "f").read_bytes() == content
    with pytest.raises(LayerLimitError, match="trailing data"):
        unpack(name, tmp_path / "tight", limits=Limits(max_bytes=len(content) + trailing // 2))
    assert not (tmp_path / "tight").exists()


def test_oversized_declared_file(tmp_path: Path) -> None:
    info = tarfile.TarInfo("bomb.bin")
    info.size = 10 * 1024**4  # 10 TiB declared, only a few bytes present
    raw = info.tobuf(tarfile.PAX_FORMAT) + b"\0" * 1024
    _expect(tmp_path, [raw], LayerLimitError, "bytes of content")


def test_too_many_entries(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        for i in range(200):
            add_member(tar, f"f{i}", b"", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], LayerLimitError, "more than 100 entries", limits=Limits(max_entries=100))


def test_truncated_stream(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "a.bin", os.urandom(200_000), mode=0o644)
        add_member(tar, "b.bin", os.urandom(200_000), mode=0o644)

    whole = layer_tar(build)
    cut = whole[:150_000]  # inside a.bin; digests are those of the cut bytes, so only the tar is wrong
    _expect(tmp_path, [cut], InvalidLayerError, "truncated")


def test_truncated_at_a_header_boundary(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "a.txt", b"x" * 512, mode=0o644)
        add_member(tar, "b.txt", b"y" * 512, mode=0o644)

    whole = layer_tar(build)
    cut = whole[:1024]  # a.txt complete, then nothing: no end-of-archive block
    _expect(tmp_path, [cut], InvalidLayerError, "truncated")


def test_truncated_gzip(tmp_path: Path) -> None:
    tar = layer_tar(lambda t: add_member(t, "a.bin", os.urandom(100_000), mode=0o644))
    blob = gzip.compress(tar)[:-2000]
    sandbox, victim = _sandbox(tmp_path)
    name = write_layers_image(tmp_path / "layout", "evil", [tar], blobs=[blob])
    with pytest.raises(InvalidLayerError, match="truncated or corrupt"):
        unpack(name, sandbox / "rootfs")
    _assert_nothing_written(tmp_path, sandbox, victim)


def test_bad_header_checksum(tmp_path: Path) -> None:
    whole = bytearray(layer_tar(lambda t: (_ok_file(t), add_member(t, "second", b"2", mode=0o644))))
    whole[1024 + 10] ^= 0xFF  # inside the second header's name
    _expect(tmp_path, [bytes(whole)], InvalidLayerError, "invalid tar header")


def test_wrong_diff_id(tmp_path: Path) -> None:
    tar = layer_tar(_ok_file)
    sandbox, victim = _sandbox(tmp_path)
    name = write_layers_image(tmp_path / "layout", "evil", [tar], diff_ids=[digest_bytes(b"something else")])
    with pytest.raises(DigestMismatchError, match="diffID"):
        unpack(name, sandbox / "rootfs")
    _assert_nothing_written(tmp_path, sandbox, victim)


def test_blob_not_matching_its_descriptor(tmp_path: Path) -> None:
    tar = layer_tar(_ok_file)
    sandbox, victim = _sandbox(tmp_path)
    layout = tmp_path / "layout"
    name = write_layers_image(layout, "evil", [tar])
    blob = gzip.compress(tar)
    for path in (layout / "blobs" / "sha256").iterdir():
        if path.read_bytes()[:2] == b"\x1f\x8b":
            path.write_bytes(blob + b"tail")  # tampered after the fact: size and digest no longer match
    with pytest.raises((SizeMismatchError, DigestMismatchError)):
        unpack(name, sandbox / "rootfs")
    _assert_nothing_written(tmp_path, sandbox, victim)


def test_devices_skipped_unless_asked(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "null", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        _ok_file(tar)

    name = write_layers_image(tmp_path / "layout", "dev", [layer_tar(build)])
    unpack(name, tmp_path / "plain")
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["fine.txt"]
    if os.geteuid() == 0:
        unpack(name, tmp_path / "with-devices", devices=True)
        st = os.lstat(tmp_path / "with-devices" / "null")
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


def test_failed_later_layer_leaves_nothing(tmp_path: Path) -> None:
    good = layer_tar(lambda t: add_member(t, "good.txt", b"fine", mode=0o644))
    bad = layer_tar(lambda t: add_member(t, "../escaped", b"x", mode=0o644))
    _expect(tmp_path, [good, bad], UnsafeLayerError, "component")


def test_existing_nonempty_rootfs_is_refused(tmp_path: Path) -> None:
    name = write_layers_image(tmp_path / "layout", "ok", [layer_tar(_ok_file)])
    target = tmp_path / "rootfs"
    target.mkdir()
    (target / "precious").write_text("keep")
    with pytest.raises(LighterError, match="not an empty directory"):
        unpack(name, target)
    assert [p.name for p in target.iterdir()] == ["precious"]


def test_whiteout_cannot_escape(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "up", type=tarfile.SYMTYPE, linkname="../victim")
        add_member(tar, "up/.wh.keep.txt", b"", mode=0o644)

    _expect(tmp_path, [layer_tar(build)], UnsafeLayerError, "outside the root")


def test_final_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    sandbox, victim = _sandbox(tmp_path)

    def first(tar: tarfile.TarFile) -> None:
        add_member(tar, "target", type=tarfile.SYMTYPE, linkname=str(victim / "keep.txt"))

    def second(tar: tarfile.TarFile) -> None:
        add_member(tar, "target", b"overwritten", mode=0o644)

    name = write_layers_image(tmp_path / "layout", "ok", [layer_tar(first), layer_tar(second)])
    unpack(name, sandbox / "rootfs")
    assert (sandbox / "rootfs" / "target").read_bytes() == b"overwritten"
    _assert_victim_untouched(victim)


_HOSTILE_DIR_META = {"mode": 0o700, "uid": 4321, "gid": 4321, "mtime": 12345}


def _hostile_sub(tar: tarfile.TarFile) -> None:
    """``x/sub/`` with metadata that must never reach the victim's ``sub`` (applied at the end of the layer)."""
    info = tarfile.TarInfo("x/sub")
    info.type = tarfile.DIRTYPE
    for key, value in _HOSTILE_DIR_META.items():
        setattr(info, key, value)
    info.pax_headers = {"SCHILY.xattr.user.victim": "pwned"}
    tar.addfile(info)


def _dir_meta_case(tmp_path: Path, layers: list[bytes], link: str) -> None:
    """Unpacking succeeds (``x`` is a symlink at the end), and the victim's metadata is untouched."""
    sandbox, victim = _sandbox(tmp_path)
    name = write_layers_image(tmp_path / "layout", "evil", layers)
    unpack(name, sandbox / "rootfs")
    assert os.readlink(sandbox / "rootfs" / "x") == link
    _assert_victim_untouched(victim)


def test_directory_metadata_not_applied_through_a_parent_replaced_by_a_symlink(tmp_path: Path) -> None:
    """The auditor's repro: ``x/``, ``x/sub/`` (mode, owner, mtime, xattr), then ``x`` → a directory outside."""
    victim = tmp_path / "sandbox" / "victim"

    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "x", type=tarfile.DIRTYPE, mode=0o755)
        _hostile_sub(tar)
        add_member(tar, "x", type=tarfile.SYMTYPE, linkname=str(victim))

    _dir_meta_case(tmp_path, [layer_tar(build)], str(victim))


def test_directory_metadata_not_applied_through_a_chain_of_symlinks(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "x", type=tarfile.DIRTYPE, mode=0o755)
        _hostile_sub(tar)
        add_member(tar, "x", type=tarfile.SYMTYPE, linkname="y")
        add_member(tar, "y", type=tarfile.SYMTYPE, linkname="z")
        add_member(tar, "z", type=tarfile.SYMTYPE, linkname="../victim")  # host-relative: beside ROOTFS

    _dir_meta_case(tmp_path, [layer_tar(build)], "y")


def test_directory_metadata_not_applied_through_a_symlink_in_a_later_layer(tmp_path: Path) -> None:
    victim = tmp_path / "sandbox" / "victim"

    def first(tar: tarfile.TarFile) -> None:
        add_member(tar, "x", type=tarfile.DIRTYPE, mode=0o755)
        add_member(tar, "x/sub", type=tarfile.DIRTYPE, mode=0o755)

    def second(tar: tarfile.TarFile) -> None:
        _hostile_sub(tar)
        add_member(tar, "x", type=tarfile.SYMTYPE, linkname=str(victim))

    _dir_meta_case(tmp_path, [layer_tar(first), layer_tar(second)], str(victim))


def test_directory_metadata_of_the_last_entry_wins(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_member(tar, "d", type=tarfile.DIRTYPE, mode=0o700, mtime=100)
        add_member(tar, "d/f", b"x", mode=0o644)
        add_member(tar, "d", type=tarfile.DIRTYPE, mode=0o751, mtime=200)

    name = write_layers_image(tmp_path / "layout", "twice", [layer_tar(build)])
    unpack(name, tmp_path / "out")
    st = os.lstat(tmp_path / "out" / "d")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o751, 200)


def test_rootless_directory_without_read_permission_gets_its_metadata(tmp_path: Path) -> None:
    """Rootless, a directory made unreadable by one layer is still changed by the next (through ``O_PATH``)."""
    nobody = 65534  # the suite runs as root (as CI does), which may switch to another user and back

    def first(tar: tarfile.TarFile) -> None:
        add_member(tar, "d", type=tarfile.DIRTYPE, mode=0o300, mtime=100)

    def second(tar: tarfile.TarFile) -> None:
        add_member(tar, "d", type=tarfile.DIRTYPE, mode=0o755, mtime=200)

    work = Path(tempfile.mkdtemp(prefix="lighter-rootless-"))  # tmp_path's parents are root's alone
    try:
        os.chown(work, nobody, nobody)
        name = write_layers_image(work / "layout", "ro", [layer_tar(first), layer_tar(second)])
        unpack(name, work / "warm-up")  # every lazily imported module is loaded while still root
        os.seteuid(nobody)
        try:
            unpack(name, work / "out")
        finally:
            os.seteuid(0)
        st = os.lstat(work / "out" / "d")
        assert (stat.S_IMODE(st.st_mode), st.st_mtime, st.st_uid) == (0o755, 200, nobody)
    finally:
        shutil.rmtree(work)


_MEASURE_UNPACK = """
import sys
from lighter.build import unpack

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = peak_kib()
unpack(sys.argv[1], sys.argv[2])
print(before, peak_kib())
"""


def test_large_layer_unpacks_in_bounded_memory(tmp_path: Path) -> None:
    """A 96 MiB file unpacks (streamed) with a peak RSS far below its size.

    Measured in a process of its own: the high-water mark of its memory
    (``VmHWM``, which starts afresh at exec, unlike ``ru_maxrss``, inherited
    from the forking test process) before and after the unpack.
    """
    size = 96 * 1024 * 1024

    def build(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))

    name = write_layers_image(tmp_path / "layout", "big", [layer_tar(build)])
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE_UNPACK, name, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    before_kib, peak_kib = (int(v) for v in out.stdout.split())
    assert (tmp_path / "out" / "big.bin").stat().st_size == size
    assert peak_kib - before_kib < 24 * 1024, f"unpacking grew the peak RSS by {peak_kib - before_kib} KiB"
    assert peak_kib < size // 1024 // 2  # the whole process, interpreter included, stays under half the data
