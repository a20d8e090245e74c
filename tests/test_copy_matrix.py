"""Every transport pair round-trips single images and lists with identical digests (issue 3's acceptance).

Each source is filled by skopeo (``skopeo copy --preserve-digests``), not by
lighter, except ``store:``, which only lighter can write.  lighter then
copies source → destination, and the far side is read back with skopeo:
``skopeo inspect --raw`` must give the source's manifest bytes and
``skopeo manifest-digest`` the source's digest; for a list, ``skopeo copy
--all`` of the destination must find every instance with its bytes.  A
``store:`` destination, which skopeo cannot read, is copied out to ``dir:``
by lighter first.

What each transport can hold without changing a digest decides the pairs:

* ``oci:`` and ``oci-archive:`` hold OCI manifests only: a Docker image or
  list written there is converted to OCI (as skopeo does; that conversion is
  checked against skopeo's in test_copy_files.py), so Docker subjects never
  meet those transports here.
* ``docker-archive:`` holds one Docker v2s2 image with uncompressed layers
  and no manifest of its own: its readers (skopeo's and lighter's) make one
  up, labelling every layer ``diff.tar.gzip``.  A list, an OCI image or
  gzip layers cannot keep their digests there, so the only subject it meets
  is "archived": exactly the manifest a docker archive presents.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lighter.copy import CopyOptions, copy_image
from lighter.digest import Digest, digest_bytes
from lighter.manifest import Index, parse_manifest
from lighter.testing.random import write_random_image, write_random_index
from lighter.transports import TransportOptions, parse_image_name
from lighter.validate import check_image
from tests.fixtures_images import RunResult, run_command
from tests.fixtures_registry import RegistryServer

Run = Callable[..., RunResult]

OCI_HOMES = ("docker", "dir", "oci", "oci-archive", "store")
DOCKER_HOMES = ("docker", "dir", "store")
#: where each subject can live with its digest unchanged (see the module docstring)
HOMES: dict[str, tuple[str, ...]] = {
    "oci-image": OCI_HOMES,
    "oci-list": OCI_HOMES,
    "docker-image": DOCKER_HOMES,
    "docker-list": DOCKER_HOMES,
    "archived": (*DOCKER_HOMES, "docker-archive"),
}
PAIRS = [
    pytest.param(subject, src, dst, id=f"{subject}-{src}-to-{dst}")
    for subject, homes in HOMES.items()
    for src in homes
    for dst in homes
]
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def _ok(result: RunResult) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass(frozen=True)
class Subject:
    """An image or list as generated: the bytes every copy must keep."""

    raw: bytes
    instances: dict[Digest, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> Digest:
        return digest_bytes(self.raw)

    @property
    def is_list(self) -> bool:
        return bool(self.instances)


def _read_dir(path: Path) -> Subject:
    """The subject as a ``dir:`` holds it: manifest.json and, for a list, ``<hex>.manifest.json`` per instance."""
    raw = (path / "manifest.json").read_bytes()
    parsed = parse_manifest(raw)
    if not isinstance(parsed, Index):
        return Subject(raw)
    return Subject(raw, {m.digest: (path / f"{m.digest.hex}.manifest.json").read_bytes() for m in parsed.manifests})


class Sources:
    """Generated subjects, and each one put (once per module) where a test's source lives."""

    def __init__(self, root: Path, registry: RegistryServer) -> None:
        self.root = root
        self.registry = registry
        self.repo = f"matrix/src-{uuid.uuid4().hex[:8]}"
        self.subjects: dict[str, Subject] = {}
        self._names: dict[tuple[str, str], str] = {}

    def generated(self, subject: str) -> Path:
        """``dir:`` of the subject, made by lighter.testing.random (and skopeo for "archived")."""
        path = self.root / "gen" / subject
        if subject not in self.subjects:
            if subject == "archived":
                self._archive(path)
            else:
                with parse_image_name(f"dir:{path}").new_destination() as dest:
                    oci = subject.startswith("oci")
                    if subject.endswith("list"):
                        write_random_index(dest, platforms=PLATFORMS, oci=oci, layer_sizes=(1500,), seed=11)
                    else:
                        write_random_image(dest, oci=oci, layer_sizes=(1500, 30_000), seed=12)
            self.subjects[subject] = _read_dir(path)
        return path

    def _archive(self, path: Path) -> None:
        plain = self.root / "gen" / "plain"
        with parse_image_name(f"dir:{plain}").new_destination() as dest:
            write_random_image(dest, oci=False, compression="none", layer_sizes=(1500, 30_000), seed=13)
        archive = self.root / "gen" / "archived.tar"
        _ok(run_command(["skopeo", "copy", "-q", f"dir:{plain}", f"docker-archive:{archive}:example.com/m:1"]))
        _ok(run_command(["skopeo", "copy", "-q", "--preserve-digests", f"docker-archive:{archive}", f"dir:{path}"]))

    def name(self, subject: str, kind: str) -> str:
        """The source of ``kind`` holding ``subject``, filled on first use."""
        key = (subject, kind)
        if key not in self._names:
            gen = self.generated(subject)
            name = self._place(subject, kind, gen)
            self._names[key] = name
        return self._names[key]

    def _place(self, subject: str, kind: str, gen: Path) -> str:
        if kind == "dir":
            return f"dir:{gen}"
        if kind == "docker-archive":  # only "archived" lives there: the archive skopeo wrote
            return f"docker-archive:{self.root / 'gen' / 'archived.tar'}"
        if kind == "store":  # skopeo cannot write lighter's store: lighter fills it
            name = f"store:[{self.root / 'store'}]src-{subject}:t"
            copy_image(f"dir:{gen}", name, CopyOptions(multi_arch="all", preserve_digests=True))
            return name
        name = destination_name(kind, self.root / "src" / subject, self.registry, f"{self.repo}-{subject}")
        extra = self.registry.skopeo_args("dest") if kind == "docker" else []
        _ok(run_command(["skopeo", "copy", "-q", "--all", "--preserve-digests", *extra, f"dir:{gen}", name]))
        return name


