"""Pure parts of ``lighter sync``: the YAML file, semver constraints, skopeo's destination names, shards, the ledger.

Destination names are checked against what skopeo's sync.go computes
(``path.Join(destination, destSuffix)`` with ``path.Base`` unless
``--scoped``); the end-to-end comparison with a real ``skopeo sync`` is in
test_sync_registry.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lighter.digest import digest_bytes
from lighter.errors import InvalidInputError, InvalidReferenceError, InvalidSyncConfigError
from lighter.sync import (
    BlobLedger,
    SourceImage,
    SyncUnit,
    check_kinds,
    load_sync_config,
    parse_constraint,
    parse_shard,
    parse_sync_config,
    plan_units,
    select_shard,
    shard_of,
)
from lighter.sync.plan import dir_suffix, go_base, go_join
from lighter.transports import TransportOptions

# -- YAML ---------------------------------------------------------------------

SKOPEO_EXAMPLE = r"""
registry.example.com:
    images:
        busybox: []
        redis:
            - "1.0"
            - "2.0"
            - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
    images-by-tag-regex:
        nginx: ^1\.13\.[12]-alpine-perl$
    images-by-semver:
        alpine: ">= 3.12.0"
    credentials:
        username: john
        password: this is a secret
    tls-verify: true
    cert-dir: /home/john/certs
quay.io:
    tls-verify: false
    images:
        coreos/etcd:
            - latest
