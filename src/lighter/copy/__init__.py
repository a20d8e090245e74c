"""Copying images and manifest lists between any two transports."""

import sys
import types

from lighter.copy.execute import CopyResult, copy_between, copy_image
from lighter.copy.options import CopyOptions, ManifestFormat, MultiArch
from lighter.copy.plan import LayerAction, ListPlan, image_actions, plan_list
from lighter.copy.progress import Progress
from lighter.transports import ImageReference, TransportOptions

__all__ = [
    "CopyOptions",
    "CopyResult",
    "LayerAction",
    "ListPlan",
    "ManifestFormat",
    "MultiArch",
    "Progress",
    "copy_between",
    "copy_image",
    "image_actions",
    "plan_list",
]


class CallableCopyModule(types.ModuleType):
    """Lets ``lighter.copy(src, dst, ...)`` be called like a function, as the issue's API asks,
    while ``lighter.copy.CopyOptions`` and friends stay importable from the same name.
    Module ``__class__`` assignment is supported by Python since 3.5."""

    def __call__(
        self,
        src: str | ImageReference,
        dst: str | ImageReference,
        options: CopyOptions | None = None,
        *,
        src_options: TransportOptions | None = None,
        dst_options: TransportOptions | None = None,
    ) -> CopyResult:
        return copy_image(src, dst, options, src_options=src_options, dst_options=dst_options)


sys.modules[__name__].__class__ = CallableCopyModule
