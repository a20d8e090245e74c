"""The YAML source file of ``sync --src yaml``, read as skopeo sync reads it.

Format (skopeo-sync(1))::

    registry.example.com:            # one mapping per registry, in file order
      images:                        # repository -> tags or digests ([] or nothing: every tag)
        busybox: []
        redis: ["1.0", "sha256:..."]
      images-by-tag-regex:           # repository -> regex searched in each tag (unanchored, as Go's MatchString)
        nginx: ^1\\.13\\.[12]-alpine-perl$
      images-by-semver:              # repository -> semver constraint (Masterminds syntax)
        alpine: ">= 3.12.0"
      credentials: {username: john, password: secret}
      tls-verify: false              # only when given does it override --src-tls-verify
      cert-dir: /home/john/certs

Every scalar is read as a string (PyYAML's BaseLoader), as Go's yaml.v3
does when decoding into ``[]string``: a tag ``01`` or ``1.10`` stays what
was written instead of becoming a number.  Unknown keys are ignored, as in
skopeo; wrong types and bad regular expressions fail at once, naming the
registry and repository, before anything is listed or copied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from lighter.errors import InvalidSyncConfigError
from lighter.sync.semver import Constraint, parse_constraint

_TRUE = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})
_FALSE = frozenset({"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})
#: BaseLoader leaves YAML's nulls as text; Go decodes them as "not given"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


def _given(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and value in _NULLS) else value


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """One registry's entry of the YAML file."""

    registry: str
    #: repository -> tags or digests; an empty tuple means every tag of the repository
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: repository -> compiled regex searched in each tag
    images_by_tag_regex: tuple[tuple[str, re.Pattern[str]], ...] = ()
    #: repository -> semver constraint every chosen tag satisfies
    images_by_semver: tuple[tuple[str, Constraint], ...] = ()
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls_verify: bool | None = None
    cert_dir: str | None = None

    @property
    def creds(self) -> str | None:
        """``USER:PASSWORD`` when the file gives credentials."""
        if not self.username and not self.password:
            return None
        return f"{self.username or ''}:{self.password or ''}"


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    value = _given(value)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSyncConfigError(f"{what}: expected a mapping, got {_kind(value)}")
    return value


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidSyncConfigError(f"{what}: expected a string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _bool(value: Any, what: str) -> bool:
    text = _string(value, what)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidSyncConfigError(f"{what}: expected true or false, got {text!r}")


def _refs(value: Any, what: str) -> tuple[str, ...]:
    value = _given(value)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSyncConfigError(f"{what}: expected a list of tags or digests, got {_kind(value)}")
    return tuple(_string(item, what) for item in value)


def _regex(value: Any, what: str) -> re.Pattern[str]:
    text = _string(value, what)
    try:
        return re.compile(text)
    except re.error as exc:
        raise InvalidSyncConfigError(f"{what}: invalid regular expression {text!r}: {exc}") from None


def _registry(name: str, body: Any) -> RegistryConfig:
    what = f"registry {name!r}"
    data = _mapping(body, what)
    images = _mapping(data.get("images"), f"{what} images")
    regexes = _mapping(data.get("images-by-tag-regex"), f"{what} images-by-tag-regex")
    semvers = _mapping(data.get("images-by-semver"), f"{what} images-by-semver")
    creds = _mapping(data.get("credentials"), f"{what} credentials")
    tls = _given(data.get("tls-verify"))
    cert_dir = _given(data.get("cert-dir"))
    return RegistryConfig(
        registry=name,
        images=tuple((repo, _refs(refs, f"{what} images {repo!r}")) for repo, refs in images.items()),
        images_by_tag_regex=tuple(
            (repo, _regex(rx, f"{what} images-by-tag-regex {repo!r}")) for repo, rx in regexes.items()
        ),
        images_by_semver=tuple(
            (repo, parse_constraint(_string(c, f"{what} images-by-semver {repo!r}"))) for repo, c in semvers.items()
        ),
        username=_string(creds["username"], f"{what} credentials username") if "username" in creds else None,
        password=_string(creds["password"], f"{what} credentials password") if "password" in creds else None,
        tls_verify=None if tls is None else _bool(tls, f"{what} tls-verify"),
        cert_dir=None if cert_dir is None else _string(cert_dir, f"{what} cert-dir"),
    )


def parse_sync_config(text: str, source: str = "sync YAML") -> tuple[RegistryConfig, ...]:
    """Parse a YAML source file's text; registries keep the file's order."""
    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)  # BaseLoader: only str, list and dict
    except yaml.YAMLError as exc:
        problem = str(exc).replace("\n", " ")
        raise InvalidSyncConfigError(f"failed to parse {source}: {problem}") from None
    top = _mapping(data, source)
    return tuple(_registry(_string(name, f"{source} registry name"), body) for name, body in top.items())


def load_sync_config(path: str) -> tuple[RegistryConfig, ...]:
    """Read and parse a YAML source file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InvalidSyncConfigError(f"cannot read sync YAML {path!r}: {exc.strerror}") from None
    return parse_sync_config(text, repr(path))