"""


def test_skopeo_documented_example_parses_in_file_order() -> None:
    registries = parse_sync_config(SKOPEO_EXAMPLE)
    assert [r.registry for r in registries] == ["registry.example.com", "quay.io"]
    first, second = registries
    assert first.images == (
        ("busybox", ()),
        ("redis", ("1.0", "2.0", "sha256:0000000000000000000000000000000011111111111111111111111111111111")),
    )
    assert [(name, rx.pattern) for name, rx in first.images_by_tag_regex] == [("nginx", r"^1\.13\.[12]-alpine-perl$")]
    assert first.images_by_semver[0][0] == "alpine"
    assert first.creds == "john:this is a secret"
    assert (first.tls_verify, first.cert_dir) == (True, "/home/john/certs")
    assert (second.tls_verify, second.creds, second.cert_dir) == (False, None, None)
    assert "secret" not in repr(first)


def test_scalars_stay_as_written() -> None:
    # YAML 1.1 would read 1.10 as the float 1.1 and 010 as 8; skopeo (yaml.v3 into []string) keeps the text
    (cfg,) = parse_sync_config("r.io:\n  images:\n    app: [1.10, 010, latest]\n")
    assert cfg.images == (("app", ("1.10", "010", "latest")),)


def test_missing_tag_list_means_every_tag() -> None:
    (cfg,) = parse_sync_config("r.io:\n  images:\n    app:\n")
    assert cfg.images == (("app", ()),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("r.io:\n  images: [a, b]\n", "registry 'r.io' images: expected a mapping, got a list"),
        ("r.io:\n  images:\n    app: latest\n", "images 'app': expected a list of tags or digests"),
        ("r.io:\n  tls-verify: maybe\n", "tls-verify: expected true or false, got 'maybe'"),
        ("r.io:\n  images-by-tag-regex:\n    app: '(['\n", "invalid regular expression '(['"),
        ("r.io:\n  images-by-semver:\n    app: '>>1'\n", "invalid semver constraint '>>1'"),
        ("- a\n- b\n", "expected a mapping, got a list"),
        ("r.io: [\n", "failed to parse"),
    ],
)
def test_bad_files_fail_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(InvalidSyncConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_sync_config(text)


def test_empty_file_has_no_registries(tmp_path: Path) -> None:
    path = tmp_path / "sync.yml"
    path.write_text("")
    assert load_sync_config(str(path)) == ()
    with pytest.raises(InvalidSyncConfigError, match="cannot read sync YAML"):
        load_sync_config(str(tmp_path / "missing.yml"))


# -- semver (Masterminds v3 rules) ---------------------------------------------

SEMVER_TABLE = [
    (">= 3.12.0", ["3.11.9", "3.12.0", "v3.13", "4.0.0", "4.0.0-rc1", "latest"], ["3.12.0", "v3.13", "4.0.0"]),
    ("1.2 - 1.4.5", ["1.1.9", "1.2.0", "1.4.5", "1.4.6"], ["1.2.0", "1.4.5"]),
    ("~1.2.3", ["1.2.2", "1.2.9", "1.3.0"], ["1.2.9"]),
    ("~1", ["0.9", "1.0", "1.9.9", "2.0"], ["1.0", "1.9.9"]),
    ("^1.2", ["1.1", "1.2.0", "1.9.0", "2.0.0"], ["1.2.0", "1.9.0"]),
    ("^0.2.3", ["0.2.2", "0.2.3", "0.2.9", "0.3.0"], ["0.2.3", "0.2.9"]),
    ("^0.0.3", ["0.0.3", "0.0.4"], ["0.0.3"]),
    (">11", ["11.5.0", "12.0.0"], ["12.0.0"]),
    (">11.1", ["11.1.9", "11.2.0"], ["11.2.0"]),
    ("<=1.2", ["1.2.9", "1.3.0"], ["1.2.9"]),
    ("*", ["0.1", "9.9", "1.0-rc"], ["0.1", "9.9"]),
    ("1.x", ["0.9", "1.9", "2.0"], ["1.9"]),
    ("!=1.2.x", ["1.2.5", "1.3.0"], ["1.3.0"]),
    (">=1.0.0-rc1", ["1.0.0-rc2", "1.0.0-alpha", "1.0.0"], ["1.0.0-rc2", "1.0.0"]),
    ("<2 || >=4.1", ["1.5", "3.0", "4.1.0"], ["1.5", "4.1.0"]),
    (">= 1.2, < 3.0", ["1.1", "2.0", "3.0"], ["2.0"]),
    (">= 1.2 < 3.0", ["1.1", "2.0", "3.0"], ["2.0"]),
]


@pytest.mark.parametrize(("constraint", "tags", "chosen"), SEMVER_TABLE)
def test_semver_constraints(constraint: str, tags: list[str], chosen: list[str]) -> None:
    parsed = parse_constraint(constraint)
    assert [t for t in tags if parsed.check(t)] == chosen


# -- destination names -----------------------------------------------------------

REG = "registry.example.com/busybox"


def _units(images: list[tuple[str, str]], kind: str, dest: str, **kw: object) -> list[tuple[str, str]]:
    found = [SourceImage(name, suffix) for name, suffix in images]
    return [(u.source, u.destination) for u in plan_units(found, kind, dest, **kw)]  # type: ignore[arg-type]


def test_docker_to_dir_uses_the_last_path_element() -> None:
    images = [(f"docker://{REG}:1-glibc", f"{REG}:1-glibc"), (f"docker://{REG}:latest", f"{REG}:latest")]
    assert _units(images, "dir", "/media/usb") == [
        (f"docker://{REG}:1-glibc", "dir:/media/usb/busybox:1-glibc"),
        (f"docker://{REG}:latest", "dir:/media/usb/busybox:latest"),
    ]


def test_scoped_keeps_the_full_source_name() -> None:
    images = [(f"docker://{REG}:1", f"{REG}:1")]
    assert _units(images, "dir", "/media/usb/", scoped=True) == [
        (f"docker://{REG}:1", "dir:/media/usb/registry.example.com/busybox:1")
    ]


def test_docker_to_docker_and_append_suffix() -> None:
    images = [(f"docker://{REG}:1", f"{REG}:1")]
    assert _units(images, "docker", "my-registry.local.lan/repo", append_suffix="-mirror") == [
        (f"docker://{REG}:1", "docker://my-registry.local.lan/repo/busybox:1-mirror")
    ]


def test_digest_source_gives_a_pinned_destination() -> None:
    digest = "sha256:" + "1" * 64
    (unit,) = plan_units([SourceImage(f"docker://{REG}@{digest}", f"{REG}@{digest}")], "docker", "mirror:5000")
    assert unit.destination == f"docker://mirror:5000/busybox@{digest}"
    assert (unit.tag, unit.pinned) == (None, True)
    (tagged,) = plan_units([SourceImage(f"docker://{REG}:v1", f"{REG}:v1")], "dir", "/out")
    assert (tagged.tag, tagged.pinned) == ("v1", False)


def test_invalid_docker_destination_is_refused() -> None:
    # skopeo fails the same way: a port inside a repository path is not a reference
    with pytest.raises(InvalidReferenceError, match="invalid destination"):
        plan_units([SourceImage("docker://127.0.0.1:5000/a:1", "127.0.0.1:5000/a:1")], "docker", "m:1", scoped=True)


@pytest.mark.parametrize(
    ("image_dir", "base", "suffix"),
    [
        ("/media/usb/busybox:1", "/media/usb/", "busybox:1"),
        ("/media/usb/busybox:1", "/media/usb", "/busybox:1"),
        ("/media/usb/busybox:1", "/media/usb/busybox:1", "busybox:1"),  # the source is the image itself
        ("/media/usb/busybox:1", "/media/usb/busybox:1/", "/media/usb/busybox:1"),
    ],
)
def test_dir_suffix_is_skopeos(image_dir: str, base: str, suffix: str) -> None:
    assert dir_suffix(image_dir, base) == suffix


def test_dir_to_docker_as_skopeo_documents() -> None:
    # skopeo sync --src dir --dest docker /media/usb/busybox:1-glibc my-registry.local.lan/test/
    base = "/media/usb/busybox:1-glibc"
    images = [(f"dir:{base}", dir_suffix(base, base))]
    assert _units(images, "docker", "my-registry.local.lan/test/") == [
        (f"dir:{base}", "docker://my-registry.local.lan/test/busybox:1-glibc")
    ]


@pytest.mark.parametrize(
    ("parts", "joined"),
    [(("a", "/b"), "a/b"), (("a/", "b/"), "a/b"), (("/x", "../y"), "/y"), (("", "b"), "b"), (("//a", "b"), "/a/b")],
)
def test_go_join(parts: tuple[str, ...], joined: str) -> None:
    assert go_join(*parts) == joined


@pytest.mark.parametrize(("path", "base"), [("a/b", "b"), ("a/b/", "b"), ("", "."), ("/", "/"), ("b", "b")])
def test_go_base(path: str, base: str) -> None:
    assert go_base(path) == base


def test_repeated_units_are_kept_once_in_order() -> None:
    images = [("docker://r.io/a:1", "r.io/a:1"), ("docker://r.io/a:2", "r.io/a:2"), ("docker://r.io/a:1", "r.io/a:1")]
    assert [d for _, d in _units(images, "docker", "m.io")] == ["docker://m.io/a:1", "docker://m.io/a:2"]


def test_kinds_are_skopeos() -> None:
    assert check_kinds("yaml", "dir") == ("yaml", "dir")
    with pytest.raises(InvalidInputError, match="not implemented, consider using rsync"):
        check_kinds("dir", "dir")
    with pytest.raises(InvalidInputError, match="'oci-archive' is not a valid source transport"):
        check_kinds("oci-archive", "dir")
    with pytest.raises(InvalidInputError, match="'yaml' is not a valid destination transport"):
        check_kinds("docker", "yaml")


# -- shards --------------------------------------------------------------------


def test_shards_partition_the_units_stably() -> None:
    units = [SyncUnit(f"docker://r.io/a:{i}", f"docker://m.io/a:{i}") for i in range(200)]
    shards = [select_shard(units, i, 4) for i in range(4)]
    assert sum(len(s) for s in shards) == len(units)
    assert {u.destination for s in shards for u in s} == {u.destination for u in units}
    assert all(len(s) > 20 for s in shards)  # a hash, not a range: every shard gets a share
    # stable whatever the order the tags were listed in
    assert select_shard(list(reversed(units)), 1, 4) == list(reversed(shards[1]))
    # the shard depends on the destination alone
    moved = SyncUnit("dir:/elsewhere", units[7].destination, TransportOptions(tls_verify=False))
    assert shard_of(moved, 4) == shard_of(units[7], 4)


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1", "a/b", "0/0", "1/2/3"])
def test_bad_shards(text: str) -> None:
    with pytest.raises(InvalidInputError, match="expected I/N with 0 <= I < N"):
        parse_shard(text)


def test_good_shard() -> None:
    assert parse_shard("3/8") == (3, 8)


# -- ledger --------------------------------------------------------------------


def test_ledger_second_asker_waits_for_the_first_upload() -> None:
    ledger = BlobLedger()
    digest = digest_bytes(b"layer")
    first, second = object(), object()
    assert ledger.acquire("docker://m.io/a", digest, first) is False  # first must upload
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(ledger.acquire("docker://m.io/a", digest, second)))
    waiter.start()
    time.sleep(0.2)
    assert answers == []  # still waiting for the first
    ledger.release("docker://m.io/a", digest, first, present=True)
    waiter.join(timeout=10)
    assert answers == [True]
    # another scope knows nothing
    assert ledger.acquire("docker://m.io/b", digest, second) is False


def test_ledger_failed_claim_passes_to_the_next() -> None:
    ledger = BlobLedger()
    digest = digest_bytes(b"layer")
    first, second = object(), object()
    assert ledger.acquire("s", digest, first) is False
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(ledger.acquire("s", digest, second)))
    waiter.start()
    ledger.release_all(first)  # the first image failed before storing the blob
    waiter.join(timeout=10)
    assert answers == [False]  # the second now holds the claim and uploads itself
    assert not ledger.knows("s", digest)


def test_semver_doctests() -> None:
    import doctest

    import lighter.sync.semver as semver

    result = doctest.testmod(semver, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_yaml_nulls_mean_not_given() -> None:
    (cfg,) = parse_sync_config("r.io:\n  images:\n    app: ~\n    other: null\n  tls-verify: ~\n  cert-dir:\n")
    assert cfg.images == (("app", ()), ("other", ()))
    assert (cfg.tls_verify, cfg.cert_dir) == (None, None)
