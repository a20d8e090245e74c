"""The fetch-by-digest cache for image pipelines, and their container inputs.

What osbuild's container sources and inputs do with skopeo, done by lighter:
fetch images and manifest lists pinned by digest into a verified,
content-addressed cache (``fetch``), check it (``verify``), hand cached
images or pipeline archives to a build step (``map_input``,
``attach_manifest_lists``, ``container_source``), and keep the list digest
an image was pinned by (``merge_manifest``).
"""

from lighter.cache.fetch import FetchReport, fetch, fetch_item
from lighter.cache.inputs import (
    ContainerImage,
    attach_manifest_lists,
    cached_lists,
    map_input,
    map_pipeline_ref,
    map_source_ref,
    references,
)
from lighter.cache.layout import Cache, Entry
from lighter.cache.merge import container_source, merge_manifest
from lighter.cache.schema import (
    IMAGE_SOURCE,
    IMAGE_SOURCE_SCHEMA,
    INPUT_SCHEMA,
    LIST_SOURCE,
    LIST_SOURCE_SCHEMA,
    SOURCES_SCHEMA,
    SourceItem,
    load_sources,
    parse_sources,
)
from lighter.cache.verify import VerifyReport, check_entry, verify

__all__ = [
    "IMAGE_SOURCE",
    "IMAGE_SOURCE_SCHEMA",
    "INPUT_SCHEMA",
    "LIST_SOURCE",
    "LIST_SOURCE_SCHEMA",
    "SOURCES_SCHEMA",
    "Cache",
    "ContainerImage",
    "Entry",
    "FetchReport",
    "SourceItem",
    "VerifyReport",
    "attach_manifest_lists",
    "cached_lists",
    "check_entry",
    "container_source",
    "fetch",
    "fetch_item",
    "load_sources",
    "map_input",
    "map_pipeline_ref",
    "map_source_ref",
    "merge_manifest",
    "parse_sources",
    "references",
    "verify",
]
