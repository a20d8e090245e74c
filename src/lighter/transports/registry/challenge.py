"""Parsing ``WWW-Authenticate`` challenges (RFC 7235), as registries send them.

Grammar::

    challenges ::= challenge ( "," challenge )*
    challenge  ::= scheme [ SP ( token68 | param ( "," param )* ) ]
    param      ::= name "=" ( token | quoted-string )

A header may hold several challenges (``Basic realm="r", Bearer realm="t"``)
and quoted values may hold commas (``scope="repository:a:pull,push"``) and
backslash escapes, so splitting on commas is not enough.

>>> parse_challenges('Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push"')[0].params["scope"]
'repository:x:pull,push'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_SPACE = re.compile(r"[ \t]*")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: its scheme in lower case and its parameters (names in lower case)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self, chars: str = " \t") -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if m is None or not m.group():
            return None
        self.pos = m.end()
        return m.group()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def quoted(self) -> str:
        """A quoted string starting at the current '"'; an unterminated one runs to the end."""
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif c == '"':
                break
            else:
                out.append(c)
        return "".join(out)

    def value(self) -> str:
        if self.peek() == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ", \t":
            self.pos += 1
        return self.text[start : self.pos]


def _params(scanner: _Scanner) -> dict[str, str]:
    """Parameters of one challenge, stopping before the next challenge's scheme."""
    params: dict[str, str] = {}
    while True:
        scanner.skip(" \t,")
        start = scanner.pos
        name = scanner.match(_TOKEN)
        if name is None:
            return params
        scanner.skip()
        if scanner.peek() != "=":
            scanner.pos = start  # a new scheme begins here
            return params
        scanner.pos += 1
        scanner.skip()
        params[name.lower()] = scanner.value()


def parse_challenges(header: str | Iterable[str]) -> list[Challenge]:
    """Every challenge in one header value, or in several values of the header."""
    if not isinstance(header, str):
        return [c for value in header for c in parse_challenges(value)]
    scanner = _Scanner(header)
    challenges: list[Challenge] = []
    while True:
        scanner.skip(" \t,")
        scheme = scanner.match(_TOKEN)
        if scheme is None:
            return challenges
        scanner.skip()
        start = scanner.pos
        token68 = scanner.match(_TOKEN68)
        if token68 is not None and scanner.peek() in ("", ","):
            # "Negotiate abc==" style: keep it under a pseudo-parameter
            challenges.append(Challenge(scheme.lower(), {"token68": token68}))
            continue
        scanner.pos = start
        challenges.append(Challenge(scheme.lower(), _params(scanner)))
