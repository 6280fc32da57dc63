"""The operator CLI: every command, JSON on stdout, exit 2 with one line for bad input,
exit 1 with one line when AWS fails."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from chalicelib.admin.cli import main
from chalicelib.store import accounts
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


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
    ("revoke-key", ""),  # not a key id: refused before AWS sees it (it would answer 400)
    ("revoke-key", "NOPE1234"),
    ("revoke-key", "nope12345"),
    ("assign-project", "", "--no-team"),
    ("assign-project", "a\nb", "--no-team"),  # one line even so
    ("assign-project", "not-a-uuid", "--team", "1"),
    ("assign-project", "6f1c3a52-8d3e-4f7a-9d2b-1a2b3c4d5e6f", "--no-team"),  # no such project
    ("create-org", ""),
    ("create-org", " \t "),
    ("create-org", "x" * 256),
    ("create-org", "x" * 500_000),  # over DynamoDB's 400 KB item: never sent
    ("create-org", "a\x00b"),
    ("create-team", "1", "x" * 256),
    ("create-key", "1", "--name", "x" * 256, "--scope", "write"),
    ("create-key", "1", "--name", "  ", "--scope", "write"),
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


def test_names_of_255_characters_of_any_width_are_taken_trimmed(cli):
    name = "\U0001F600" * 255  # four bytes each in UTF-8
    code, org, _ = cli("create-org", f"  {name} ", "--invoice-prefix", "E")
    assert (code, org["name"]) == (0, name)
    assert cli("create-team", "1", name)[1]["name"] == name
    cli("create-user", "a@example.com", "--org", "1")
    code, key, _ = cli("create-key", "1", "--name", name, "--scope", "read")
    assert (code, key["name"]) == (0, name)


def test_a_project_id_is_taken_in_any_case(cli, account, api):
    project = api.post("/projects/", {"name": "Site"}).json()
    code, out, err = cli("assign-project", project["id"].upper(), "--no-team")
    assert (code, out) == (0, {"project_id": project["id"], "team_id": None}), err


def test_an_error_is_one_line_whatever_its_message_holds(capsys):
    from chalicelib.admin.cli import _fail
    assert _fail("Project a\nb\r\n  not found.") == 2
    assert capsys.readouterr().err == "error: Project a b not found.\n"


def test_add_member_across_organisations_is_refused_and_writes_nothing(cli):
    cli("create-org", "Acme")
    cli("create-org", "Globex")
    cli("create-user", "a@example.com", "--org", "2")
    cli("create-team", "1", "Sales")
    code, _, err = cli("add-member", "1", "1")
    assert code == 2
    assert accounts.team_ids_of(1) == set()


@pytest.mark.parametrize("prefix", ["", "   ", "ab-c", "ÄBC", "ELEVENCHARS"])
def test_an_empty_or_malformed_invoice_prefix_exits_2_and_creates_nothing(cli, prefix):
    code, out, err = cli("create-org", "Vance Refrigeration", "--invoice-prefix", prefix)
    assert (code, out) == (2, None)
    assert err == "error: Invoice prefix must be 1-10 letters or digits.\n"
    assert cli("create-org", "Acme")[1]["organisation_id"] == 1  # no id was used up


# --- infrastructure failures: one line naming the cause, exit 1 ----------------------------

def _run_cli(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("AWS_", "TEMPORALIST_"))}
    environment.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull})
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run([sys.executable, "-m", "chalicelib.admin", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=60)


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_an_unreachable_endpoint_is_one_line_and_exit_1():
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connections are refused
    line = _one_line(_run_cli("create-org", "Acme", AWS_ENDPOINT_URL=dead))
    assert line == f"error: cannot reach {dead} (is `make run` running?)"


def test_missing_credentials_are_one_line_and_exit_1():
    line = _one_line(_run_cli("list-keys", "1", AWS_ENDPOINT_URL="http://127.0.0.1:9",
                              AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None))
    assert line.startswith("error: no AWS credentials: set AWS_ACCESS_KEY_ID")


def test_missing_tables_are_one_line_and_exit_1(aws_endpoint, capsys):
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=10).raise_for_status()  # no bootstrap
    assert main(["create-org", "Acme"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: the local stage's tables or queues "
                                                    "do not exist")
    assert err.rstrip().endswith("run `bootstrap` for the local stage, or deploy the stack")


def test_a_stage_without_its_queue_url_is_one_line_and_exit_1():
    line = _one_line(_run_cli("--stage", "prod", "list-keys", "1"))
    assert line == "error: TEMPORALIST_WEBHOOK_QUEUE_URL is required outside the local stage"
