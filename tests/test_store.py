"""The local store: blob area, catalogue, store: transport, gc, and what survives a killed writer."""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lighter import lists
from lighter.cli.store_cmd import human_size
from lighter.copy import CopyOptions, copy_image
from lighter.digest import digest_bytes
from lighter.errors import (
    DigestMismatchError,
    ImageInUseError,
    ImageNotFoundError,
    InvalidImageNameError,
    SizeMismatchError,
    StoreError,
)
from lighter.manifest import Descriptor, Index, manifest_digest, parse_manifest
from lighter.platform import Platform
from lighter.store import Store, collect_garbage, normalize_name, split_name, walk
from lighter.testing.random import generate_image, write_random_image, write_random_index
from lighter.transports import TransportOptions, parse_image_name
from lighter.validate import check_image
from tests.fixtures_images import make_oci_image, make_oci_index


def opts(root: Path) -> TransportOptions:
    return TransportOptions(store_root=str(root))


def put_image(root: Path, name: str, **kwargs: object) -> Descriptor:
    with parse_image_name(f"store:{name}").new_destination(opts(root)) as dest:
        manifest = write_random_image(dest, **kwargs)  # type: ignore[arg-type]
    return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app", "localhost/app:latest"),
        ("demo/app:1", "localhost/demo/app:1"),
        ("localhost/app:2", "localhost/app:2"),
        ("quay.io/x/y", "quay.io/x/y:latest"),
        ("localhost:5000/a:b", "localhost:5000/a:b"),
    ],
)
def test_names_are_normalised_as_podman_does(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("app", "store:localhost/app:latest"),
        ("[/tmp/x]app:1", "store:[/tmp/x]localhost/app:1"),
        ("@0123abcd", "store:@0123abcd"),
        ("app@sha256:" + "a" * 64, "store:localhost/app@sha256:" + "a" * 64),
    ],
)
def test_store_names_parse_and_print(name: str, shown: str) -> None:
    assert str(parse_image_name(f"store:{name}")) == shown


@pytest.mark.parametrize("bad", ["", "@xyz", "[/tmp/x", "App", "app@sha256:short"])
def test_bad_store_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidImageNameError):
        parse_image_name(f"store:{bad}")


# -- blob area ------------------------------------------------------------------------------


