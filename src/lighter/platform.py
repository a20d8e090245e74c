"""Platforms (``os/arch[/variant]``) and choosing the instance of a list for one.

Grammar::

    platform ::= os "/" architecture [ "/" variant ]
    os, architecture, variant ::= [a-z0-9_.-]+   (case is folded to lower)

Choosing follows containers/image's ``WantedPlatforms``: an exact match
first, then compatible variants from most to least capable (arm ``v7``
accepts ``v6`` then ``v5`` images only when no ``v7`` one exists; arm64
treats no variant and ``v8`` as the same), and an instance with no variant
last.  As in containers/image, plain ``linux/arm`` matches only instances
without a variant.

>>> str(parse_platform("linux/arm64/v8"))
'linux/arm64/v8'
>>> parse_platform("Linux/AMD64").architecture
'amd64'
"""

from __future__ import annotations

import platform as _stdlib_platform
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from lighter.errors import InvalidPlatformError, NoMatchingPlatformError

_PART = re.compile(r"[a-z0-9_.-]+")

# containers/image's table, most capable first: a v7 machine runs v6 and v5
# code as well.  Architectures without variants have no entry.
_VARIANT_COMPATIBILITY: Final[dict[str, tuple[str, ...]]] = {
    "arm": ("v7", "v6", "v5"),
    "arm64": ("v8",),
}
# A variant every machine of the architecture supports: asking for plain
# arm64 also accepts an arm64/v8 image.
_BASE_VARIANT: Final[dict[str, str]] = {"arm64": "v8"}

_ARCH_ALIASES: Final[dict[str, tuple[str, str]]] = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass(frozen=True, slots=True)
class Platform:
    """The platform an image runs on, as in an index descriptor's ``platform``."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())
    features: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the OCI descriptor ``platform`` field, in spec order."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Platform:
        if not isinstance(data, Mapping):
            raise InvalidPlatformError(f"platform must be an object, got {type(data).__name__}")
        return cls(
            os=str(data.get("os", "")),
            architecture=str(data.get("architecture", "")),
            variant=str(data.get("variant", "") or ""),
            os_version=str(data.get("os.version", "") or ""),
            os_features=tuple(str(f) for f in data.get("os.features") or ()),
            features=tuple(str(f) for f in data.get("features") or ()),
        )


def parse_platform(text: str) -> Platform:
    """Parse ``os/arch[/variant]``."""
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(_PART.fullmatch(p) for p in parts):
        raise InvalidPlatformError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/arm64")
    os_name, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) == 3 else ""
    arch, implied_variant = _ARCH_ALIASES.get(arch, (arch, ""))
    return Platform(os=os_name, architecture=arch, variant=variant or implied_variant)


def host_platform() -> Platform:
    """The platform of the machine lighter runs on."""
    machine = _stdlib_platform.machine().lower()
    arch, variant = _ARCH_ALIASES.get(machine, (machine, ""))
    os_name = "linux" if sys.platform.startswith("linux") else sys.platform
    if os_name == "darwin":
        os_name = "darwin"
    return Platform(os=os_name, architecture=arch, variant=variant)


def wanted_platforms(wanted: Platform) -> list[Platform]:
    """Candidates to look for, best first (containers/image's WantedPlatforms).

    With a variant: that variant, the less capable ones it can run, then no
    variant.  Without one: no variant, then the architecture's base variant.
    """
    order = _VARIANT_COMPATIBILITY.get(wanted.architecture, ())
    variants: list[str]
    if wanted.variant:
        if wanted.variant in order:
            variants = [*order[order.index(wanted.variant) :], ""]
        else:
            variants = [wanted.variant, ""]
    else:
        variants = [""]
        if wanted.architecture in _BASE_VARIANT:
            variants.append(_BASE_VARIANT[wanted.architecture])
    return [Platform(wanted.os, wanted.architecture, v, wanted.os_version) for v in variants]


def matches(candidate: Platform, wanted: Platform) -> bool:
    """Exact os/arch/variant match; os.version only when both name one."""
    if (candidate.os, candidate.architecture, candidate.variant) != (
        wanted.os,
        wanted.architecture,
        wanted.variant,
    ):
        return False
    return not (wanted.os_version and candidate.os_version and candidate.os_version != wanted.os_version)


def choose(candidates: Sequence[tuple[Platform | None, Any]], wanted: Platform) -> Any:
    """Pick the item whose platform suits ``wanted`` best.

    ``candidates`` pairs each item (a descriptor, usually) with its platform;
    items with no platform (attestations, unknown/unknown) never match.
    Raises NoMatchingPlatformError listing what is available.
    """
    for want in wanted_platforms(wanted):
        for plat, item in candidates:
            if plat is not None and matches(plat, want):
                return item
    available = sorted({str(p) for p, _ in candidates if p is not None and p.os != "unknown"})
    listed = ", ".join(available) if available else "none"
    raise NoMatchingPlatformError(f"no image found for platform {wanted} in the manifest list (available: {listed})")


def platforms_of(items: Iterable[Platform | None]) -> list[str]:
    return [str(p) for p in items if p is not None]
