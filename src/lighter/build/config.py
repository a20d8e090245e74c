"""The image config of a commit: the base's, with the new layer, history entry and changes.

OCI configs are passed through ``to_oci_config``, so their fields come in
image-spec's ``v1.Image`` order, as buildah (Go) writes them.  As in the
seed, the number of non-empty history entries must equal the number of
diffIDs; a base whose config has no history at all gets one entry per base
layer first, so that the new entry does not break that rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lighter.digest import Digest
from lighter.errors import InvalidManifestError
from lighter.manifest import ImageConfig, to_oci_config
from lighter.platform import Platform


def rfc3339(moment: datetime) -> str:
    """A UTC time as Go marshals it: fraction only when non-zero, ``Z`` suffix."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def history_entry(
    created: str, *, created_by: str | None, author: str | None, comment: str | None, empty_layer: bool
) -> dict[str, Any]:
    entry: dict[str, Any] = {"created": created}
    if created_by:
        entry["created_by"] = created_by
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    if empty_layer:
        entry["empty_layer"] = True
    return entry


def _base_history(base: ImageConfig | None) -> list[dict[str, Any]]:
    if base is None:
        return []
    history = [dict(h) for h in base.history]
    if not history and base.diff_ids:
        filler = {"created": base.created} if base.created else {}
        history = [dict(filler) for _ in base.diff_ids]
    return history


def check_history(history: Sequence[Mapping[str, Any]], diff_ids: Sequence[Digest]) -> None:
    """The seed's sanity check: non-empty history entries and layers must agree."""
    non_empty = sum(1 for h in history if not h.get("empty_layer"))
    if non_empty != len(diff_ids):
        raise InvalidManifestError(
            f"history lists {non_empty} non-empty layers, but the image has {len(diff_ids)} layers "
            "(the base image's history and diffIDs disagree)"
        )


def build_config(
    *,
    base: ImageConfig | None,
    platform: Platform,
    created: str,
    author: str | None,
    runtime: Mapping[str, Any],
    diff_ids: Sequence[Digest],
    entry: Mapping[str, Any],
    oci: bool,
) -> ImageConfig:
    """The new config; ``diff_ids`` are all of them (base ones first)."""
    history = [*_base_history(base), dict(entry)]
    check_history(history, diff_ids)
    data: dict[str, Any] = {"created": created}
    final_author = author or (base.author if base is not None else "")
    if final_author:
        data["author"] = final_author
    if not oci:
        data["config"] = dict(runtime)
    data["architecture"] = platform.architecture
    if platform.variant:
        data["variant"] = platform.variant
    data["os"] = platform.os
    if platform.os_version:
        data["os.version"] = platform.os_version
    if oci:
        data["config"] = dict(runtime)
    data["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    data["history"] = history
    config = ImageConfig(data=data)
    return to_oci_config(config) if oci else config
