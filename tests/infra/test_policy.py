"""Each function's role is what that function calls: every recorded call allowed, nothing unused.

Every route is exercised through a local gateway that runs the authorizer (its calls are
the authorizer function's), the changes are fanned out by the fan-out handler through
the local stand-in for the stream trigger, and the queued webhooks are delivered through
``poll_once(deliver_webhooks)``, while a botocore hook on the shared DynamoDB and SQS
clients records each call with the function making it. Fixtures create the tables,
queues and the account before recording starts: CreateTable, CreateQueue and the
operator's writes are not function calls and need no place in any role.

Some permissions are not our code's calls and are checked against the template's
triggers instead: what Lambda's event source mappings do with the function's role (an
SQS trigger's ReceiveMessage, DeleteMessage, GetQueueAttributes on its queue; a stream
trigger's reads of its streams and its on-failure sends), the runtime's log writes and
X-Ray's segments.
"""
from __future__ import annotations

import fnmatch
import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from chalicelib import aws as shared
from chalicelib.api.routing import GENERATED_PREFIX
from chalicelib.config import settings
from chalicelib.deploy import permissions, template
from chalicelib.domain.schemas import WEBHOOK_EVENTS
from chalicelib.local import poller
from chalicelib.local.gateway import LocalGateway
from chalicelib.local.stream_poller import StreamPoller
from chalicelib.services import accounts
from chalicelib.store.tables import MODELS
from tests.conftest import ApiClient
from tests.infra.conftest import ACCOUNT, PARTITION, REGION, STAGE

API = "/api/v1"
# IAM authorises these operations under another action's name.
SQS_ACTION = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
TRANSACT_WRITE_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                         "ConditionCheck": "ConditionCheckItem"}
# Who makes the calls recorded in each phase (Chalice's names for the functions).
PHASES = {"authorizer": "api_key_authorizer", "request": "api_handler",
          "fan-out": "fan_out_events", "delivery": "deliver_webhooks"}
# Statements for what is not our code's call (checked by the tests at the end).
NOT_CODE = {"QueueEventSource", "StreamEventSource", "StreamList", "StreamOnFailure", "Logs",
            "Tracing"}
# Actions IAM authorises on no resource type: their statements can only name "*".
UNSCOPED = {"Tracing": "X-Ray", "StreamList": "dynamodb:ListStreams"}


# --- recording --------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict = field(hash=False, compare=False)
    phase: str = "request"


class CallRecorder:
    """Records each API call of the shared clients (before its parameters are serialised)."""

    def __init__(self):
        self.calls: list[Call] = []
        self.phase = "request"
        self.paused = False

    def _record(self, params, model, **_):
        if not self.paused:
            self.calls.append(Call(model.service_model.service_name, model.name, dict(params),
                                   self.phase))

    @contextmanager
    def recording(self):
        clients = [shared.client("dynamodb"), shared.client("sqs")]
        for client in clients:
            client.meta.events.register("before-parameter-build", self._record,
                                        unique_id="infra-recorder")
        try:
            yield self
        finally:
            for client in clients:
                client.meta.events.unregister("before-parameter-build",
                                              unique_id="infra-recorder")

    @contextmanager
    def in_phase(self, phase: str, *, paused: bool = False):
        previous = self.phase, self.paused
        self.phase, self.paused = phase, paused
        try:
            yield
        finally:
            self.phase, self.paused = previous

    def operator(self):
        """Calls an operator makes mid-scenario (e.g. assigning a team) are not recorded."""
        return self.in_phase(self.phase, paused=True)

    def of(self, function: str) -> list[Call]:
        return [c for c in self.calls if PHASES[c.phase] == function]


class RecordingGateway(LocalGateway):
    """The local gateway; the authorizer's calls are recorded as the authorizer function's."""

    def __init__(self, app, recorder: CallRecorder):
        super().__init__(app)
        self.recorder = recorder

    def _authorize(self, *args, **kwargs):
        with self.recorder.in_phase("authorizer", paused=self.recorder.paused):
            return super()._authorize(*args, **kwargs)


