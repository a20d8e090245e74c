"""JSON serialisation byte-compatible with Go's ``encoding/json``.

Registries and skopeo are written in Go; when lighter has to write a
manifest it changed, writing it the way Go would means the digest equals the
one skopeo computes for the same conversion.  Go emits compact JSON, keeps
non-ASCII characters as UTF-8, and escapes ``<``, ``>``, ``&``, U+2028 and
U+2029.  Those characters can only occur inside JSON strings, so replacing
them in the output is safe.  A lone UTF-16 surrogate (which ``json.loads``
accepts from ``"\\ud800"``) cannot be encoded as UTF-8; Go writes U+FFFD for
it, and so do we.  Go sorts the keys of maps (annotations, labels): callers
pass those already sorted, the key order of structs being theirs to choose.
"""

from __future__ import annotations

import json
import re
from typing import Any

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def go_dumps(value: Any) -> bytes:
    """Serialise ``value`` exactly as Go's json.Marshal would (key order as given)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _LONE_SURROGATE.sub("\ufffd", text.translate(_GO_ESCAPES)).encode("utf-8")
