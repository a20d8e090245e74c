"""``lighter list-tags`` and ``lighter delete`` against a real registry, beside skopeo's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from lighter.testing.random import write_random_image
from lighter.transports import parse_image_name
from tests.fixtures_registry import RegistryServer

pytestmark = [pytest.mark.registry, pytest.mark.interop]

Run = Callable[..., subprocess.CompletedProcess[str]]


def _push_tags(server: RegistryServer, repo: str, tags: list[str]) -> str:
    with parse_image_name(server.ref(f"{repo}:{tags[0]}")).new_destination(server.options()) as dest:
        pushed = write_random_image(dest, seed=7)
    for tag in tags[1:]:
        with parse_image_name(server.ref(f"{repo}:{tag}")).new_destination(server.options()) as dest:
            dest.put_manifest(pushed.raw, pushed.media_type)
    return str(pushed.digest)


@pytest.mark.parametrize("kind", ["plain", "tls", "basic", "token"])
def test_list_tags_like_skopeo(
    kind: str, repo_name: str, run_lighter: Run, run_tool: Run, request: pytest.FixtureRequest
) -> None:
    server: RegistryServer = request.getfixturevalue("registry" if kind == "plain" else f"{kind}_registry")
    _push_tags(server, repo_name, ["1.0", "1.1", "latest"])
    ours = run_lighter("list-tags", *server.lighter_args(), server.ref(repo_name))
    theirs = run_tool("skopeo", "list-tags", *server.skopeo_args(), server.ref(repo_name))
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    listed = json.loads(ours.stdout)
    assert listed["Repository"] == f"{server.host}/{repo_name}"
    assert sorted(listed["Tags"]) == ["1.0", "1.1", "latest"]  # in the registry's order, as skopeo
    assert ours.stdout.startswith('{\n    "Repository"')


def test_list_tags_errors(basic_registry: RegistryServer, repo_name: str, run_lighter: Run) -> None:
    server = basic_registry
    wrong = run_lighter("list-tags", "--tls-verify=false", "--creds", "alice:not-the-pw", server.ref(repo_name))
    assert wrong.returncode == 1
    assert wrong.stderr.startswith(f"lighter: error: authentication denied for {server.host}")
    assert "not-the-pw" not in wrong.stderr and wrong.stderr.count("\n") == 1
    missing = run_lighter("list-tags", *server.lighter_args(), server.ref(f"{repo_name}-none"))
    assert missing.returncode == 2, missing.stderr
    assert "repository unknown" in missing.stderr


def test_delete_like_skopeo(registry: RegistryServer, repo_name: str, run_lighter: Run, run_tool: Run) -> None:
    digest = _push_tags(registry, repo_name, ["a"])
    done = run_lighter("delete", *registry.lighter_args(), registry.ref(f"{repo_name}:a"))
    assert done.returncode == 0, done.stderr
    gone = run_tool("skopeo", "inspect", "--raw", *registry.skopeo_args(), registry.ref(f"{repo_name}@{digest}"))
    assert gone.returncode != 0
    again = run_lighter("delete", *registry.lighter_args(), registry.ref(f"{repo_name}@{digest}"))
    assert again.returncode == 2
    assert again.stderr == f"lighter: error: manifest unknown: {repo_name}@{digest} on {registry.host}\n"
    # skopeo deletes what lighter pushed, too
    digest = _push_tags(registry, repo_name, ["b"])
    assert run_tool("skopeo", "delete", *registry.skopeo_args(), registry.ref(f"{repo_name}:b")).returncode == 0


def _without_creds(args: list[str]) -> list[str]:
    return [arg for arg in args if "creds=" not in arg]


def test_copy_with_src_and_dest_creds(any_registry: RegistryServer, repo_name: str, run_lighter: Run) -> None:
    """--src-creds and --dest-creds on each set-up; the open ones accept any (as skopeo) but still verify TLS."""
    server = any_registry
    with parse_image_name(server.ref(f"{repo_name}:v1")).new_destination(server.options()) as dest:
        pushed = write_random_image(dest, seed=21)
    creds = server.creds or "alice:any-password"
    src_tls, dest_tls = _without_creds(server.lighter_args("src")), _without_creds(server.lighter_args("dest"))
    source, target = server.ref(f"{repo_name}:v1"), server.ref(f"{repo_name}-copy:v1")

    def copy(*flags: str) -> subprocess.CompletedProcess[str]:
        return run_lighter("copy", "-q", *flags, source, target)

    done = copy(f"--src-creds={creds}", *src_tls, f"--dest-creds={creds}", *dest_tls)
    assert done.returncode == 0, done.stderr
    with parse_image_name(target).new_source(server.options()) as src:
        assert src.manifest()[0] == pushed.raw
    wrong = "alice:Wr0ng-" + repo_name.replace("/", "-")
    if server.kind in ("basic", "token"):
        # each side uses its own flag: a wrong one on either side is refused, naming neither password
        for flags in (
            (f"--src-creds={wrong}", *src_tls, f"--dest-creds={creds}", *dest_tls),
            (f"--src-creds={creds}", *src_tls, f"--dest-creds={wrong}", *dest_tls),
        ):
            refused = copy(*flags)
            assert refused.returncode == 1
            assert refused.stderr.startswith(f"lighter: error: authentication denied for {server.host}")
            assert refused.stderr.count("\n") == 1, refused.stderr
            assert wrong.split(":")[1] not in refused.stderr and creds.split(":")[1] not in refused.stderr
    else:
        # credentials are no licence to skip verification: the destination's TLS is checked without its flag
        refused = copy(f"--src-creds={creds}", *src_tls, f"--dest-creds={creds}")
        assert refused.returncode == 1
        assert refused.stderr.startswith("lighter: error: TLS error talking to https://"), refused.stderr
        assert refused.stderr.count("\n") == 1
