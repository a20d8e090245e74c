"""Root filesystems to images and back: ``commit`` and ``unpack``.

>>> from lighter.build import commit, unpack   # doctest: +SKIP
>>> result = commit("rootfs", "oci:/tmp/layout:app", timestamp=0)   # doctest: +SKIP
>>> unpack("oci:/tmp/layout:app", "copy-of-rootfs")   # doctest: +SKIP
"""

from lighter.build.changes import Change, apply_changes, parse_change
from lighter.build.commit import CommitResult, commit
from lighter.build.layers import Limits
from lighter.build.unpack import UnpackResult, unpack

__all__ = [
    "Change",
    "CommitResult",
    "Limits",
    "UnpackResult",
    "apply_changes",
    "commit",
    "parse_change",
    "unpack",
]
