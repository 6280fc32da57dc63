"""The operator CLI: accounts, teams, keys and bootstrap; one JSON object per command (SPEC section 8).

Bad arguments and unknown ids print one line on stderr and exit 2. Every command
checks what it refers to before it writes, so nothing is half-written. When AWS itself
fails (the endpoint is unreachable, the tables are missing, there are no credentials)
the command prints one line naming the cause and exits 1, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Sequence

from chalicelib import errors
from chalicelib.auth import tokens
from chalicelib.config import STAGES
from chalicelib.domain import fields
from chalicelib.domain.accounts import PLANS, PRO_PLAN, SCOPES
from chalicelib.domain.schemas import NAME_LENGTH

EXIT_USAGE = 2
EXIT_INFRASTRUCTURE = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise SystemExit(_fail(f"{self.prog}: {message}"))


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    # One line whatever the message holds (an argument's newline, AWS's wrapped text).
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return status


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or while handling (PynamoDB wraps botocore)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    return [c for c in seen if isinstance(c, BaseException)]


NO_CREDENTIALS = ("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                  "AWS_PROFILE); the local stage accepts any values")


def infrastructure_problem(exc: BaseException) -> str | None:
    """One line naming what is wrong with AWS when ``exc`` came from it, else None."""
    from botocore import exceptions as aws_errors

    from chalicelib.config import ConfigError, settings
    for cause in _causes(exc):
        if isinstance(cause, ConfigError):
            return str(cause)
        if isinstance(cause, (aws_errors.NoCredentialsError, aws_errors.PartialCredentialsError)):
            return NO_CREDENTIALS
        if isinstance(cause, aws_errors.NoRegionError):
            return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)"
        if isinstance(cause, (aws_errors.EndpointConnectionError,
                              aws_errors.ConnectTimeoutError, aws_errors.ReadTimeoutError)):
            where = settings().endpoint_url or f"AWS in {settings().region}"
            hint = " (is `make run` running?)" if settings().stage == "local" else ""
            return f"cannot reach {where}{hint}"
        if isinstance(cause, aws_errors.ClientError):
            error = cause.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            if code == "ResourceNotFoundException" or code.endswith("NonExistentQueue"):
                return (f"the {settings().stage} stage's tables or queues do not exist "
                        f"({message or code}); run `bootstrap` for the local stage, or deploy "
                        "the stack")
            return f"AWS refused the request: {code}: {message}".rstrip(": ")
        if isinstance(cause, aws_errors.BotoCoreError):
            return f"AWS error: {cause}"
    return None


def _name(text: str) -> str:
    """A name as the API takes one (SPEC section 4): trimmed, 1-255 characters."""
    try:
        return fields.Char(max_length=NAME_LENGTH).clean(text)
    except fields.Invalid as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _project_id(text: str) -> str:
    try:
        return fields.UUID().clean(text)
    except fields.Invalid as exc:
        raise argparse.ArgumentTypeError(f"{exc.message[:-1]}: {text!r}") from None


def _key_id(text: str) -> str:
    """What a token's id can be (auth.tokens): anything else names no key."""
    if len(text) != tokens.ID_LENGTH or not set(text) <= set(tokens.ALPHABET):
        raise argparse.ArgumentTypeError(
            f"not a key id ({tokens.ID_LENGTH} lower-case letters or digits): {text!r}")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive id: {text!r}")
    return value


def _commands() -> dict[str, Callable[[argparse.Namespace], dict[str, Any]]]:
    # Imported here: --stage must be applied before settings are read.
    from chalicelib.services import accounts, bootstrap

    def org(o) -> dict:
        return {"organisation_id": int(o.id), "name": o.name, "invoice_prefix": o.invoice_prefix}

    def user(u) -> dict:
        return {"user_id": int(u.id), "email": u.email, "plan": u.plan,
                "organisation_id": None if u.organisation_id is None else int(u.organisation_id)}

    def key_created(a) -> dict:
        key, token = accounts.create_key(a.user_id, a.name, a.scope)
        return {**key.describe(), "token": token}

    def assign_project(a) -> dict:
        project = accounts.assign_project(a.project_id, None if a.no_team else a.team)
        return {"project_id": project.id,
                "team_id": None if project.team_id is None else int(project.team_id)}

    return {
        "create-org": lambda a: org(accounts.create_organisation(a.name, a.invoice_prefix)),
        "create-user": lambda a: user(accounts.create_user(a.email, a.org, a.plan)),
        "set-plan": lambda a: user(accounts.set_plan(a.user_id, a.plan)),
        "create-team": lambda a: (lambda t: {"team_id": int(t.id), "name": t.name,
                                             "organisation_id": int(t.organisation_id)})(
            accounts.create_team(a.org_id, a.name)),
        "add-member": lambda a: {"team_id": a.team_id, "user_id": a.user_id,
                                 "team_ids": sorted(accounts.add_member(a.team_id, a.user_id))},
        "remove-member": lambda a: {"team_id": a.team_id, "user_id": a.user_id,
                                    "team_ids": sorted(accounts.remove_member(a.team_id, a.user_id))},
        "assign-project": assign_project,
        "create-key": key_created,
        "list-keys": lambda a: {"user_id": a.user_id,
                                "keys": [k.describe() for k in accounts.list_keys(a.user_id)]},
        "revoke-key": lambda a: accounts.revoke_key(a.key_id).describe(),
        "bootstrap": lambda a: bootstrap.bootstrap(),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m chalicelib.admin", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("create-org")
    p.add_argument("name", type=_name)
    p.add_argument("--invoice-prefix")
    p = sub.add_parser("create-user")
    p.add_argument("email")
    p.add_argument("--org", type=_positive)
    p.add_argument("--plan", choices=PLANS, default=PRO_PLAN)
    p = sub.add_parser("set-plan")
    p.add_argument("user_id", type=_positive)
    p.add_argument("plan", choices=PLANS)
    p = sub.add_parser("create-team")
    p.add_argument("org_id", type=_positive)
    p.add_argument("name", type=_name)
    for name in ("add-member", "remove-member"):
        p = sub.add_parser(name)
        p.add_argument("team_id", type=_positive)
        p.add_argument("user_id", type=_positive)
    p = sub.add_parser("assign-project")
    p.add_argument("project_id", type=_project_id)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--team", type=_positive)
    target.add_argument("--no-team", action="store_true")
    p = sub.add_parser("create-key")
    p.add_argument("user_id", type=_positive)
    p.add_argument("--name", type=_name, required=True)
    p.add_argument("--scope", choices=SCOPES, required=True)
    p = sub.add_parser("list-keys")
    p.add_argument("user_id", type=_positive)
    p = sub.add_parser("revoke-key")
    p.add_argument("key_id", type=_key_id)
    sub.add_parser("bootstrap")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.stage:
        from chalicelib import aws, config
        os.environ["TEMPORALIST_STAGE"] = args.stage
        config.reset_settings()
        aws.reset_clients()
    try:
        result = _commands()[args.command](args)
    except errors.ApiError as exc:
        return _fail(exc.detail)
    except Exception as exc:
        problem = infrastructure_problem(exc)
        if problem is None:
            raise
        return _fail(problem, EXIT_INFRASTRUCTURE)
    print(json.dumps(result))
    return 0
