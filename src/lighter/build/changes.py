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

Words are processed as Dockerfile (BuildKit's shell lexer) processes them:
``'single'`` quotes keep everything, ``"double"`` quotes keep all but
``$`` and ``\\"``, a backslash outside quotes makes the next character
literal (``\\$HOME`` is ``$HOME``), and in ENV, LABEL, WORKDIR, USER,
EXPOSE, VOLUME and STOPSIGNAL (never in CMD or ENTRYPOINT) variables are
replaced from the image's environment as it is before the instruction
(so ``ENV A=1 B=$A`` gives B the *old* A)::

    $NAME  ${NAME}                  the value, or "" when unset
    ${NAME:-WORD}  ${NAME:+WORD}    WORD when unset or empty / when set and not empty
    ${NAME-WORD}   ${NAME+WORD}     WORD when unset / when set (even to "")

>>> parse_change('CMD echo $HOME').value()
('/bin/sh', '-c', 'echo $HOME')
>>> apply_changes({"Env": ["PATH=/bin"]}, [parse_change('ENV PATH=/opt/bin:$PATH B="two words"')])
{'Env': ['PATH=/opt/bin:/bin', 'B=two words']}
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from lighter.errors import InvalidChangeError

INSTRUCTIONS: Final = ("ENV", "CMD", "ENTRYPOINT", "WORKDIR", "USER", "LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL")
_PORT: Final = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?", re.IGNORECASE)
#: Shell special parameters: ``$?`` and the like name a one-character variable (always unset here).
_SPECIAL_PARAMS: Final = frozenset("@*#?-$!0")


class _Word:
    """One word through Dockerfile's lexer: quotes and escapes removed, ``$`` references replaced."""

    def __init__(self, text: str, env: Mapping[str, str], what: str) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.what = what

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        ch = self._peek()
        self.pos += len(ch)
        return ch

    def _error(self, message: str) -> InvalidChangeError:
        return InvalidChangeError(f"{self.what}: {message}")

    def process(self, stop: str = "") -> tuple[str, bool]:
        """The word up to ``stop`` (consumed) or the end; True if ``stop`` was found."""
        out: list[str] = []
        while ch := self._peek():
            if stop and ch == stop:
                self.pos += 1
                return "".join(out), True
            if ch == "'":
                out.append(self._single_quoted())
            elif ch == '"':
                out.append(self._double_quoted())
            elif ch == "$":
                out.append(self._dollar())
            else:
                self.pos += 1
                if ch == "\\":
                    ch = self._next()  # a backslash at the very end is dropped
                out.append(ch)
        return "".join(out), False

    def _single_quoted(self) -> str:
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise self._error("no closing quotation (expected a matching ')")
        value, self.pos = self.text[self.pos : end], end + 1
        return value

    def _double_quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self._peek()
            if not ch:
                raise self._error('no closing quotation (expected a matching ")')
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.pos += 1
            if ch == "\\" and self._peek() in ('"', "$", "\\"):
                ch = self._next()  # only these can be escaped; other backslashes stay
            out.append(ch)

    def _name(self) -> str:
        start = self.pos
        first = self._peek()
        if first.isdigit():
            while self._peek().isdigit():
                self.pos += 1
        elif first and first in _SPECIAL_PARAMS:
            self.pos += 1
        else:
            while (ch := self._peek()) and (ch.isalnum() or ch == "_"):
                self.pos += 1
        return self.text[start : self.pos]

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        if self._peek() in ("", "{", "}", ":"):
            raise self._error(f"bad substitution in {self.text!r}")
        name = self._name()
        ch = self._next()
        if ch == "}":
            return self.env.get(name, "")
        if ch == ":" and self._peek() in ("-", "+"):
            modifier = self._next()
            word = self._until_brace()
            value = self.env.get(name, "")
            return (value or word) if modifier == "-" else (word if value else "")
        if ch in ("-", "+"):
            word = self._until_brace()
            if ch == "-":
                return self.env.get(name, word)
            return word if name in self.env else ""
        if not ch:
            raise self._error(f"missing '}}' in {self.text!r}")
        raise self._error(
            f"unsupported substitution in {self.text!r} (expected ${{NAME}}, ${{NAME:-WORD}} or ${{NAME:+WORD}})"
        )

    def _until_brace(self) -> str:
        word, found = self.process(stop="}")
        if not found:
            raise self._error(f"missing '}}' in {self.text!r}")
        return word


def _expand(word: str, env: Mapping[str, str], what: str) -> str:
    """``word`` with quotes and escapes removed and variables replaced (Dockerfile's ProcessWord)."""
    return _Word(word, env, what).process()[0]


def _split_words(text: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes in the words (Dockerfile's parseWords)."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    started = False
    pos = 0
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if not quote and ch.isspace():
            if started:
                words.append("".join(word))
            word, started = [], False
            continue
        started = True
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in ("'", '"'):
            quote = ch
        if ch == "\\" and quote != "'":
            if pos == len(text):
                continue  # a trailing backslash is dropped
            word.append(ch)
            ch = text[pos]
            pos += 1
        word.append(ch)
    if started:
        words.append("".join(word))
    return words


@dataclass(frozen=True, slots=True)
class Change:
    """One instruction: its keyword (upper case) and its argument as written (quotes and ``$`` kept).

    ``value(env)`` interprets the argument against an environment: a tuple of
    words or of (key, value) pairs, or a string.
    """

    instruction: str
    argument: str

    @property
    def what(self) -> str:
        return f"--change {f'{self.instruction} {self.argument}'!r}"

    def value(self, env: Mapping[str, str] | None = None) -> Any:
        """The argument with variables replaced from ``env`` (the image's environment), checked."""
        return _check(self, _interpret(self, env or {}))


def _pairs(change: Change, env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    what, text = change.what, change.argument
    words = _split_words(text)
    if change.instruction == "ENV" and "=" not in words[0]:
        parts = text.split(None, 1)
        if len(parts) < 2:
            raise InvalidChangeError(f"{what}: expected KEY=VALUE or KEY VALUE")
        return ((_expand(parts[0], env, what), _expand(parts[1].strip(), env, what)),)
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidChangeError(f"{what}: expected KEY=VALUE, got {word!r}")
        out.append((_expand(key, env, what), _expand(value, env, what)))
    return tuple(out)


def _json_strings(text: str) -> list[str] | None:
    """A JSON array of strings, or None when ``text`` is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _interpret(change: Change, env: Mapping[str, str]) -> Any:
    """The argument split and expanded as the instruction wants it, before any semantic check."""
    name, text, what = change.instruction, change.argument, change.what
    if name in ("ENV", "LABEL"):
        return _pairs(change, env)
    if name in ("CMD", "ENTRYPOINT"):  # never expanded: the shell or the program does that at run time
        exec_form = _json_strings(text) if text.startswith("[") else None
        # Dockerfile: what is not a JSON array of strings is shell form
        return tuple(exec_form) if exec_form is not None else ("/bin/sh", "-c", text)
    if name == "VOLUME" and text.startswith("["):
        paths = _json_strings(text)
        if paths is None or not all(paths):
            raise InvalidChangeError(f"{what}: expected a JSON array of paths, got {text!r}")
        return tuple(_expand(p, env, what) for p in paths)
    if name in ("VOLUME", "EXPOSE"):
        return tuple(_expand(w, env, what) for w in text.split())
    return _expand(text, env, what)  # WORKDIR, USER, STOPSIGNAL: the rest of the line, one word


def _ports(words: tuple[str, ...], what: str) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        match = _PORT.fullmatch(word)
        if match is None:
            raise InvalidChangeError(f"{what}: invalid port {word!r} (expected PORT[-PORT][/tcp|/udp|/sctp])")
        start, end, proto = int(match[1]), int(match[2] or match[1]), (match[3] or "tcp").lower()
        if not 0 < start <= end <= 65535:
            raise InvalidChangeError(f"{what}: invalid port range {word!r}")
        out.extend(f"{port}/{proto}" for port in range(start, end + 1))
    return tuple(out)


def _check(change: Change, value: Any) -> Any:
    """What must hold once variables are replaced: ports, non-empty keys and paths."""
    what = change.what
    if change.instruction == "EXPOSE":
        return _ports(value, what)
    if change.instruction in ("ENV", "LABEL"):
        for key, _ in value:
            if not key:
                raise InvalidChangeError(f"{what}: a key is empty once variables are replaced")
    elif change.instruction == "VOLUME" and not all(value):
        raise InvalidChangeError(f"{what}: a path is empty once variables are replaced")
    return value


def parse_change(text: str) -> Change:
    """Parse one ``--change`` instruction; syntax errors are raised here.

    An argument without ``$`` means the same in any environment, so it is
    checked whole here too (ports, keys); with variables, the rest of the
    checks wait for the image's environment (``apply_changes``).
    """
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
    change = Change(instruction, rest)
    interpreted = _interpret(change, {})  # quotes, substitution syntax, KEY=VALUE form, JSON
    if "$" not in rest:
        _check(change, interpreted)
    return change


def _set_env(env: list[str], key: str, value: str) -> list[str]:
    kept = [item for item in env if item.partition("=")[0] != key]
    if len(kept) == len(env):
        return [*env, f"{key}={value}"]
    return [f"{key}={value}" if item.partition("=")[0] == key else item for item in env]


def _environment(env: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def apply_changes(runtime: Mapping[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """A new runtime config (the config's ``config`` object) with ``changes`` applied in order.

    Each change sees the environment as the changes before it left it.
    """
    out = dict(runtime)
    for change in changes:
        name = change.instruction
        value = change.value(_environment(out.get("Env") or []))
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
