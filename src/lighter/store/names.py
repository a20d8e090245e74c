"""Names of images in the local store, normalised as podman does.

A name without a registry host lives under ``localhost/`` (podman's rule
for locally built images, so ``app`` and ``localhost/app`` are the same
name); a name without tag or digest gets ``latest``.

>>> normalize_name("demo/app")
'localhost/demo/app:latest'
>>> normalize_name("quay.io/x/y:1")
'quay.io/x/y:1'
"""

from __future__ import annotations

import re
from typing import Final

from lighter.errors import InvalidImageNameError, InvalidReferenceError
from lighter.reference import Reference, parse_reference

LOCAL_DOMAIN: Final = "localhost"
_ID_PREFIX = re.compile(r"[0-9a-f]{3,64}")


def _has_domain(text: str) -> bool:
    first, sep, _ = text.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == LOCAL_DOMAIN or first.lower() != first)


def parse_name(text: str) -> Reference:
    """Parse a store name (``[host/]path[:tag][@digest]``), defaulting the host to ``localhost``."""
    full = text if _has_domain(text) else f"{LOCAL_DOMAIN}/{text}"
    try:
        return parse_reference(full)
    except InvalidReferenceError as exc:
        raise InvalidImageNameError(f"invalid store image name {text!r}: {exc}") from None


def normalize_name(text: str) -> str:
    """The canonical ``host/path:tag`` a name is stored under (a digest, if any, is dropped)."""
    ref = parse_name(text)
    return str(ref.with_digest(None)) if ref.tag is not None else f"{ref.name}:latest"


def split_name(name: str) -> tuple[str, str]:
    """``(repository, tag)`` of a normalised name."""
    repo, _, tag = name.rpartition(":")
    return repo, tag


def looks_like_id(text: str) -> bool:
    """True when ``text`` could be an image ID or a unique prefix of one (3 to 64 hex digits)."""
    return bool(_ID_PREFIX.fullmatch(text))