@contextmanager
def failing(operation: str, table: str):
    """DynamoDB answers ``operation`` on ``table`` with a 500 instead of running it (the call
    is recorded)."""
    name = settings().table_name(table)

    def answer(model, params, **_):
        if model.name != operation or f'"{name}"' not in str(params.get("body")):
            return None
        from types import SimpleNamespace
        return (SimpleNamespace(status_code=500, headers={}),
                {"Error": {"Code": "InternalServerError", "Message": "injected"},
                 "ResponseMetadata": {"HTTPStatusCode": 500}})

    events = shared.client("dynamodb").meta.events
    events.register_last("before-call", answer, unique_id="infra-failing")
    try:
        yield
    finally:
        events.unregister("before-call", unique_id="infra-failing")


def stage_arn(kind: str, local_name: str, index: str | None = None) -> str:
    """The prod-stage ARN of a resource the test touched under its local-stage name."""
    local = settings()
    prod = template.stage_settings(STAGE)
    if kind == "table":
        short = local_name.removeprefix(local.table_prefix + "-")
        arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{prod.table_name(short)}"
        return arn + (f"/index/{index}" if index else "")
    assert local_name == local.webhook_queue_name, local_name
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{prod.webhook_queue_name}"


def required_permissions(call: Call) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS checks for one call."""
    params = call.params
    if call.service == "sqs":
        queue_name = params["QueueUrl"].rstrip("/").rsplit("/", 1)[1]
        return [("sqs:" + SQS_ACTION.get(call.operation, call.operation),
                 stage_arn("queue", queue_name))]
    assert call.service == "dynamodb"
    if call.operation == "TransactWriteItems":
        return [("dynamodb:" + TRANSACT_WRITE_ACTION[kind], stage_arn("table", body["TableName"]))
                for item in params["TransactItems"] for kind, body in item.items()]
    if call.operation == "TransactGetItems":
        return [("dynamodb:GetItem", stage_arn("table", item["Get"]["TableName"]))
                for item in params["TransactItems"]]
    if call.operation in ("BatchGetItem", "BatchWriteItem"):
        return [("dynamodb:" + call.operation, stage_arn("table", table))
                for table in params["RequestItems"]]
    return [("dynamodb:" + call.operation,
             stage_arn("table", params["TableName"], params.get("IndexName")))]


# --- the scenario -----------------------------------------------------------------------

class Routes:
    """Calls routes through the gateway, insisting on success, and notes which were called."""

    def __init__(self, api: ApiClient):
        self.api = api
        self.called: set[tuple[str, str]] = set()

    def __call__(self, method: str, route: str, path: str | None = None, body=None, *,
                 status: int = 200, headers: dict | None = None):
        response = self.api.request(method, path or route, body, headers=headers)
        assert response.status_code == status, (method, path or route, response.text[:500])
        self.called.add((method, API + route.rstrip("/")))
        if (response.header("Content-Type") or "").startswith("application/json"):
            return response.json()
        return response.text


def declared_routes() -> set[tuple[str, str]]:
    from app import app
    return {(method, path) for path, entries in app.routes.items()
            for method, entry in entries.items() if not entry.view_name.startswith(GENERATED_PREFIX)}


@pytest.fixture
def recorded(gateway, make_account, receiver, monkeypatch) -> CallRecorder:
    """Every route, the fan-out of their changes and one delivery of each queued webhook,
    with the AWS calls each function made."""
    from app import app, deliver_webhooks, fan_out_events

    monkeypatch.setattr(poller, "WAIT_SECONDS", 0)
    account = make_account()
    team = accounts.create_team(account.organisation_id, "Sales")
    accounts.add_member(int(team.id), account.user_id)  # the key's snapshot now has a team
    recorder = CallRecorder()
    call = Routes(ApiClient(RecordingGateway(app, recorder), account.token))
    streams = StreamPoller(lambda event, context: fan_out(event, context))

    def fan_out(event, context):
        with recorder.in_phase("fan-out"):
            return fan_out_events(event, context)

    with recorder.recording():
        with recorder.operator():
            streams.drain()  # the account's own changes are not the scenario's
        call("GET", "/me/")
        subscriptions = [call("POST", "/webhooks/", status=201,
                              body={"event": event, "target_url": receiver.url("/hook")})["id"]
                         for event in WEBHOOK_EVENTS]
        call("GET", "/webhooks/")
        call("GET", "/webhooks/{subscription_id}/", f"/webhooks/{subscriptions[0]}/")

        client = call("POST", "/clients/", body={"name": "Acme", "hourly_rate": "100.00"},
                      status=201)
        call("GET", "/clients/")
        call("GET", "/clients/{client_id}/", f"/clients/{client['id']}/")
        call("PATCH", "/clients/{client_id}/", f"/clients/{client['id']}/",
             {"company": "Acme Inc."})

        new_project = {"name": "Website", "client_id": client["id"]}
        project = call("POST", "/projects/", body=new_project, status=201,
                       headers={"Idempotency-Key": "infra-project-1"})
        replayed = call("POST", "/projects/", body=new_project, status=201,
                        headers={"Idempotency-Key": "infra-project-1"})
        assert replayed == project
        with failing("PutItem", "projects"):  # a 5xx frees its Idempotency-Key for a retry
            call("POST", "/projects/", body={"name": "Lost"}, status=500,
                 headers={"Idempotency-Key": "infra-project-2"})
        # an answer too large for one item is kept in parts, and read back from them
        huge = json.dumps({"name": "Huge", "currency": "".join(
            chr(0x4E00 + (n * 7919) % 20000) for n in range(330_000))},
            ensure_ascii=False).encode()  # just under 1 MiB of UTF-8
        for _ in range(2):
            answer = call.api.request("POST", "/projects/", body=huge, headers={
                "Content-Type": "application/json", "Idempotency-Key": "infra-project-3"})
            assert answer.status_code == 400, answer.text[:200]
        call("GET", "/projects/")
        call("GET", "/projects/{project_id}/", f"/projects/{project['id']}/")
        call("PATCH", "/projects/{project_id}/", f"/projects/{project['id']}/",
             {"name": "Website relaunch"})
        with recorder.operator():
            accounts.assign_project(project["id"], int(team.id))

        logged = call("POST", "/sessions/", body={
            "project_id": project["id"], "start_time": "2026-06-02T09:00:00Z",
            "end_time": "2026-06-02T12:00:00Z"}, status=201)
        running = call("POST", "/sessions/", body={"project_id": project["id"]}, status=201)
        call("POST", "/sessions/{session_id}/close/", f"/sessions/{running['id']}/close/")
        call("GET", "/sessions/")
        call("GET", "/sessions/", "/sessions/?active=true")
        call("GET", "/sessions/", f"/sessions/?active=false&project_id={project['id']}")
        call("GET", "/sessions/", f"/sessions/?active=true&project_id={project['id']}")
        call("GET", "/sessions/{session_id}/", f"/sessions/{logged['id']}/")
        call("PATCH", "/sessions/{session_id}/", f"/sessions/{logged['id']}/",
             {"description": "Design review"})
        call("DELETE", "/sessions/{session_id}/", f"/sessions/{running['id']}/", status=204)

        invoice = call("POST", "/invoices/", body={"client_id": client["id"],
                                                   "period_start": "2026-06-01",
                                                   "period_end": "2026-06-30"}, status=201)
        call("GET", "/invoices/")
        call("GET", "/invoices/", "/invoices/?status=draft")
        call("GET", "/invoices/", f"/invoices/?client_id={client['id']}")
        call("GET", "/invoices/{invoice_id}/", f"/invoices/{invoice['id']}/")
        call("GET", "/invoices/{invoice_id}/line_items/", f"/invoices/{invoice['id']}/line_items/")
        call("POST", "/invoices/{invoice_id}/send/", f"/invoices/{invoice['id']}/send/")
        call("POST", "/invoices/{invoice_id}/mark_paid/", f"/invoices/{invoice['id']}/mark_paid/")

        # The stream trigger's own reads are the mapping's, not the function's.
        with recorder.in_phase("fan-out", paused=True):
            fanned_out = streams.drain()
        with recorder.in_phase("delivery"):
            handled = 0
            while (batch := poller.poll_once(deliver_webhooks)) and handled < 100:
                handled += batch

        # the webhook tools: the log, an attempt, its redelivery, a ping, a rotation
        hook = subscriptions[0]
        attempts = call("GET", "/webhooks/{subscription_id}/deliveries/",
                        f"/webhooks/{hook}/deliveries/")
        call("GET", "/webhooks/{subscription_id}/deliveries/{attempt_id}/",
             f"/webhooks/{hook}/deliveries/{attempts[0]['id']}/")
        call("POST", "/webhooks/{subscription_id}/deliveries/{attempt_id}/redeliver/",
             f"/webhooks/{hook}/deliveries/{attempts[0]['id']}/redeliver/", status=202)
        call("POST", "/webhooks/{subscription_id}/ping/", f"/webhooks/{hook}/ping/", status=202)
        call("POST", "/webhooks/{subscription_id}/rotate_secret/",
             f"/webhooks/{hook}/rotate_secret/", {"overlap_seconds": 60})
        with recorder.in_phase("delivery"):
            while (batch := poller.poll_once(deliver_webhooks)) and handled < 100:
                handled += batch

        call("DELETE", "/webhooks/{subscription_id}/", f"/webhooks/{subscriptions[-1]}/",
             status=204)

        # the public schema and its explorer
        from chalicelib.schema import docs_page
        call("GET", "/openapi.json")
        call("GET", "/docs/")
        call("GET", "/docs/{asset}", f"/docs/{min(docs_page.asset_names())}")
    assert fanned_out and handled >= len(WEBHOOK_EVENTS) and len(receiver.at("/hook")) == handled
    assert call.called == declared_routes(), "exercise every route the app declares"
    return recorder


def policy_statements(packaged, function: str) -> dict[str, dict]:
    """A function's role's statements by Sid, with their resources resolved to ARNs."""
    (policy,) = packaged.role_of(function)["Properties"]["Policies"]
    statements = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in statement["Action"])
        assert statement["Sid"] not in statements
        resources = {packaged.arn(resource) for resource in statement["Resource"]}
        statements[statement["Sid"]] = {"actions": set(statement["Action"]),
                                        "resources": resources}
    return statements


def code_grants(statements: dict[str, dict]) -> set[tuple[str, str]]:
    """The (action, resource) pairs a role allows our code to call."""
    return {(action, arn) for sid, s in statements.items() if sid not in NOT_CODE
            for action in s["actions"] for arn in s["resources"]}


def allows(statements: dict, action: str, arn: str) -> bool:
    return any(action in s["actions"] and any(fnmatch.fnmatchcase(arn, r) for r in s["resources"])
               for s in statements.values())


def logical_ids(packaged) -> dict[str, str]:
    """Chalice's function names -> the template's logical ids."""
    return {f.name: f.logical_id for f in template.chalice_app(STAGE).functions}


def code_calls(recorded: CallRecorder, function: str) -> list[Call]:
    # poll_once stands in for the SQS trigger: its receive and delete are the mapping's
    return [c for c in recorded.of(function)
            if not (function == "deliver_webhooks" and c.service == "sqs")]


# --- the checks -------------------------------------------------------------------------

def test_every_function_is_exercised_and_has_an_entry(packaged, recorded):
    functions = logical_ids(packaged)
    assert set(functions) == set(PHASES.values()) == set(permissions.FUNCTIONS)
    assert {PHASES[c.phase] for c in recorded.calls} == set(functions)


@pytest.mark.parametrize("function", sorted(PHASES.values()))
def test_each_role_allows_exactly_the_calls_its_function_makes(packaged, recorded, function):
    statements = policy_statements(packaged, logical_ids(packaged)[function])
    needed = {pair for call in code_calls(recorded, function)
              for pair in required_permissions(call)}
    denied = {pair for pair in needed if not allows(statements, *pair)}
    assert denied == set(), f"{function} would be denied"
    assert code_grants(statements) == needed, f"{function}'s role allows more than it calls"


def test_the_authorizer_reads_api_keys_and_nothing_else(packaged, recorded):
    statements = policy_statements(packaged, "ApiKeyAuthorizer")
    assert code_grants(statements) == {
        ("dynamodb:GetItem", stage_arn("table", settings().table_name("api_keys")))}


def test_the_delivery_function_writes_only_its_outcome_and_its_log(packaged, recorded):
    statements = policy_statements(packaged, "DeliverWebhooks")
    writes = {(a, arn) for a, arn in code_grants(statements)
              if a not in ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")}
    assert writes == {
        ("dynamodb:UpdateItem", stage_arn("table", settings().table_name("webhooks"))),
        ("dynamodb:PutItem", stage_arn("table", settings().table_name("deliveries")))}


def test_the_api_cannot_touch_the_operators_tables(packaged, recorded):
    statements = policy_statements(packaged, "APIHandler")
    for table in ("users", "teams", "memberships", "api_keys"):
        arn = stage_arn("table", settings().table_name(table))
        assert not [pair for pair in code_grants(statements) if pair[1].startswith(arn)], table


def test_no_function_scans(recorded):
    assert {c.operation for c in recorded.calls if c.service == "dynamodb"} & {"Scan"} == set()


def test_resources_are_only_this_stacks(packaged):
    tables = {packaged.arn({"Fn::GetAtt": [name, "Arn"]})
              for name in packaged.of_type("AWS::DynamoDB::Table")}
    queues = {packaged.arn({"Fn::GetAtt": [name, "Arn"]})
              for name in packaged.of_type("AWS::SQS::Queue")}
    for function in packaged.functions():
        for sid, statement in policy_statements(packaged, function).items():
            for arn in statement["resources"]:
                if sid in UNSCOPED:
                    assert arn == "*", (function, sid)
                elif arn.startswith("arn:aws:dynamodb:"):
                    assert arn.split("/index/")[0].split("/stream/")[0] in tables, (function, arn)
                elif arn.startswith("arn:aws:sqs:"):
                    assert arn in queues, (function, arn)
                else:
                    assert arn.startswith("arn:aws:logs:"), (function, arn)


def test_triggers_may_read_their_sources_and_runtimes_write_their_logs(packaged, recorded):
    """What Lambda does with the role: its event sources, the function's logs, traces."""
    for name, function in packaged.functions().items():
        statements = policy_statements(packaged, name)
        events = [e for e in (function["Properties"].get("Events") or {}).values()]
        sqs = {packaged.arn(e["Properties"]["Queue"]) for e in events if e["Type"] == "SQS"}
        streams = {packaged.arn(e["Properties"]["Stream"]) for e in events
                   if e["Type"] == "DynamoDB"}
        failures = {packaged.arn(e["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
                    for e in events if e["Type"] == "DynamoDB"}
        expected = {"Logs", "Tracing"} | ({"QueueEventSource"} if sqs else set()) | (
            {"StreamEventSource", "StreamList", "StreamOnFailure"} if streams else set())
        assert expected == set(statements) & NOT_CODE, name
        if sqs:
            assert statements["QueueEventSource"] == {
                "actions": set(permissions.SQS_EVENT_SOURCE_ACTIONS), "resources": sqs}
        if streams:
            assert statements["StreamEventSource"] == {
                "actions": set(permissions.STREAM_EVENT_SOURCE_ACTIONS), "resources": streams}
            assert statements["StreamList"] == {"actions": {"dynamodb:ListStreams"},
                                                "resources": {"*"}}
            assert statements["StreamOnFailure"] == {"actions": {"sqs:SendMessage"},
                                                     "resources": failures}
        log_group = packaged.arn({"Fn::GetAtt": [function["Properties"]["LoggingConfig"][
            "LogGroup"]["Ref"], "Arn"]})
        assert statements["Logs"] == {"actions": set(permissions.LOG_ACTIONS),
                                      "resources": {log_group}}
    stand_in = {action for call in recorded.of("deliver_webhooks") if call.service == "sqs"
                for action, _ in required_permissions(call)}
    assert stand_in == {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    assert stand_in | {"sqs:GetQueueAttributes"} == set(permissions.SQS_EVENT_SOURCE_ACTIONS)


def test_the_streamed_tables_are_the_ones_the_fan_out_reads():
    streamed = {m.Meta.table for m in MODELS if template.stream_view_type(m)}
    assert set(permissions.FUNCTIONS["fan_out_events"].streams) == streamed