def test_blob_is_verified_before_it_becomes_visible(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    data = b"hello blob"
    good = digest_bytes(data)
    with pytest.raises(DigestMismatchError):
        store.blobs.put(io.BytesIO(data), digest_bytes(b"other"), len(data))
    with pytest.raises(SizeMismatchError):
        store.blobs.put(io.BytesIO(data), good, len(data) - 1)
    assert list(store.blobs.digests()) == []
    assert [p.name for p in (tmp_path / "blobs" / "sha256").iterdir()] == []  # no temporary left behind
    assert store.blobs.put(io.BytesIO(data), good, len(data)) == good
    assert (tmp_path / "blobs" / "sha256" / good.hex).read_bytes() == data
    assert store.blobs.read(good) == data


# -- the store: transport -------------------------------------------------------------------


def test_image_round_trips_with_its_bytes(tmp_path: Path) -> None:
    desc = put_image(tmp_path, "app:1", layer_sizes=(4096, 100), platform="linux/arm64")
    with parse_image_name("store:app:1").new_source(opts(tmp_path)) as source:
        raw, media_type = source.manifest()
        assert manifest_digest(raw) == desc.digest
        assert media_type == desc.media_type
        assert source.top_digest() == desc.digest
    check_image("store:app:1", opts(tmp_path))
    record = Store(str(tmp_path)).resolve("app:1")
    manifest = parse_manifest(raw)
    assert record.id == manifest.config.digest.hex  # type: ignore[union-attr]
    assert record.names == ("localhost/app:1",)
    assert not record.is_list
    # the same image under an id prefix and under name@digest
    check_image(f"store:@{record.id[:10]}", opts(tmp_path))
    check_image(f"store:app@{desc.digest}", opts(tmp_path))


def test_list_keeps_its_digest_and_serves_instances(tmp_path: Path) -> None:
    with parse_image_name("store:multi:1").new_destination(opts(tmp_path)) as dest:
        index = write_random_index(dest, platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"), seed=3)
    with parse_image_name("store:multi:1").new_source(opts(tmp_path)) as source:
        raw, _ = source.manifest()
        assert raw == index.raw
        for desc in index.manifests:
            inst, _ = source.manifest(desc.digest)
            assert manifest_digest(inst) == desc.digest
    record = Store(str(tmp_path)).resolve("multi:1")
    assert record.is_list and record.digest == index.digest
    report = check_image("store:multi:1", opts(tmp_path))
    assert set(report.manifests) == {index.digest, *(d.digest for d in index.manifests)}
    # NAME@DIGEST of an instance reads that instance of the repository's list
    check_image(f"store:multi@{index.manifests[2].digest}", opts(tmp_path))


def test_name_at_digest_needs_the_repository_to_match(tmp_path: Path) -> None:
    """As containers-storage's imageMatchesRepo: a digest is looked up within the named repository only."""
    desc = put_image(tmp_path, "app:1", seed=41)
    record = Store(str(tmp_path)).resolve("app:1")
    with pytest.raises(ImageNotFoundError, match=r"stored as localhost/app:1, not in repository localhost/other"):
        parse_image_name(f"store:other@{desc.digest}").new_source(opts(tmp_path))
    check_image(f"store:app@{desc.digest}", opts(tmp_path))
    check_image(f"store:app:anytag@{desc.digest}", opts(tmp_path))  # the tag says nothing next to a digest
    check_image(f"store:@{record.id}", opts(tmp_path))  # by id: no repository to match
    # an image that answers to the digest of the list it was copied out of: by that digest, in its repository
    index = make_oci_index(tmp_path / "layout", "l", platforms=("linux/amd64", "linux/arm64"), seed=42)
    copy_image(
        f"oci:{tmp_path / 'layout'}:l",
        "store:picked:1",
        CopyOptions(system_platform=Platform("linux", "arm64")),
        dst_options=opts(tmp_path),
    )
    with parse_image_name(f"store:picked@{index.digest}").new_source(opts(tmp_path)) as source:
        assert source.top_digest() == index.digest  # the list's bytes, as containers-storage serves them
        assert source.record.names == ("localhost/picked:1",)
        assert manifest_digest(source.manifest(index.manifests[1].digest)[0]) == index.manifests[1].digest
    with pytest.raises(ImageNotFoundError, match="localhost/picked:1"):
        parse_image_name(f"store:app@{index.digest}").new_source(opts(tmp_path))


def test_missing_image_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError):
        parse_image_name("store:nothing").new_source(opts(tmp_path))


def test_store_root_comes_from_options_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTER_ROOT", str(tmp_path / "env"))
    put_image(tmp_path / "env", "a")
    check_image("store:a")  # no options: $LIGHTER_ROOT
    monkeypatch.delenv("LIGHTER_ROOT")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Store().root == str(tmp_path / "xdg" / "lighter")
    check_image(f"store:[{tmp_path / 'env'}]a")


def test_commit_refuses_a_record_whose_blobs_are_missing(tmp_path: Path) -> None:
    manifest, _config, _layers = generate_image(seed=5)
    with (
        parse_image_name("store:broken").new_destination(opts(tmp_path)) as dest,
        pytest.raises(StoreError, match="missing blobs"),
    ):
        dest.put_manifest(manifest.raw, manifest.media_type)
        dest.commit()
    assert Store(str(tmp_path)).catalog.all() == []


def test_destination_refuses_ids_and_digests(tmp_path: Path) -> None:
    for name in ("store:@" + "a" * 64, "store:app@sha256:" + "a" * 64):
        with pytest.raises(InvalidImageNameError):
            parse_image_name(name).new_destination(opts(tmp_path))


def test_same_config_other_manifest_keeps_both(tmp_path: Path) -> None:
    gz = put_image(tmp_path, "app:gzip", seed=1, compression="gzip")
    zs = copy_image(
        "store:app:gzip",
        "store:app:zstd",
        CopyOptions(compression="zstd"),
        src_options=opts(tmp_path),
        dst_options=opts(tmp_path),
    )
    assert zs.digest != gz.digest
    store = Store(str(tmp_path))
    gz_record, zs_record = store.resolve("app:gzip"), store.resolve("app:zstd")
    assert gz_record.id != zs_record.id  # recompressed: same config, its own record
    assert (gz_record.digest, zs_record.digest) == (gz.digest, zs.digest)
    check_image("store:app:zstd", opts(tmp_path))
    check_image("store:app:gzip", opts(tmp_path))


# -- gc and killed writers ------------------------------------------------------------------


def test_gc_removes_only_what_no_record_reaches(tmp_path: Path) -> None:
    keep = put_image(tmp_path, "keep", seed=1)
    put_image(tmp_path, "drop", seed=2, layer_sizes=(2048,))
    with parse_image_name("store:list").new_destination(opts(tmp_path)) as dest:
        write_random_index(dest, seed=3)
    store = Store(str(tmp_path))
    before = set(store.blobs.digests())
    store.remove("drop")
    result = collect_garbage(store)
    after = set(store.blobs.digests())
    assert after == before - set(result.removed)
    assert len(result.removed) == 3  # manifest, config, layer of "drop"
    assert keep.digest in after
    check_image("store:keep", opts(tmp_path))
    check_image("store:list", opts(tmp_path))
    assert collect_garbage(store).removed == ()


KILLED_WRITER = textwrap.dedent(
    """
    import io, sys, time
    from lighter.testing.random import generate_image
    from lighter.transports import TransportOptions, parse_image_name
    manifest, config, layers = generate_image(layer_sizes=(4096, 4096), seed=11)
    dest = parse_image_name("store:half").new_destination(TransportOptions(store_root=sys.argv[1]))
    dest.put_blob(io.BytesIO(config.raw), manifest.config)
    dest.put_blob(io.BytesIO(layers[0].blob), layers[0].descriptor)
    dest.put_manifest(manifest.raw, manifest.media_type)
    print("written", flush=True)
    time.sleep(60)
    """
)


def test_a_killed_writer_leaves_no_record_and_gc_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    store = Store(str(tmp_path))
    assert store.catalog.all() == []
    assert len(list(store.blobs.digests())) == 2
    assert len(collect_garbage(store).removed) == 2
    assert list(store.blobs.digests()) == []


#: Runs ``lighter ARGS…`` and SIGKILLs itself at the N-th durable step (an fsync or a rename) of the
#: copy: a real kill at a point chosen by the test, not by the scheduler.  N=0 never kills and
#: prints how many steps there were.
KILL_AT_STEP = textwrap.dedent(
    """
    import atexit, os, signal, sys
    kill_at, steps = int(sys.argv[1]), [0]
    def counted(real):
        def step(*args, **kwargs):
            steps[0] += 1
            if steps[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return step
    os.fsync, os.replace = counted(os.fsync), counted(os.replace)
    if not kill_at:
        atexit.register(lambda: print(steps[0], file=sys.stderr))
    from lighter.cli.main import main
    sys.argv = ["lighter", *sys.argv[2:]]
    main()
    """
)


def assert_every_record_is_whole(store: Store) -> None:
    for record in store.catalog.all():
        assert walk(store.blobs, record.digest, record.media_type).missing == [], record


def test_copies_killed_at_random_points_leave_whole_records_and_gc_cleans_up(tmp_path: Path) -> None:
    make_oci_index(
        tmp_path / "in", "l", platforms=("linux/amd64", "linux/arm64"), layer_sizes=(200_000, 50_000), seed=61
    )
    source = f"oci:{tmp_path / 'in'}:l"

    def copy(root: Path, kill_at: int, *flags: str) -> subprocess.CompletedProcess[str]:
        args = ["copy", "-q", "--all", "--root", str(root), *flags, source, "store:app:1"]
        return subprocess.run(
            [sys.executable, "-c", KILL_AT_STEP, str(kill_at), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    counted = {}
    for flags in ((), ("--dest-compress-format", "zstd")):
        full = copy(tmp_path / f"count-{len(flags)}", 0, *flags)
        assert full.returncode == 0, full.stderr
        counted[flags] = int(full.stderr.split()[-1])
        assert counted[flags] > 6  # blobs, manifests, the catalogue: enough points to kill at
    rng = random.Random(61)
    killed = 0
    for round_no in range(10):  # bounded: ten kills at random steps, half of them while recompressing
        flags = () if round_no % 2 else ("--dest-compress-format", "zstd")
        root = tmp_path / f"round-{round_no}"
        result = copy(root, rng.randint(1, counted[flags]), *flags)
        killed += result.returncode == -signal.SIGKILL
        store = Store(str(root))
        assert_every_record_is_whole(store)
        collect_garbage(store)
        assert_every_record_is_whole(store)
        assert collect_garbage(store).removed == ()
        assert [p for p in (root / "blobs").rglob(".tmp-*")] == []  # temporaries gone too
        again = copy(root, 0, *flags)  # the store stays usable: the copy completes over what was left
        assert again.returncode == 0, again.stderr
        check_image("store:app:1", opts(root))
    assert killed == 10  # a copy takes the same steps every time, so each round was really killed


# -- rmi against list edits ---------------------------------------------------------------


SLOW_ADDER = textwrap.dedent(
    """
    import sys
    from lighter import lists
    from lighter.store import Store
    root = sys.argv[1]
    # as a ``manifest add`` that has read the image and not yet recorded it in the list
    with Store(root).editing_lists():
        print("holding", flush=True)
        sys.stdin.readline()
        lists.add("l", "store:img", root=root)
    print("added", flush=True)
    """
)


def blocked_on(path: Path, proc: subprocess.Popen[str]) -> bool:
    """Whether ``proc`` comes to wait for a lock on ``path`` (seen in /proc/locks) before it exits."""
    inode = f":{os.stat(path).st_ino} "
    for _ in range(1200):  # bounded: 60 s at most
        if proc.poll() is not None:
            return False
        with open("/proc/locks") as locks:
            if any("->" in line and f" {proc.pid} " in line and inode in line for line in locks):
                return True
        time.sleep(0.05)
    return False


def test_rmi_waits_for_a_list_edit_then_refuses(tmp_path: Path) -> None:
    put_image(tmp_path, "img", seed=31)
    lists.create("l", root=str(tmp_path))
    env = {**os.environ, "LIGHTER_ROOT": str(tmp_path)}
    adder = subprocess.Popen(
        [sys.executable, "-c", SLOW_ADDER, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    rmi: subprocess.Popen[str] | None = None
    try:
        assert adder.stdout is not None and adder.stdin is not None
        assert adder.stdout.readline().strip() == "holding"
        rmi = subprocess.Popen(
            [sys.executable, "-m", "lighter.cli.main", "rmi", "img"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waited = blocked_on(tmp_path / "lists.lock", rmi)
        adder.stdin.write("\n")
        adder.stdin.flush()
        assert adder.stdout.readline().strip() == "added"
        _, err = rmi.communicate(timeout=60)
    finally:
        for proc in (adder, rmi):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert waited, "rmi did not wait for the list edit in progress"
    assert rmi.returncode == 1 and "needed by the manifest list localhost/l:latest" in err, err
    assert Store(str(tmp_path)).find("img") is not None
    assert [m.digest for m in lists.load("l", root=str(tmp_path)).index.manifests] == [
        Store(str(tmp_path)).resolve("img").digest
    ]


def test_needed_by_counts_only_locations_in_this_store(tmp_path: Path) -> None:
    here, other = tmp_path / "here", tmp_path / "other"
    put_image(here, "img", seed=32)
    put_image(other, "img", seed=32)  # the same image, so the same digest, in another store
    lists.create("far", [f"store:[{other}]img"], root=str(here))
    store = Store(str(here))
    assert store.needed_by(store.resolve("img")) == []
    assert store.remove("img")[1] == "deleted"  # that list reads its instance from the other store
    put_image(here, "img2", seed=33)
    (tmp_path / "alias").symlink_to(here)
    lists.create("near", [f"store:[{tmp_path / 'alias'}]img2"], root=str(here))
    with pytest.raises(ImageInUseError, match="localhost/near:latest"):
        store.remove("img2")  # another spelling of this store's root is this store
    assert [lst.names for lst in store.needed_by(store.resolve("img2"))] == [("localhost/near:latest",)]


# -- CLI ------------------------------------------------------------------------------------


def snapshot(root: Path) -> tuple[str, list[str]]:
    """Everything a user could see of a store: its records and its blobs."""
    store = Store(str(root))
    records = json.dumps([repr(r) for r in store.catalog.all()])
    return records, sorted(str(d) for d in store.blobs.digests())


def table_rows(text: str, columns: list[str]) -> list[dict[str, str]]:
    """The rows of a podman-style table, cut at the header's column starts (which must be exactly ``columns``)."""
    header, *lines = text.splitlines()
    starts = [header.index(name) for name in columns]
    assert starts == sorted(starts) and header.split() == " ".join(columns).split(), header
    bounds = [*starts[1:], None]
    return [{name: line[a:b].strip() for name, a, b in zip(columns, starts, bounds, strict=True)} for line in lines]


def test_images_tag_rmi_gc(tmp_path: Path, run_lighter) -> None:  # type: ignore[no-untyped-def]
    env = {"LIGHTER_ROOT": str(tmp_path)}
    a = put_image(tmp_path, "demo/a:1", seed=1)
    put_image(tmp_path, "demo/b:1", seed=2, layer_sizes=(10_000,))
    table = run_lighter("images", env=env)
    assert table.returncode == 0, table.stderr
    store = Store(str(tmp_path))
    ra, rb = store.resolve("demo/a:1"), store.resolve("demo/b:1")
    rows = table_rows(table.stdout, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"])
    newest_first = sorted((ra, rb), key=lambda r: (r.created, r.id), reverse=True)
    assert [(r["REPOSITORY"], r["TAG"], r["IMAGE ID"], r["SIZE"]) for r in rows] == [
        (split_name(rec.names[0])[0], "1", rec.id[:12], human_size(rec.size)) for rec in newest_first
    ]
    assert all(re.fullmatch(r"\d+(\.\d+)? (B|kB|MB)", r["SIZE"]) for r in rows)
    assert all(re.fullmatch(r"(\d+ \w+|About an? \w+|Less than a second) ago", r["CREATED"]) for r in rows)
    digests = run_lighter("images", "--digests", "--no-trunc", env=env)
    rows = table_rows(digests.stdout, ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"])
    assert [(r["REPOSITORY"], r["DIGEST"], r["IMAGE ID"]) for r in rows] == [
        (split_name(rec.names[0])[0], str(rec.digest), rec.id) for rec in newest_first
    ]
    assert str(a.digest) in {r["DIGEST"] for r in rows}
    assert run_lighter("tag", "demo/a:1", "demo/a:2", "other", env=env).returncode == 0
    listed = json.loads(run_lighter("images", "--format", "json", env=env).stdout)
    names = {n for item in listed for n in item["Names"]}
    assert names == {"localhost/demo/a:1", "localhost/demo/a:2", "localhost/other:latest", "localhost/demo/b:1"}
    a_json = next(i for i in listed if "localhost/other:latest" in i["Names"])
    assert a_json["Digest"] == str(a.digest) and a_json["Size"] > 0 and not a_json["IsManifestList"]
    # a name of an image with other names is only untagged
    untag = run_lighter("rmi", "other", env=env)
    assert untag.stdout.strip() == "Untagged: localhost/other:latest"
    # by id, several names: refused without --force
    refused = run_lighter("rmi", a_json["Id"][:12], env=env)
    assert refused.returncode == 1 and "several names" in refused.stderr
    deleted = run_lighter("rmi", "--force", a_json["Id"][:12], env=env)
    assert deleted.returncode == 0 and f"Deleted: {a_json['Id']}" in deleted.stdout
    gc = run_lighter("store", "gc", env=env)
    assert gc.returncode == 0 and gc.stdout.startswith("removed 3 blobs")
    check_image("store:demo/b:1", opts(tmp_path))
    missing = run_lighter("rmi", "nothing", env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_images_accepts_root_option(tmp_path: Path, run_lighter) -> None:  # type: ignore[no-untyped-def]
    put_image(tmp_path, "x", seed=4)
    out = run_lighter("images", "--root", str(tmp_path), "-q", env={"LIGHTER_ROOT": str(tmp_path / "elsewhere")})
    assert out.returncode == 0
    assert out.stdout.split() == [Store(str(tmp_path)).resolve("x").id[:12]]


def test_index_written_through_store_is_an_index(tmp_path: Path) -> None:
    with parse_image_name("store:l").new_destination(opts(tmp_path)) as dest:
        index = write_random_index(dest, oci=False, seed=8)
    with parse_image_name("store:l").new_source(opts(tmp_path)) as source:
        parsed = parse_manifest(*source.manifest())
    assert isinstance(parsed, Index) and parsed.digest == index.digest and not parsed.is_oci


def test_copy_into_the_store_and_back_keeps_every_digest(tmp_path: Path, run_lighter) -> None:  # type: ignore[no-untyped-def]
    image = make_oci_image(tmp_path / "in", "one", layer_sizes=(3000, 200), seed=21)
    index = make_oci_index(tmp_path / "in", "many", platforms=("linux/amd64", "linux/arm64"), seed=22)
    root = str(tmp_path / "store")
    for args in (
        ("copy", "--root", root, f"oci:{tmp_path / 'in'}:one", "store:app:1"),
        ("copy", "--root", root, "--all", f"oci:{tmp_path / 'in'}:many", "store:app:multi"),
        ("copy", "--root", root, "store:app:1", f"oci:{tmp_path / 'out'}:one"),
        ("copy", "--root", root, "--all", "store:app:multi", f"oci:{tmp_path / 'out'}:many"),
    ):
        result = run_lighter(*args)
        assert result.returncode == 0, result.stderr
    store = Store(root)
    assert store.resolve("app:1").digest == image.digest
    assert store.resolve("app:multi").digest == index.digest and store.resolve("app:multi").is_list
    for tag, digest in (("one", image.digest), ("many", index.digest)):
        with parse_image_name(f"oci:{tmp_path / 'out'}:{tag}").new_source() as source:
            assert manifest_digest(source.manifest()[0]) == digest
        check_image(f"oci:{tmp_path / 'out'}:{tag}")
