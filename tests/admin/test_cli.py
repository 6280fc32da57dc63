"""The operator CLI: every command, JSON on stdout, exit 2 with one line for bad input."""
import json

import pytest

from chalicelib.admin.cli import main
from chalicelib.store import accounts


@pytest.fixture
def cli(aws, capsys):
    """Run a CLI command; returns (exit code, parsed stdout or None, stderr)."""
    def run(*args: str):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err
    return run


def test_accounts_teams_and_keys_round_trip(cli):
    code, org, _ = cli("create-org", "Dunder Mifflin")
    assert code == 0 and org == {"organisation_id": 1, "name": "Dunder Mifflin",
                                 "invoice_prefix": "DMI"}
    code, user, _ = cli("create-user", "pam@example.com", "--org", "1", "--plan", "free")
    assert user == {"user_id": 1, "email": "pam@example.com", "plan": "free", "organisation_id": 1}
    assert cli("set-plan", "1", "pro")[1]["plan"] == "pro"
    code, team, _ = cli("create-team", "1", "Sales")
    assert team == {"team_id": 1, "name": "Sales", "organisation_id": 1}
    code, key, _ = cli("create-key", "1", "--name", "Zapier", "--scope", "write")
    assert code == 0 and key["token"].startswith(f"tk_live_{key['key_id']}_")
    assert cli("add-member", "1", "1")[1]["team_ids"] == [1]
    assert accounts.load_key(key["key_id"]).team_ids == {1}
    assert cli("remove-member", "1", "1")[1]["team_ids"] == []
    assert accounts.load_key(key["key_id"]).team_ids is None
    code, listed, _ = cli("list-keys", "1")
    assert [k["key_id"] for k in listed["keys"]] == [key["key_id"]]
    assert "token" not in listed["keys"][0] and "secret_hash" not in listed["keys"][0]
    code, revoked, _ = cli("revoke-key", key["key_id"])
    assert revoked["revoked"] is True
    assert cli("bootstrap")[0] == 0


def test_invoice_prefix_option(cli):
    assert cli("create-org", "Vance Refrigeration", "--invoice-prefix", "vr")[1][
        "invoice_prefix"] == "VR"


@pytest.mark.parametrize("args", [
    ("create-user", "a@example.com", "--org", "99"),
    ("set-plan", "99", "pro"),
    ("set-plan", "abc", "pro"),
    ("set-plan", "1", "gold"),
    ("create-team", "99", "Sales"),
    ("add-member", "99", "1"),
    ("create-key", "99", "--name", "x", "--scope", "write"),
    ("create-key", "1", "--name", "x", "--scope", "admin"),
    ("list-keys", "99"),
    ("revoke-key", "nope1234"),
    ("no-such-command",),
    (),
])
def test_bad_arguments_and_unknown_ids_exit_2_with_one_line(cli, args):
    cli("create-org", "Acme")
    cli("create-user", "a@example.com", "--org", "1")
    code, out, err = cli(*args)
    assert code == 2
    assert out is None
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")


def test_add_member_across_organisations_is_refused_and_writes_nothing(cli):
    cli("create-org", "Acme")
    cli("create-org", "Globex")
    cli("create-user", "a@example.com", "--org", "2")
    cli("create-team", "1", "Sales")
    code, _, err = cli("add-member", "1", "1")
    assert code == 2
    assert accounts.team_ids_of(1) == set()
