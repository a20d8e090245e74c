"""Platforms: parsing, aliases, and choosing an instance the way containers/image does."""

from __future__ import annotations

import pytest

from lighter.errors import InvalidPlatformError, NoMatchingPlatformError
from lighter.platform import Platform, choose, host_platform, matches, parse_platform, platforms_of, wanted_platforms


@pytest.mark.parametrize(
    ("text", "os", "arch", "variant"),
    [
        ("linux/amd64", "linux", "amd64", ""),
        ("linux/arm64/v8", "linux", "arm64", "v8"),
        ("linux/arm/v7", "linux", "arm", "v7"),
        ("Linux/AMD64", "linux", "amd64", ""),
        ("  linux/s390x ", "linux", "s390x", ""),
        ("linux/x86_64", "linux", "amd64", ""),
        ("linux/aarch64", "linux", "arm64", ""),
        ("linux/armv7l", "linux", "arm", "v7"),
        ("linux/armv6l", "linux", "arm", "v6"),
        ("linux/armv5tel", "linux", "arm", "v5"),
        ("linux/i386", "linux", "386", ""),
        ("linux/i686", "linux", "386", ""),
        ("linux/armv7l/v6", "linux", "arm", "v6"),  # an explicit variant wins over the alias's
        ("windows/amd64", "windows", "amd64", ""),
        ("freebsd/riscv64", "freebsd", "riscv64", ""),
    ],
)
def test_parse_platform(text: str, os: str, arch: str, variant: str) -> None:
    p = parse_platform(text)
    assert (p.os, p.architecture, p.variant) == (os, arch, variant)
    assert parse_platform(str(p)) == p


@pytest.mark.parametrize(
    "text", ["", "linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux//v7", "lin ux/amd64", "a/b$"]
)
def test_invalid_platforms(text: str) -> None:
    with pytest.raises(InvalidPlatformError) as info:
        parse_platform(text)
    assert "expected os/arch[/variant]" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_str() -> None:
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(Platform("linux", "amd64")) == "linux/amd64"


def test_to_json_uses_the_go_struct_order() -> None:
    p = Platform("windows", "amd64", "v1", os_version="10.0.17763", os_features=("win32k",), features=("sse4",))
    assert list(p.to_json()) == ["architecture", "os", "os.version", "os.features", "variant", "features"]
    assert list(Platform("linux", "amd64").to_json()) == ["architecture", "os"]
    assert Platform.from_json(p.to_json()) == p


def test_from_json_refuses_non_objects() -> None:
    with pytest.raises(InvalidPlatformError):
        Platform.from_json(["linux"])  # type: ignore[arg-type]


def test_host_platform_is_parseable() -> None:
    host = host_platform()
    assert host.os and host.architecture
    assert parse_platform(str(host)).architecture == host.architecture


def _names(wanted: str) -> list[str]:
    return [str(p) for p in wanted_platforms(parse_platform(wanted))]


