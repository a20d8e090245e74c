"""The layer tar writer and its one-pass digests, checked on real trees."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import random
import socket
import stat
import tarfile
import threading
from pathlib import Path

import pytest
import zstandard

from lighter.build import rootfs
from lighter.build.pipe import CHUNK, BytePipe, DigestingReader
from lighter.build.rootfs import OwnerNames, entry_info, stream_layer, write_layer_tar
from lighter.build.tree import Action, Opaque, TreeScanner, Whiteout
from lighter.compression import compressed
from lighter.digest import Digester, digest_bytes
from lighter.errors import DigestMismatchError, RootfsError
from lighter.manifest import Descriptor
from tests.test_build_helpers import CAPABILITY, make_tree

TS = 1_700_000_000


def _layer(root: Path, compression: str = "none", **kwargs: object) -> tuple[bytes, object]:
    blobs: list[bytes] = []

    def consume(stream: io.RawIOBase) -> Descriptor:
        data = stream.read()
        assert data is not None
        blobs.append(data)
        return Descriptor("application/octet-stream", digest_bytes(data), len(data))

    devices = bool(kwargs.pop("devices", False))
    actions = TreeScanner(str(root), base=None, clamp=TS, devices=devices).scan()
    names = OwnerNames.from_root(str(root))
    result = stream_layer(actions, consume, names=names, clamp=TS, compression=compression, **kwargs)  # type: ignore[arg-type]
    return blobs[0], result


def _members(tar_bytes: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_tar_records_everything(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", devices=True)  # the tests run as root, as CI does
    blob, result = _layer(tree, devices=True)
    members = _members(blob)
    tool = members["usr/bin/tool"]
    assert tool.isreg() and tool.mode == 0o4755 and tool.size == 1000
    assert tool.pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == CAPABILITY
    assert tool.pax_headers["SCHILY.xattr.user.note"] == "hello"
    link = members["usr/bin/tool-link"]
    assert link.islnk() and link.linkname == "usr/bin/tool" and link.size == 0
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["fifo"].isfifo() and members["fifo"].mode == 0o640
    assert members["readonly"].isdir() and members["readonly"].mode == 0o555
    assert all(m.mtime <= TS for m in members.values())
    data = members["home/app/data.bin"]
    assert (data.uid, data.gid, data.uname, data.gname) == (1000, 1000, "app", "app")
    assert members["null"].ischr() and (members["null"].devmajor, members["null"].devminor) == (1, 3)
    long_name = f"opt/{'d' * 120}/{'f' * 150}"
    assert members[long_name].isreg()
    assert result.diff_id == digest_bytes(blob)  # type: ignore[attr-defined]
    assert result.uncompressed_size == len(blob)  # type: ignore[attr-defined]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_one_pass_digests_match_the_bytes(tmp_path: Path, compression: str) -> None:
    tree = make_tree(tmp_path / "t")
    plain, _ = _layer(tree, "none")
    blob, result = _layer(tree, compression)
    if compression == "gzip":
        assert gzip.decompress(blob) == plain
    else:
        assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == plain
    assert result.descriptor.digest == digest_bytes(blob)  # type: ignore[attr-defined]
    assert result.diff_id == digest_bytes(plain)  # type: ignore[attr-defined]


def test_zstd_output_does_not_depend_on_thread_count(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    (tree / "big.bin").write_bytes(os.urandom(1 << 20) * 12)
    blobs = {_layer(tree, "zstd", threads=n)[0] for n in (1, 2, 4)}
    assert len(blobs) == 1


def test_sockets_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "file").write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tree / "sock"))
        with caplog.at_level(logging.WARNING):
            blob, _ = _layer(tree)
    finally:
        sock.close()
    assert sorted(_members(blob)) == ["file"]
    assert "sock" in caplog.text and "sockets" in caplog.text


def test_devices_only_when_allowed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    os.mknod(tree / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with caplog.at_level(logging.WARNING):
        blob, _ = _layer(tree)
    assert _members(blob) == {} and "--devices" in caplog.text
    blob, _ = _layer(tree, devices=True)
    assert _members(blob)["null"].ischr()


def test_owner_names_come_from_the_tree_not_the_host(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "passwd").write_text("daemon-in-tree:x:0:0::/:/bin/false\n")
    (tree / "etc" / "group").symlink_to("/etc/group")  # never followed out of the tree
    names = OwnerNames.from_root(str(tree))
    assert names.users == {0: "daemon-in-tree"} and names.groups == {}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_file_changed_during_commit_is_an_error(tmp_path: Path, compression: str) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "f").write_text("short")
    actions = TreeScanner(str(tree), base=None, clamp=None, devices=False).scan()
    (tree / "f").write_text("much longer now")

    def consume(stream: io.RawIOBase) -> Descriptor:
        data = stream.read() or b""
        return Descriptor("x", digest_bytes(data), len(data))

    with pytest.raises(RootfsError, match="changed while"):
        stream_layer(actions, consume, names=OwnerNames({}, {}), clamp=None, compression=compression)  # type: ignore[arg-type]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_consumer_failure_stops_the_writer(tmp_path: Path, compression: str) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "big").write_bytes(os.urandom(1 << 20) * 20)
    actions = TreeScanner(str(tree), base=None, clamp=None, devices=False).scan()

    def consume(stream: io.RawIOBase) -> Descriptor:
        stream.read(1000)
        raise OSError("destination full")

    with pytest.raises(OSError, match="destination full"):
        stream_layer(actions, consume, names=OwnerNames({}, {}), clamp=None, compression=compression)  # type: ignore[arg-type]
    assert not [t for t in threading.enumerate() if t.name.startswith("lighter-layer")]  # both stages stopped


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_consumer_that_stops_early_cannot_pass_a_wrong_digest(tmp_path: Path, compression: str) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "big").write_bytes(os.urandom(1 << 20) * 3)
    actions = TreeScanner(str(tree), base=None, clamp=None, devices=False).scan()

    def consume(stream: io.RawIOBase) -> Descriptor:
        data = stream.read(1000) or b""
        return Descriptor("x", digest_bytes(data), len(data))

    with pytest.raises(DigestMismatchError, match="new layer blob"):
        stream_layer(actions, consume, names=OwnerNames({}, {}), clamp=None, compression=compression)  # type: ignore[arg-type]


def _one_reader_gzip(actions: list[Action], names: OwnerNames) -> bytes:
    """The gzip blob as it was made before the compressor had a thread: pulled through one pipe by its reader."""
    pipe = BytePipe()

    def produce() -> None:
        write_layer_tar(actions, pipe.writer, names, TS)  # type: ignore[arg-type]
        pipe.writer.close()

    writer = threading.Thread(target=produce)
    writer.start()
    stream = compressed(DigestingReader(pipe.reader), "gzip")  # type: ignore[arg-type]
    blob = b"".join(iter(lambda: stream.read(CHUNK), b""))
    writer.join()
    return blob


def test_gzip_is_fed_the_pieces_it_always_was(tmp_path: Path) -> None:
    """ISA-L's output depends on how its input is cut: the compressor stage must read as one reader did."""
    tree = tmp_path / "t"
    tree.mkdir()
    rng = random.Random(7)
    sizes = [0, 10, 511, 513, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] + [rng.randrange(200_000) for _ in range(20)]
    for i, size in enumerate(sizes):
        data = rng.randbytes(size // 2) + b"text " * (size // 10)
        (tree / f"f{i:03d}").write_bytes(data[:size])
    actions = TreeScanner(str(tree), base=None, clamp=TS, devices=False).scan()
    names = OwnerNames({}, {})
    blob, _ = _layer(tree, "gzip")
    assert blob == _one_reader_gzip(actions, names)


def test_a_pipe_with_a_digester_hashes_what_its_writer_sends() -> None:
    digester = Digester()
    pipe = BytePipe(depth=64, digester=digester)
    pieces = [os.urandom(n) for n in (1, 511, 2 << 20, 0, 7, 1 << 20, 3)]
    for piece in pieces:
        pipe.writer.write(piece)
    pipe.writer.close()
    got = b"".join(iter(lambda: pipe.reader.read(100_000), b""))
    assert got == b"".join(pieces)
    assert (digester.digest(), digester.size) == (digest_bytes(got), len(got))


def test_pipe_keeps_bytes_and_order() -> None:
    pipe = BytePipe(depth=2)
    pieces = [os.urandom(n) for n in (1, 511, 2 << 20, 7, 1 << 20, 3)]

    def write() -> None:
        for p in pieces:
            pipe.writer.write(p)
        pipe.writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    reader = DigestingReader(pipe.reader)  # type: ignore[arg-type]
    got = b"".join(iter(lambda: reader.read(100_000), b""))
    thread.join()
    assert got == b"".join(pieces)
    assert reader.digest().hex == hashlib.sha256(got).hexdigest()


class _Recorder:
    """A sink that keeps every write, to compare what two tar writers wrote and in which pieces."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def tell(self) -> int:
        return sum(map(len, self.writes))


def _tarfile_layer(actions: list[Action], out: _Recorder, names: OwnerNames, clamp: int | None) -> None:
    """The layer tar as ``tarfile`` itself writes it (what ``write_layer_tar`` must reproduce, write for write)."""
    tar = tarfile.TarFile(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
    tar.copybufsize = CHUNK
    links: dict[tuple[int, int], str] = {}
    for action in actions:
        if isinstance(action, (Whiteout, Opaque)):
            head, _, tail = action.path.rpartition("/")
            if isinstance(action, Opaque):
                head, tail = action.path, ".wh..opq"
            info = tarfile.TarInfo(f"{head}/.wh.{tail}" if head else f".wh.{tail}")
            info.mode, info.mtime = 0, 0
            tar.addfile(info)
            continue
        info = entry_info(action, names, clamp)
        first = links.setdefault((action.st.st_dev, action.st.st_ino), action.path) if action.st.st_nlink > 1 else ""
        if action.kind == "file" and first and first != action.path:
            info.type, info.size, info.linkname = tarfile.LNKTYPE, 0, first
            tar.addfile(info)
        elif action.kind == "file":
            with open(action.abspath, "rb", buffering=0) as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
    tar.close()


def _odd_tree(root: Path) -> Path:
    """``make_tree`` and the corners of the ustar header: field limits, PAX-only values, large files."""
    tree = make_tree(root, devices=True)
    (tree / ("n" * 100)).write_text("a name of exactly 100 bytes")
    (tree / ("m" * 99)).mkdir()  # 100 bytes with the directory's slash
    (tree / "link101").symlink_to("L" * 101)
    (tree / "link100").symlink_to("L" * 100)
    (tree / "biguid").write_text("u")
    os.chown(tree / "biguid", 3_000_000, 5)
    for i in range(3):
        os.link(tree / "biguid", tree / f"hardlink{i}")
    (tree / "old").write_text("o")
    os.utime(tree / "old", (-100, -100))
    (tree / "binary-xattr").write_text("b")
    os.setxattr(tree / "binary-xattr", "user.bin", b"\xff\xfe\x00a")
    (tree / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\nüser:x:5:5::/:/bin/sh\n" + "x" * 40 + ":x:1000:1:::\n")
    (tree / "etc" / "group").write_text("root:x:0:\n" + "g" * 32 + ":x:5:\n")
    (tree / "big").write_bytes(random.Random(1).randbytes(3 * CHUNK + 100))
    (tree / "exact").write_bytes(b"e" * CHUNK)
    os.mknod(tree / "blk", 0o600 | stat.S_IFBLK, os.makedev(259, 70000))
    return tree


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("clamp", [None, TS])
def test_the_tar_is_tarfiles_byte_for_byte_and_write_for_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool, clamp: int | None
) -> None:
    """gzip's output depends on how its input is cut: the writer must write what TarFile.addfile writes."""
    monkeypatch.setattr(rootfs, "FAST_HEADERS", fast and rootfs.FAST_HEADERS)
    tree = _odd_tree(tmp_path / "t")
    actions = TreeScanner(str(tree), base=None, clamp=clamp, devices=True).scan()
    actions += [Whiteout("gone"), Whiteout("usr/gone"), Opaque(""), Opaque("opt/" + "d" * 120), Whiteout("ü/x")]
    names = OwnerNames.from_root(str(tree))
    ours, theirs = _Recorder(), _Recorder()
    write_layer_tar(actions, ours, names, clamp)  # type: ignore[arg-type]
    _tarfile_layer(actions, theirs, names, clamp)
    assert [len(w) for w in ours.writes] == [len(w) for w in theirs.writes]
    assert b"".join(ours.writes) == b"".join(theirs.writes)
