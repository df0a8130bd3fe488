"""`mw runs list/show/compare` through a team server answer what they answer locally."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import modelward as mw
from modelward.store.workspace import open_workspace
from tests.helpers import Result, mw_in_process
from tests.server.support import READER, WRITER, TeamServer


@pytest.fixture
def team(home: Path) -> TeamServer:
    return TeamServer.start(open_workspace())


Remote = Callable[..., Result]


@pytest.fixture
def remote(team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Remote:
    """`mw ARGS` run as a client of the team server would (as a reader by default)."""
    client_home = tmp_path / "client"

    def run(*args: str, role: str = READER) -> Result:
        team.connect(monkeypatch, client_home, role)  # each command is a fresh process
        return mw_in_process(*args, home=client_home)

    return run


def log_runs(team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    team.connect(monkeypatch, tmp_path / "logger", WRITER)
    ids = []
    for name, f1, optimizer in [("a", 0.7, "adam"), ("b", 0.9, "sgd"), ("c", 0.8, "adam")]:
        with mw.start_run(experiment="churn", name=name) as run:
            run.log_params({"optimizer": optimizer})
            run.log_metric("f1", f1)
            for step in range(3):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
        ids.append(run.id)
    return ids


def test_runs_commands_through_the_server_print_what_they_print_locally(
    team: TeamServer,
    remote: Remote,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    home: Path,
) -> None:
    ids = log_runs(team, monkeypatch, tmp_path)
    commands = [
        ("runs", "list", "--json"),
        (
            "runs",
            "list",
            "--filter",
            "params.optimizer = 'adam'",
            "--order-by",
            "-metrics.f1",
            "--json",
        ),
        ("runs", "list", "--experiment", "churn", "--limit", "1", "--json"),
        ("runs", "show", ids[1][:8], "--json"),
        ("runs", "compare", ids[0], ids[2], "--json"),
        ("runs", "show", ids[1][:8]),
        ("runs", "list"),
    ]
    over_server = [remote(*command) for command in commands]
    for command, result in zip(commands, over_server, strict=True):
        assert result.code == 0, (command, result.stderr)
    listed = over_server[1].json()
    assert [run["name"] for run in listed] == ["c", "a"]
    assert over_server[3].json()["user"] == WRITER  # the token's name, not the login

    monkeypatch.delenv("MODELWARD_URI")
    monkeypatch.delenv("MODELWARD_TOKEN")
    for command, result in zip(commands, over_server, strict=True):
        local = mw_in_process(*command, home=home)
        assert local.code == 0, local.stderr
        assert local.stdout == result.stdout, command


def test_bad_input_through_the_server_is_the_same_one_line_error(remote: Remote) -> None:
    for args, fragment in [
        (("runs", "show", "f00d"), "unknown run 'f00d'"),
        (("runs", "list", "--filter", "metrics.f1 >"), "cannot parse filter"),
        (("runs", "list", "--experiment", "nope"), "unknown experiment 'nope'"),
        (("runs", "list", "--order-by", "-bogus"), "unknown run attribute 'bogus'"),
    ]:
        result = remote(*args)
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_reader_cannot_start_a_run(
    team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from modelward.errors import Forbidden

    team.connect(monkeypatch, tmp_path / "reader", READER)
    with pytest.raises(Forbidden, match="reader"):
        mw.start_run(experiment="nope")
