"""Copying images and manifest lists between any two transports."""

from lighter.copy.execute import CopyResult, copy_between, copy_image
from lighter.copy.options import CopyOptions, ManifestFormat, MultiArch
from lighter.copy.plan import LayerAction, ListPlan, image_actions, plan_list
from lighter.copy.progress import Progress

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