# containers/image internal/pkg/platform: compatibility {"arm": v7,v6,v5; "arm64": v8}, baseVariants {"arm64": v8}
@pytest.mark.parametrize(
    ("wanted", "candidates"),
    [
        ("linux/amd64", ["linux/amd64"]),
        ("linux/arm/v7", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5", "linux/arm"]),
        ("linux/arm/v6", ["linux/arm/v6", "linux/arm/v5", "linux/arm"]),
        ("linux/arm/v5", ["linux/arm/v5", "linux/arm"]),
        ("linux/arm", ["linux/arm"]),
        ("linux/arm64", ["linux/arm64", "linux/arm64/v8"]),
        ("linux/arm64/v8", ["linux/arm64/v8", "linux/arm64"]),
        ("linux/arm/custom", ["linux/arm/custom", "linux/arm"]),
        ("freebsd/armel/custom", ["freebsd/armel/custom", "freebsd/armel"]),
    ],
)
def test_wanted_platforms_follow_containers_image(wanted: str, candidates: list[str]) -> None:
    assert _names(wanted) == candidates


def _choose(available: list[str | None], wanted: str) -> str | None:
    items = [(parse_platform(a) if a else None, a) for a in available]
    result: str | None = choose(items, parse_platform(wanted))
    return result


@pytest.mark.parametrize(
    ("available", "wanted", "expected"),
    [
        (["linux/amd64", "linux/arm64"], "linux/arm64", "linux/arm64"),
        (["linux/arm/v5", "linux/arm/v6", "linux/arm/v7"], "linux/arm/v7", "linux/arm/v7"),
        (["linux/arm/v5", "linux/arm/v6"], "linux/arm/v7", "linux/arm/v6"),
        (["linux/arm/v5"], "linux/arm/v7", "linux/arm/v5"),
        (["linux/arm", "linux/arm/v6"], "linux/arm/v7", "linux/arm/v6"),
        (["linux/arm"], "linux/arm/v7", "linux/arm"),
        (["linux/arm64/v8"], "linux/arm64", "linux/arm64/v8"),
        (["linux/arm64"], "linux/arm64/v8", "linux/arm64"),
        (["linux/arm64/v8", "linux/arm64"], "linux/arm64", "linux/arm64"),
        (["linux/arm64", "linux/arm64/v8"], "linux/arm64/v8", "linux/arm64/v8"),
        (["windows/amd64", "linux/amd64"], "linux/amd64", "linux/amd64"),
        (["linux/amd64", "linux/amd64"], "linux/amd64", "linux/amd64"),
    ],
)
def test_choose(available: list[str | None], wanted: str, expected: str) -> None:
    assert _choose(available, wanted) == expected


def test_choose_takes_the_first_of_equals() -> None:
    items = [(parse_platform("linux/amd64"), "first"), (parse_platform("linux/amd64"), "second")]
    assert choose(items, parse_platform("linux/amd64")) == "first"


@pytest.mark.parametrize(
    ("available", "wanted"),
    [
        (["linux/arm/v7"], "linux/arm/v6"),  # a v6 machine cannot run v7 code
        (["linux/arm/v7"], "linux/arm"),  # containers/image: plain arm wants no variant
        (["linux/arm64"], "linux/arm/v7"),
        (["linux/amd64"], "windows/amd64"),
        ([], "linux/amd64"),
    ],
)
def test_no_match(available: list[str | None], wanted: str) -> None:
    with pytest.raises(NoMatchingPlatformError):
        _choose(available, wanted)


def test_no_match_lists_what_is_available() -> None:
    with pytest.raises(NoMatchingPlatformError) as info:
        _choose(["linux/arm64", "linux/amd64", "unknown/unknown", None, "linux/arm/v7"], "linux/s390x")
    message = str(info.value)
    assert "linux/s390x" in message
    assert "available: linux/amd64, linux/arm/v7, linux/arm64" in message
    assert "unknown" not in message.split("available")[1]
    assert "\n" not in message


def test_no_match_with_nothing_available() -> None:
    with pytest.raises(NoMatchingPlatformError, match=r"available: none"):
        _choose([None, "unknown/unknown"], "linux/amd64")


def test_items_without_platform_and_attestations_are_never_chosen() -> None:
    with pytest.raises(NoMatchingPlatformError):
        _choose([None, "unknown/unknown"], "linux/amd64")
    assert _choose(["unknown/unknown", None, "linux/amd64"], "linux/amd64") == "linux/amd64"


def test_matches_ignores_os_version_unless_both_name_one() -> None:
    win = Platform("windows", "amd64", os_version="10.0.17763.1")
    assert matches(win, Platform("windows", "amd64"))
    assert matches(Platform("windows", "amd64"), Platform("windows", "amd64", os_version="10.0.1"))
    assert not matches(win, Platform("windows", "amd64", os_version="10.0.20348.1"))
    assert not matches(Platform("linux", "arm", "v7"), Platform("linux", "arm"))


def test_platforms_of() -> None:
    assert platforms_of([Platform("linux", "amd64"), None, Platform("linux", "arm", "v7")]) == [
        "linux/amd64",
        "linux/arm/v7",
    ]
