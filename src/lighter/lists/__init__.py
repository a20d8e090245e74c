"""Manifest lists kept in the local store, edited and pushed like podman's ``manifest`` commands.

>>> from lighter import lists                                    # doctest: +SKIP
>>> lists.create("app:multi")                                    # doctest: +SKIP
>>> lists.add("app:multi", "docker://quay.io/x/app:1", all=True)  # doctest: +SKIP
>>> lists.push("app:multi", "docker://registry.example/app:1")   # doctest: +SKIP

A list is a store record whose manifest is an OCI index (or Docker list)
plus the instance → location map.  Every edit is a small frozen op
(``AddInstance``, ``RemoveInstance``, ``Annotate``) applied under the
record's lock; ``push`` copies instances with the copy engine.
"""

from lighter.lists.edit import add, annotate, create, exists, inspect, remove, rm, wanted_platform
from lighter.lists.ops import (
    AddInstance,
    Annotate,
    ListState,
    Op,
    PlatformChange,
    RemoveInstance,
    apply,
    is_zstd_variant,
    zstd_last,
)
from lighter.lists.push import PushOptions, PushResult, push
from lighter.lists.records import ManifestList, load

__all__ = [
    "AddInstance",
    "Annotate",
    "ListState",
    "ManifestList",
    "Op",
    "PlatformChange",
    "PushOptions",
    "PushResult",
    "RemoveInstance",
    "add",
    "annotate",
    "apply",
    "create",
    "exists",
    "inspect",
    "is_zstd_variant",
    "load",
    "push",
    "remove",
    "rm",
    "wanted_platform",
    "zstd_last",
]
