"""`mw token create | list | revoke`: on the server's own store, with --json."""

from __future__ import annotations

from pathlib import Path

from modelward.config import load_settings
from modelward.server.tokens import TokenRepository, hash_secret
from modelward.store.database import Database
from tests.helpers import mw_in_process

# a client's settings must not turn `mw token` into a request to some server
CLIENT_ENV = {"MODELWARD_URI": "http://127.0.0.1:9", "MODELWARD_TOKEN": "mw_elsewhere"}


def _repository(home: Path) -> TokenRepository:
    settings = load_settings({"MODELWARD_HOME": str(home)})
    return TokenRepository(Database(settings.db_url))


def test_create_list_revoke_with_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = mw_in_process(
        "token", "create", "ci", "--role", "writer", "--expires", "2h", "--json",
        home=home, env=CLIENT_ENV,
    )  # fmt: skip
    assert created.code == 0, created.stderr
    payload = created.json()
    secret = payload["token"]
    assert payload["name"] == "ci" and payload["role"] == "writer"
    assert payload["state"] == "active" and payload["expires_at"]
    tokens = _repository(home)
    assert tokens.authenticate(secret).role == "writer"  # the secret printed is the one stored
    assert [t.name for t in tokens.list()] == ["ci"]

    listed = mw_in_process("token", "list", "--json", home=home, env=CLIENT_ENV)
    assert listed.code == 0
    assert [t["name"] for t in listed.json()["tokens"]] == ["ci"]
    assert secret not in listed.stdout and hash_secret(secret) not in listed.stdout

    revoked = mw_in_process("token", "revoke", "ci", "--json", home=home, env=CLIENT_ENV)
    assert revoked.code == 0 and revoked.json()["state"] == "revoked"
    again = mw_in_process("token", "list", home=home)
    assert "ci" in again.stdout and "revoked" in again.stdout


def test_create_prints_the_secret_once_in_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = mw_in_process("token", "create", "alice", "--role", "reader", home=home)
    assert created.code == 0
    secret = created.stdout.strip().splitlines()[-1]
    assert _repository(home).authenticate(secret).name == "alice"
    assert created.stdout.count(secret) == 1
    assert secret not in mw_in_process("token", "list", home=home).stdout


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert mw_in_process("token", "create", "ci", "--role", "reader", home=home).code == 0
    for args, says in (
        (["create", "ci", "--role", "reader"], "exists"),
        (["create", "x", "--role", "root"], "--role"),
        (["create", "x", "--role", "reader", "--expires", "forever"], "expiry"),
        (["create", "[/red]", "--role", "reader"], "token name"),
        (["revoke", "nobody"], "no token named 'nobody'"),
    ):
        result = mw_in_process("token", *args, home=home)
        assert result.code == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert says in result.stderr, (args, result.stderr)
    assert [t.name for t in _repository(home).list()] == ["ci"]  # nothing half-made


def test_list_on_an_empty_store_says_so(tmp_path: Path) -> None:
    result = mw_in_process("token", "list", home=tmp_path / "home")
    assert (result.code, result.stdout.strip()) == (0, "no tokens")
    listed = mw_in_process("token", "list", "--json", home=tmp_path / "home")
    assert listed.json() == {"tokens": []}
