"""``--change`` parsing and application: table tests, Dockerfile semantics."""

from __future__ import annotations

from typing import Any

import pytest

from lighter.build import apply_changes, parse_change
from lighter.errors import InvalidChangeError

CASES: list[tuple[dict[str, Any], list[str], dict[str, Any]]] = [
    ({}, ["ENV A=1"], {"Env": ["A=1"]}),
    ({"Env": ["A=0", "B=2"]}, ["ENV A=1"], {"Env": ["A=1", "B=2"]}),
    ({}, ["ENV A=\"two words\" B='x y'"], {"Env": ["A=two words", "B=x y"]}),
    ({}, ["env LEGACY value with spaces"], {"Env": ["LEGACY=value with spaces"]}),
    ({}, ["CMD echo hi && ls"], {"Cmd": ["/bin/sh", "-c", "echo hi && ls"]}),
    ({}, ['CMD ["/bin/app", "--flag"]'], {"Cmd": ["/bin/app", "--flag"]}),
    ({}, ["CMD [not json"], {"Cmd": ["/bin/sh", "-c", "[not json"]}),
    ({"Cmd": ["x"]}, ['ENTRYPOINT ["/init"]'], {"Cmd": ["x"], "Entrypoint": ["/init"]}),
    ({}, ["ENTRYPOINT exec /init"], {"Entrypoint": ["/bin/sh", "-c", "exec /init"]}),
    ({}, ["WORKDIR /srv"], {"WorkingDir": "/srv"}),
    ({"WorkingDir": "/srv"}, ["WORKDIR app/../data"], {"WorkingDir": "/srv/data"}),
    ({}, ["USER 1000:1000"], {"User": "1000:1000"}),
    ({}, ["LABEL b=2 a=1"], {"Labels": {"a": "1", "b": "2"}}),
    ({"Labels": {"a": "0"}}, ['LABEL a="new value"'], {"Labels": {"a": "new value"}}),
    (
        {},
        ["EXPOSE 80 53/udp 8000-8002/tcp"],
        {"ExposedPorts": {f"{p}": {} for p in ("53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp")}},
    ),
    ({}, ['VOLUME ["/data", "/logs"]'], {"Volumes": {"/data": {}, "/logs": {}}}),
    ({}, ["VOLUME /a /b"], {"Volumes": {"/a": {}, "/b": {}}}),
    ({}, ["STOPSIGNAL SIGTERM"], {"StopSignal": "SIGTERM"}),
    ({}, ["ENV A=1", "ENV A=2"], {"Env": ["A=2"]}),
]


@pytest.mark.parametrize(("before", "changes", "after"), CASES)
def test_changes(before: dict[str, Any], changes: list[str], after: dict[str, Any]) -> None:
    result = apply_changes(before, [parse_change(c) for c in changes])
    assert result == after
    assert before == dict(before)  # the input is not modified


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("RUN apt-get update", "unsupported instruction 'RUN'"),
        ("CMD", "needs an argument"),
        ("", "unsupported instruction"),
        ("ENV =x", "KEY=VALUE"),
        ("ENV A", "KEY=VALUE or KEY VALUE"),
        ("LABEL novalue", "KEY=VALUE"),
        ("EXPOSE http", "invalid port"),
        ("EXPOSE 90-80", "invalid port range"),
        ("VOLUME [1, 2]", "JSON array of paths"),
        ('ENV A="unterminated', "quotation"),
    ],
)
def test_bad_changes(text: str, match: str) -> None:
    with pytest.raises(InvalidChangeError, match=match):
        parse_change(text)


def test_invalid_change_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_change("FROM scratch")
