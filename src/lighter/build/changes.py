"""``--change`` instructions: a Dockerfile subset applied to an image's runtime config.

Grammar (Dockerfile syntax, one instruction per change; the keyword is
case-insensitive)::

    change      ::= keyword whitespace arguments
    ENV         ::= KEY=VALUE ...  |  KEY VALUE          (legacy form: the rest of the line)
    LABEL       ::= KEY=VALUE ...
    CMD, ENTRYPOINT ::= JSON-array | shell-form           (shell form → ["/bin/sh", "-c", TEXT])
    WORKDIR     ::= PATH                                  (relative to the previous WORKDIR)
    USER        ::= USER[:GROUP]
    EXPOSE      ::= PORT[-PORT][/tcp|/udp|/sctp] ...
    VOLUME      ::= JSON-array | PATH ...
    STOPSIGNAL  ::= SIGNAL

Words are split and unquoted as a POSIX shell would (``shlex``), as
Dockerfile does for ``KEY="a b"``.

>>> parse_change('CMD echo hi').value
('/bin/sh', '-c', 'echo hi')
>>> apply_changes({}, [parse_change('ENV A=1 B="two words"')])
{'Env': ['A=1', 'B=two words']}
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from lighter.errors import InvalidChangeError

INSTRUCTIONS: Final = ("ENV", "CMD", "ENTRYPOINT", "WORKDIR", "USER", "LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL")
_PORT: Final = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Change:
    """One parsed instruction: ``value`` is a tuple of words or of (key, value) pairs, or a string."""

    instruction: str
    value: Any


def _words(text: str, what: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise InvalidChangeError(f"{what}: {exc}") from None


def _pairs(text: str, what: str, legacy: bool) -> tuple[tuple[str, str], ...]:
    first = text.split(None, 1)
    if legacy and "=" not in first[0]:
        if len(first) < 2:
            raise InvalidChangeError(f"{what}: expected KEY=VALUE or KEY VALUE")
        return ((first[0], first[1].strip()),)
    out = []
    for word in _words(text, what):
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidChangeError(f"{what}: expected KEY=VALUE, got {word!r}")
        out.append((key, value))
    return tuple(out)


def _exec_or_shell(text: str, what: str) -> tuple[str, ...]:
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return ("/bin/sh", "-c", text)  # Dockerfile: what is not a JSON array of strings is shell form


def _ports(text: str, what: str) -> tuple[str, ...]:
    out: list[str] = []
    for word in _words(text, what):
        match = _PORT.fullmatch(word)
        if match is None:
            raise InvalidChangeError(f"{what}: invalid port {word!r} (expected PORT[-PORT][/tcp|/udp|/sctp])")
        start, end, proto = int(match[1]), int(match[2] or match[1]), (match[3] or "tcp").lower()
        if not 0 < start <= end <= 65535:
            raise InvalidChangeError(f"{what}: invalid port range {word!r}")
        out.extend(f"{port}/{proto}" for port in range(start, end + 1))
    return tuple(out)


def _volumes(text: str, what: str) -> tuple[str, ...]:
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise InvalidChangeError(f"{what}: invalid JSON array {text!r}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidChangeError(f"{what}: expected a JSON array of paths")
        return tuple(value)
    return tuple(_words(text, what))


def parse_change(text: str) -> Change:
    """Parse one ``--change`` instruction."""
    words = text.strip().split(None, 1)
    keyword = words[0] if words else ""
    rest = words[1].strip() if len(words) > 1 else ""
    instruction = keyword.upper()
    what = f"--change {text.strip()!r}"
    if instruction not in INSTRUCTIONS:
        expected = ", ".join(INSTRUCTIONS)
        raise InvalidChangeError(f"{what}: unsupported instruction {keyword!r} (expected one of {expected})")
    if not rest:
        raise InvalidChangeError(f"{what}: {instruction} needs an argument")
    value: Any
    if instruction in ("ENV", "LABEL"):
        value = _pairs(rest, what, legacy=instruction == "ENV")
    elif instruction in ("CMD", "ENTRYPOINT"):
        value = _exec_or_shell(rest, what)
    elif instruction == "EXPOSE":
        value = _ports(rest, what)
    elif instruction == "VOLUME":
        value = _volumes(rest, what)
    else:  # WORKDIR, USER, STOPSIGNAL take the rest as it is
        value = rest
    return Change(instruction, value)


def _set_env(env: list[str], key: str, value: str) -> list[str]:
    kept = [item for item in env if item.partition("=")[0] != key]
    if len(kept) == len(env):
        return [*env, f"{key}={value}"]
    return [f"{key}={value}" if item.partition("=")[0] == key else item for item in env]


def apply_changes(runtime: Mapping[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """A new runtime config (the config's ``config`` object) with ``changes`` applied in order."""
    out = dict(runtime)
    for change in changes:
        name, value = change.instruction, change.value
        if name == "ENV":
            env = list(out.get("Env") or [])
            for key, val in value:
                env = _set_env(env, key, val)
            out["Env"] = env
        elif name == "LABEL":
            out["Labels"] = dict(sorted({**(out.get("Labels") or {}), **dict(value)}.items()))
        elif name == "CMD":
            out["Cmd"] = list(value)
        elif name == "ENTRYPOINT":
            out["Entrypoint"] = list(value)
        elif name == "WORKDIR":
            out["WorkingDir"] = posixpath.normpath(posixpath.join(out.get("WorkingDir") or "/", value))
        elif name == "USER":
            out["User"] = value
        elif name == "EXPOSE":
            ports = {**(out.get("ExposedPorts") or {}), **{p: {} for p in value}}
            out["ExposedPorts"] = dict(sorted(ports.items()))
        elif name == "VOLUME":
            volumes = {**(out.get("Volumes") or {}), **{v: {} for v in value}}
            out["Volumes"] = dict(sorted(volumes.items()))
        elif name == "STOPSIGNAL":
            out["StopSignal"] = value
    return out