def destination_name(kind: str, where: Path, registry: RegistryServer, repo: str) -> str:
    where.mkdir(parents=True, exist_ok=True)
    names = {
        "docker": registry.ref(f"{repo}:t"),
        "dir": f"dir:{where / 'dir'}",
        "oci": f"oci:{where / 'oci'}:t",
        "oci-archive": f"oci-archive:{where / 'oci.tar'}:t",
        "docker-archive": f"docker-archive:{where / 'docker.tar'}:example.com/matrix:1",
        "store": f"store:[{where / 'store'}]matrix:t",
    }
    return names[kind]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer) -> Iterator[Sources]:
    yield Sources(tmp_path_factory.mktemp("matrix"), registry)


def _options(kind: str, registry: RegistryServer) -> TransportOptions | None:
    return registry.options() if kind == "docker" else None


def _check_far_side(name: str, kind: str, subject: Subject, tmp: Path, registry: RegistryServer, run_tool: Run) -> None:
    """skopeo reads back the source's bytes and digest, and every instance of a list."""
    readable = name
    if kind == "store":
        readable = f"dir:{tmp / 'from-store'}"
        copy_image(name, readable, CopyOptions(multi_arch="all"))
    tls = registry.skopeo_args() if kind == "docker" else []
    raw = _ok(run_tool("skopeo", "inspect", "--raw", *tls, readable)).encode()
    assert raw == subject.raw
    (tmp / "far.json").write_bytes(raw)
    assert _ok(run_tool("skopeo", "manifest-digest", str(tmp / "far.json"))).strip() == str(subject.digest)
    if subject.is_list:
        tls = registry.skopeo_args("src") if kind == "docker" else []
        back = tmp / "skopeo-back"
        _ok(run_tool("skopeo", "copy", "-q", "--all", "--preserve-digests", *tls, readable, f"dir:{back}"))
        assert _read_dir(back) == subject


@pytest.mark.parametrize(("subject", "src_kind", "dst_kind"), PAIRS)
def test_pair_keeps_digests(
    subject: str,
    src_kind: str,
    dst_kind: str,
    sources: Sources,
    registry: RegistryServer,
    repo_name: str,
    tmp_path: Path,
    run_tool: Run,
) -> None:
    src = sources.name(subject, src_kind)
    expected = sources.subjects[subject]
    dst = destination_name(dst_kind, tmp_path / "dst", registry, repo_name)
    options = CopyOptions(multi_arch="all" if expected.is_list else "system")
    result = copy_image(
        src, dst, options, src_options=_options(src_kind, registry), dst_options=_options(dst_kind, registry)
    )
    assert result.digest == expected.digest
    check_image(dst, _options(dst_kind, registry))  # every blob, diffID and instance, as lighter reads them
    _check_far_side(dst, dst_kind, expected, tmp_path, registry, run_tool)
