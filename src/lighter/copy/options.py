"""What a copy should do, as one frozen value (skopeo copy's flags)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lighter.compression import Algorithm, check_level
from lighter.copy.progress import Progress
from lighter.digest import Digest
from lighter.platform import Platform

MultiArch = Literal["system", "all", "index-only"]
ManifestFormat = Literal["oci", "v2s2"]


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """Options of ``copy_image``; the defaults copy like ``skopeo copy`` with no flags.

    ``platforms`` / ``instances`` select instances of a list (a sparse copy
    that keeps the list bytes unless ``strip_removed_platforms``).
    ``system_platform`` replaces this machine's platform for ``system``.
    """

    multi_arch: MultiArch = "system"
    platforms: tuple[Platform, ...] = ()
    instances: tuple[Digest, ...] = ()
    strip_removed_platforms: bool = False
    format: ManifestFormat | None = None
    preserve_digests: bool = False
    compression: Algorithm | None = None
    compression_level: int | None = None
    parallel: int = 6
    system_platform: Platform | None = None
    progress: Progress | None = None

    def __post_init__(self) -> None:
        check_level(self.compression, self.compression_level)
