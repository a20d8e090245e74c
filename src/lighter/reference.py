"""Docker image references: parsing and normalisation (distribution/reference's grammar).

Grammar::

    reference        ::= name [ ":" tag ] [ "@" digest ]
    name             ::= [ domain "/" ] path
    domain           ::= host [ ":" port ]
    host             ::= domain-component ( "." domain-component )* | "[" ipv6 "]"
    domain-component ::= [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    port             ::= [0-9]+
    path             ::= path-component ( "/" path-component )*
    path-component   ::= [a-z0-9]+ ( separator [a-z0-9]+ )*
    separator        ::= "." | "_" | "__" | "-"+
    tag              ::= [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

The first component is a domain only if it contains ``.`` or ``:`` or is
``localhost`` (or has an uppercase letter); otherwise the name lives on
Docker Hub, where single-component names get ``library/``.  A name with
neither tag nor digest gets ``latest``.

>>> r = parse_reference("alpine")
>>> str(r)
'docker.io/library/alpine:latest'
>>> r = parse_reference("localhost:5000/a/b@sha256:" + "0" * 64)
>>> (r.domain, r.path, r.tag)
('localhost:5000', 'a/b', None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from lighter.digest import Digest, parse_digest
from lighter.errors import InvalidDigestError, InvalidReferenceError

DEFAULT_DOMAIN: Final = "docker.io"
LEGACY_DOMAIN: Final = "index.docker.io"
OFFICIAL_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
MAX_NAME_LENGTH: Final = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised docker reference; ``tag`` and ``digest`` may both be set."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """``domain/path``, without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it (``alpine`` for ``docker.io/library/alpine``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        short = self.path.removeprefix(OFFICIAL_PREFIX)
        # Only official images lose "library/": library/a/b stays as it is.
        return self.path if "/" in short else short

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def with_tag(self, tag: str | None) -> Reference:
        if tag is not None and not _TAG.fullmatch(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r}")
        return replace(self, tag=tag)

    def with_digest(self, digest: Digest | None) -> Reference:
        return replace(self, digest=digest)

    @property
    def manifest_ref(self) -> str:
        """What to ask a registry for: the digest when pinned, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and (("." in first or ":" in first) or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse_reference(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise a docker reference.

    With ``default_tag`` a reference without tag or digest gets ``latest``.
    """
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError("invalid reference: empty name")
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReferenceError(f"invalid reference {text!r}: contains whitespace")
    if _IDENTIFIER.fullmatch(text):
        # An image id, not a name: Docker refuses it as a repository too.
        raise InvalidReferenceError(
            f"invalid reference {text!r}: a repository name cannot be a 64-character hexadecimal string"
        )
    remainder, at, digest_text = text.partition("@")
    digest = None
    if at:
        try:
            digest = parse_digest(digest_text)
        except InvalidDigestError as exc:
            raise InvalidReferenceError(f"invalid reference {text!r}: {exc}") from None
    # A tag follows the last ':' that comes after the last '/' (a port precedes a '/').
    tag = None
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise InvalidReferenceError(
                f"invalid reference {text!r}: invalid tag {tag!r} "
                "(expected up to 128 of letters, digits, '_', '.', '-', not starting with '.' or '-')"
            )
    if not remainder:
        raise InvalidReferenceError(f"invalid reference {text!r}: empty repository name")
    domain, path = _split_domain(remainder)
    if not _DOMAIN.fullmatch(domain):
        raise InvalidReferenceError(f"invalid reference {text!r}: invalid registry host {domain!r}")
    for component in path.split("/"):
        if _PATH_COMPONENT.fullmatch(component):
            continue
        if _PATH_COMPONENT.fullmatch(component.lower()):
            raise InvalidReferenceError(f"invalid reference {text!r}: repository name must be lowercase")
        raise InvalidReferenceError(
            f"invalid reference {text!r}: invalid repository path component {component!r} "
            "(expected lowercase letters, digits and single separators '.', '_', '__', '-')"
        )
    if len(domain) + 1 + len(path) > MAX_NAME_LENGTH:
        raise InvalidReferenceError(
            f"invalid reference {text[:40]!r}...: repository name must not be more than {MAX_NAME_LENGTH} characters"
        )
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)
