"""Semantic-version constraints for ``images-by-semver``, as Masterminds/semver v3 reads them.

skopeo sync checks each tag against the constraint with that library; this
is the same grammar and the same rules, so a YAML file selects the same
tags::

    constraint ::= and-group ( "||" and-group )*
    and-group  ::= term ( [","] term )*          (commas or spaces)
    term       ::= [op] version | version " - " version
    op         ::= "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^"
    version    ::= ["v"] major ["." minor ["." patch]] ["-" prerelease] ["+" build]

A part given as ``x``, ``X`` or ``*`` (or left out) is a wildcard.  Tags
are read loosely (``v1.2`` is 1.2.0); a tag with a pre-release matches only
a term whose version has one too.

>>> c = parse_constraint(">= 3.12.0")
>>> [t for t in ("3.11.9", "3.12.0", "v3.13", "4.0.0-rc1", "latest") if c.check(t)]
['3.12.0', 'v3.13']
>>> parse_constraint("^1.2").check("1.9.0"), parse_constraint("~1.2").check("1.3.0")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lighter.errors import InvalidSyncConfigError

_PART = r"[0-9xX*]+"
_IDENTS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_OPS = r"!=|>=|=>|<=|=<|~>|=|>|<|~|\^"


def _cversion(prefix: str | None) -> str:
    """A constraint's version, its parts captured as ``<prefix>major`` etc. (or not captured when None)."""

    def group(name: str) -> str:
        return "(" if prefix is None else f"(?P<{prefix}{name}>"

    return (
        rf"v?{group('major')}{_PART})(?:\.{group('minor')}{_PART}))?(?:\.{group('patch')}{_PART}))?"
        rf"(?:-{group('pre')}{_IDENTS}))?(?:\+{_IDENTS})?"
    )


_TERM = re.compile(rf"(?P<op>{_OPS})?\s*{_cversion('')}")
_ANY_TERM = rf"(?:(?:{_OPS})?\s*{_cversion(None)})"
_GROUP = re.compile(rf"\s*{_ANY_TERM}(?:\s*,?\s*{_ANY_TERM})*\s*")
# "1.2 - 1.4.5" means ">= 1.2, <= 1.4.5"
_RANGE = re.compile(rf"\s*(?P<low>{_cversion(None)})\s+-\s+(?P<high>{_cversion(None)})\s*")
_VERSION = re.compile(rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-(?P<pre>{_IDENTS}))?(?:\+{_IDENTS})?")
_WILD = frozenset({"x", "X", "*"})


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # semver.org rule 11: a release sorts after its pre-releases; numeric identifiers sort before others
        pre = (
            tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease.split(".")) if self.prerelease else ()
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)


def parse_version(text: str) -> Version | None:
    """A tag read as a version (loosely, as Masterminds' NewVersion), or None."""
    m = _VERSION.fullmatch(text)
    if m is None:
        return None
    return Version(int(m[1]), int(m[2] or 0), int(m[3] or 0), m["pre"] or "")


@dataclass(frozen=True, slots=True)
class _Term:
    op: str
    version: Version
    minor_dirty: bool
    patch_dirty: bool

    @property
    def dirty(self) -> bool:
        return self.minor_dirty or self.patch_dirty

    def check(self, v: Version) -> bool:
        if v.prerelease and not self.version.prerelease:
            return False
        return _CHECKS[self.op](self, v)


def _cmp(a: Version, b: Version) -> int:
    ka, kb = a.key(), b.key()
    return (ka > kb) - (ka < kb)


def _equal_or_tilde(t: _Term, v: Version) -> bool:
    return _tilde(t, v) if t.dirty else _cmp(v, t.version) == 0


def _not_equal(t: _Term, v: Version) -> bool:
    if not t.dirty:
        return _cmp(v, t.version) != 0
    if v.major != t.version.major:
        return True
    if t.minor_dirty:
        return False
    return v.minor != t.version.minor


def _greater(t: _Term, v: Version) -> bool:
    c = t.version
    if not t.dirty:
        return _cmp(v, c) > 0
    if v.major != c.major:
        return v.major > c.major
    # ">11" needs 12 or higher; ">11.1" needs 11.2 or higher
    return not t.minor_dirty and v.minor > c.minor


def _less_equal(t: _Term, v: Version) -> bool:
    c = t.version
    if not t.dirty:
        return _cmp(v, c) <= 0
    if v.major != c.major:
        return v.major < c.major
    return t.minor_dirty or v.minor <= c.minor


def _tilde(t: _Term, v: Version) -> bool:
    c = t.version
    if _cmp(v, c) < 0:
        return False
    if c == Version(0, 0, 0) and not t.dirty:  # "~0.0.0" and "*": every version
        return True
    if v.major != c.major:
        return False
    return t.minor_dirty or v.minor == c.minor


def _caret(t: _Term, v: Version) -> bool:
    c = t.version
    if _cmp(v, c) < 0:
        return False
    if c.major > 0 or t.minor_dirty:
        return v.major == c.major
    if v.major != 0:
        return False
    if c.minor > 0 or t.patch_dirty:
        return v.minor == c.minor
    return v.minor == 0 and v.patch == c.patch


_CHECKS: dict[str, Callable[[_Term, Version], bool]] = {
    "": _equal_or_tilde,
    "=": _equal_or_tilde,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda t, v: _cmp(v, t.version) < 0,
    ">=": lambda t, v: _cmp(v, t.version) >= 0,
    "=>": lambda t, v: _cmp(v, t.version) >= 0,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _term(op: str, major: str, minor: str | None, patch: str | None, pre: str | None) -> _Term:
    if major in _WILD:  # "*" alone: every version
        return _Term("~" if op in ("", "=") else op, Version(0, 0, 0), False, False)
    minor_dirty = minor is None or minor in _WILD
    patch_dirty = not minor_dirty and (patch is None or patch in _WILD)
    version = Version(
        int(major),
        0 if minor_dirty else int(minor or 0),
        0 if minor_dirty or patch_dirty else int(patch or 0),
        pre or "",
    )
    return _Term(op, version, minor_dirty, patch_dirty)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed constraint: OR of AND-groups of terms."""

    text: str
    groups: tuple[tuple[_Term, ...], ...]

    def check(self, tag: str) -> bool:
        """True when the tag reads as a version that satisfies the constraint."""
        version = parse_version(tag)
        if version is None:
            return False
        return any(all(term.check(version) for term in group) for group in self.groups)


def _rewrite_ranges(text: str) -> str:
    return _RANGE.sub(lambda m: f" >= {m['low']}, <= {m['high']} ", text)


def parse_constraint(text: str) -> Constraint:
    """Parse a Masterminds constraint; raises InvalidSyncConfigError naming the text."""
    groups: list[tuple[_Term, ...]] = []
    for part in _rewrite_ranges(text).split("||"):
        if not _GROUP.fullmatch(part):
            raise InvalidSyncConfigError(f"invalid semver constraint {text!r}")
        groups.append(
            tuple(_term(m["op"] or "", m["major"], m["minor"], m["patch"], m["pre"]) for m in _TERM.finditer(part))
        )
    return Constraint(text, tuple(groups))
