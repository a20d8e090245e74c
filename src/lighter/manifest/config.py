"""Image configuration (OCI ``config.json`` / Docker image JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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


# -- Docker config -> OCI config, as skopeo converts it ------------------------
#
# When skopeo converts a Docker v2s2 image to OCI it does not keep the config
# blob: it decodes it into image-spec's ``v1.Image`` and marshals that again,
# which drops Docker-only fields and reorders the rest.  The tables below are
# that struct's fields in declaration order (image-spec v1.1.0-rc2, which the
# skopeo 1.9 of Debian bookworm carries), each with a decoder and whether Go
# omits it when empty.

_GoDecode = Callable[[Any, str], Any]
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")


def _go_string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidManifestError(f"image config {where}: expected a string, got {type(value).__name__}")
    return value


def _go_bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidManifestError(f"image config {where}: expected a boolean, got {type(value).__name__}")
    return value


def _go_strings(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidManifestError(f"image config {where}: expected a list of strings, got {type(value).__name__}")
    return [_go_string(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _go_string_map(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidManifestError(f"image config {where}: expected an object, got {type(value).__name__}")
    return {k: _go_string(v, f"{where}.{k}") for k, v in sorted(value.items())}


def _go_set(value: Any, where: str) -> dict[str, dict[str, Any]] | None:
    """A Go ``map[string]struct{}``: every value becomes ``{}``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidManifestError(f"image config {where}: expected an object, got {type(value).__name__}")
    for key, item in value.items():
        if item is not None and not isinstance(item, dict):
            raise InvalidManifestError(f"image config {where}.{key}: expected an object, got {type(item).__name__}")
    return {k: {} for k in sorted(value)}


def _go_time(value: Any, where: str) -> str | None:
    """An RFC 3339 time as Go re-marshals it: nanoseconds at most, no trailing zeros, ``Z`` for UTC."""
    if value is None:
        return None
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidManifestError(f"image config {where}: expected an RFC 3339 time, got {value!r}")
    date, clock, fraction, zone = match.groups()
    try:
        datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        raise InvalidManifestError(f"image config {where}: expected an RFC 3339 time, got {value!r}") from None
    fraction = (fraction or "")[:9].rstrip("0")
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return f"{date}T{clock}{'.' + fraction if fraction else ''}{zone}"


def _go_struct(value: Any, fields: tuple[tuple[str, _GoDecode, bool], ...], where: str) -> dict[str, Any]:
    """Decode a JSON object into a Go struct and marshal it again.

    Go matches keys to fields exactly first, then case-insensitively, drops
    unknown keys, and leaves absent or null fields at their zero value.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidManifestError(f"image config {where}: expected an object, got {type(value).__name__}")
    names = {name for name, _, _ in fields}
    folded = {name.lower(): name for name, _, _ in fields}
    found: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in names else folded.get(key.lower())
        if name is not None:
            found[name] = item
    out: dict[str, Any] = {}
    for name, decode, omitempty in fields:
        decoded = decode(found.get(name), f"{where}.{name}".lstrip("."))
        if omitempty and decoded in (None, "", False, [], {}):
            continue
        out[name] = decoded
    return out


def _go_config(value: Any, where: str) -> dict[str, Any]:
    return _go_struct(value, _IMAGE_CONFIG_FIELDS, where)


def _go_rootfs(value: Any, where: str) -> dict[str, Any]:
    return _go_struct(value, (("type", _go_string, False), ("diff_ids", _go_strings, False)), where)


def _go_history(value: Any, where: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidManifestError(f"image config {where}: expected a list, got {type(value).__name__}")
    return [_go_struct(item, _HISTORY_FIELDS, f"{where}[{i}]") for i, item in enumerate(value)]


_IMAGE_CONFIG_FIELDS: tuple[tuple[str, _GoDecode, bool], ...] = (
    ("User", _go_string, True),
    ("ExposedPorts", _go_set, True),
    ("Env", _go_strings, True),
    ("Entrypoint", _go_strings, True),
    ("Cmd", _go_strings, True),
    ("Volumes", _go_set, True),
    ("WorkingDir", _go_string, True),
    ("Labels", _go_string_map, True),
    ("StopSignal", _go_string, True),
    ("ArgsEscaped", _go_bool, True),
)
_HISTORY_FIELDS: tuple[tuple[str, _GoDecode, bool], ...] = (
    ("created", _go_time, True),
    ("created_by", _go_string, True),
    ("author", _go_string, True),
    ("comment", _go_string, True),
    ("empty_layer", _go_bool, True),
)
_IMAGE_FIELDS: tuple[tuple[str, _GoDecode, bool], ...] = (
    ("created", _go_time, True),
    ("author", _go_string, True),
    ("architecture", _go_string, False),
    ("variant", _go_string, True),
    ("os", _go_string, False),
    ("os.version", _go_string, True),
    ("os.features", _go_strings, True),
    ("config", _go_config, False),
    ("rootfs", _go_rootfs, False),
    ("history", _go_history, True),
)


def to_oci_config(config: ImageConfig) -> ImageConfig:
    """The OCI image config skopeo writes when it converts a Docker image to OCI.

    The result's ``raw`` bytes, and so its digest, are those skopeo produces.
    """
    return ImageConfig(data=_go_struct(dict(config.data), _IMAGE_FIELDS, ""))
