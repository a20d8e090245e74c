"""Image configuration (OCI ``config.json`` / Docker image JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lighter.digest import Digest, digest_bytes, parse_digest
from lighter.errors import InvalidDigestError, InvalidManifestError
from lighter.manifest.gojson import go_dumps
from lighter.platform import Platform

MAX_CONFIG_SIZE = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """A parsed image config; ``data`` is the whole JSON object, ``raw`` its exact bytes."""

    data: Mapping[str, Any] = field(hash=False)
    raw: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.raw:
            object.__setattr__(self, "raw", go_dumps(dict(self.data)))

    @property
    def digest(self) -> Digest:
        return digest_bytes(self.raw)

    @property
    def architecture(self) -> str:
        return str(self.data.get("architecture") or "")

    @property
    def os(self) -> str:
        return str(self.data.get("os") or "")

    @property
    def variant(self) -> str:
        return str(self.data.get("variant") or "")

    @property
    def platform(self) -> Platform:
        return Platform(
            os=self.os,
            architecture=self.architecture,
            variant=self.variant,
            os_version=str(self.data.get("os.version") or ""),
            os_features=tuple(self.data.get("os.features") or ()),
        )

    @property
    def created(self) -> str | None:
        value = self.data.get("created")
        return str(value) if value else None

    @property
    def author(self) -> str:
        return str(self.data.get("author") or "")

    @property
    def docker_version(self) -> str:
        return str(self.data.get("docker_version") or "")

    @property
    def runtime(self) -> Mapping[str, Any]:
        """The ``config`` object: Env, Cmd, Entrypoint, Labels, ..."""
        value = self.data.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def env(self) -> list[str]:
        return list(self.runtime.get("Env") or [])

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.runtime.get("Labels") or {})

    @property
    def diff_ids(self) -> list[Digest]:
        rootfs = self.data.get("rootfs") or {}
        out = []
        for i, text in enumerate(rootfs.get("diff_ids") or []):
            try:
                out.append(parse_digest(text))
            except InvalidDigestError as exc:
                raise InvalidManifestError(f"config rootfs.diff_ids[{i}]: {exc}") from None
        return out

    @property
    def history(self) -> list[dict[str, Any]]:
        return [h for h in self.data.get("history") or [] if isinstance(h, dict)]


def parse_config(raw: bytes) -> ImageConfig:
    """Parse config bytes, keeping them."""
    if len(raw) > MAX_CONFIG_SIZE:
        raise InvalidManifestError(f"image config is {len(raw)} bytes, over the {MAX_CONFIG_SIZE} byte limit")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidManifestError(f"image config is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidManifestError(f"image config must be a JSON object, got {type(data).__name__}")
    return ImageConfig(data=data, raw=raw)
