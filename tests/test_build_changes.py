"""``--change`` parsing and application: table tests, Dockerfile semantics."""

from __future__ import annotations

import doctest
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


BASE_ENV: dict[str, Any] = {"Env": ["HOME=/root", "EMPTY=", "PATH=/bin"]}

# (changes, the key to look at, its expected value), all against BASE_ENV, as a Dockerfile would do them.
EXPANSIONS: list[tuple[list[str], str, Any]] = [
    (["ENV A=$HOME"], "A", "/root"),
    (["ENV A=${HOME}/x"], "A", "/root/x"),
    (["ENV A=$HOME.d"], "A", "/root.d"),  # a name is letters, digits and _
    (["ENV A=\\$HOME"], "A", "$HOME"),
    (["ENV A='$HOME'"], "A", "$HOME"),
    (['ENV A="$HOME dir"'], "A", "/root dir"),
    (['ENV A="\\$HOME"'], "A", "$HOME"),
    (['ENV A="a\\b"'], "A", "a\\b"),  # in double quotes, a backslash escapes only ", $ and itself
    (["ENV A=a\\b"], "A", "ab"),
    (["ENV A=$MISSING"], "A", ""),
    (["ENV A=$"], "A", "$"),
    (["ENV A=cost$"], "A", "cost$"),
    (["ENV A=${MISSING:-default}"], "A", "default"),
    (["ENV A=${EMPTY:-default}"], "A", "default"),
    (["ENV A=${HOME:-default}"], "A", "/root"),
    (["ENV A=${HOME:+set}"], "A", "set"),
    (["ENV A=${EMPTY:+set}"], "A", ""),
    (["ENV A=${MISSING:+set}"], "A", ""),
    (["ENV A=${EMPTY-default}"], "A", ""),
    (["ENV A=${MISSING-default}"], "A", "default"),
    (["ENV A=${EMPTY+set}"], "A", "set"),
    (["ENV A=${MISSING+set}"], "A", ""),
    (["ENV A=${MISSING:-$HOME/x}"], "A", "/root/x"),
    (['ENV A=${MISSING:-"a b"}'], "A", "a b"),
    (["ENV PATH=/opt/bin:$PATH"], "PATH", "/opt/bin:/bin"),
    (["ENV A=1 B=$A"], "B", ""),  # one instruction sees the environment from before it
    (["ENV HOME=/home/x B=$HOME"], "B", "/root"),
    (["ENV A=1", "ENV B=$A"], "B", "1"),  # the next instruction sees the new value
    (["ENV A $HOME/legacy form"], "A", "/root/legacy form"),
    (["LABEL home=$HOME"], "Labels", {"home": "/root"}),
    (["ENV K=key", "LABEL $K=v"], "Labels", {"key": "v"}),
    (["WORKDIR $HOME/app"], "WorkingDir", "/root/app"),
    (["USER ${USERNAME:-app}"], "User", "app"),
    (["ENV PORT=53", "EXPOSE $PORT/udp ${WEB:-80}"], "ExposedPorts", {"53/udp": {}, "80/tcp": {}}),
    (["VOLUME $HOME/data"], "Volumes", {"/root/data": {}}),
    (['VOLUME ["$HOME/cache"]'], "Volumes", {"/root/cache": {}}),
    (["ENV SIG=SIGINT", "STOPSIGNAL $SIG"], "StopSignal", "SIGINT"),
    (["CMD echo $HOME"], "Cmd", ["/bin/sh", "-c", "echo $HOME"]),  # the shell expands it at run time
    (['CMD ["echo", "$HOME"]'], "Cmd", ["echo", "$HOME"]),
    (['ENTRYPOINT ["${HOME}/run"]'], "Entrypoint", ["${HOME}/run"]),
    (["ENTRYPOINT exec $HOME/run"], "Entrypoint", ["/bin/sh", "-c", "exec $HOME/run"]),
]


@pytest.mark.parametrize(("changes", "key", "expected"), EXPANSIONS)
def test_variables_are_expanded_as_dockerfile_does(changes: list[str], key: str, expected: Any) -> None:
    result = apply_changes(BASE_ENV, [parse_change(c) for c in changes])
    if key in ("Labels", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal", "Cmd", "Entrypoint"):
        assert result[key] == expected
    else:
        assert dict(item.split("=", 1) for item in result["Env"])[key] == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ENV A=${HOME", "missing '}'"),
        ("ENV A=${HOME:-x", "missing '}'"),
        ("ENV A=${}", "bad substitution"),
        ("ENV A=${:-x}", "bad substitution"),
        ("ENV A=${HOME:?unset}", "unsupported substitution"),
        ("ENV A=${HOME%/*}", "unsupported substitution"),
        ("ENV A='unterminated", "quotation"),
        ('WORKDIR "/srv', "quotation"),
    ],
)
def test_bad_substitutions_are_refused_when_parsed(text: str, match: str) -> None:
    with pytest.raises(InvalidChangeError, match=match):
        parse_change(text)


def test_checks_that_depend_on_variables_wait_for_the_environment() -> None:
    change = parse_change("EXPOSE $PORT")  # fine until the environment says what PORT is
    with pytest.raises(InvalidChangeError, match="invalid port ''"):
        apply_changes({}, [change])
    with pytest.raises(InvalidChangeError, match="invalid port 'http'"):
        apply_changes({"Env": ["PORT=http"]}, [change])
    assert apply_changes({"Env": ["PORT=8080"]}, [change])["ExposedPorts"] == {"8080/tcp": {}}
    with pytest.raises(InvalidChangeError, match="key is empty"):
        apply_changes({}, [parse_change("LABEL $NOTHING=x")])


def test_change_value_takes_an_environment() -> None:
    change = parse_change("WORKDIR ${BASE:-/srv}/app")
    assert change.value() == "/srv/app"
    assert change.value({"BASE": "/opt"}) == "/opt/app"
    assert (change.instruction, change.argument) == ("WORKDIR", "${BASE:-/srv}/app")


def test_module_doctests() -> None:
    from lighter.build import changes

    result = doctest.testmod(changes)
    assert result.attempted >= 2 and result.failed == 0
