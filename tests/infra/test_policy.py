"""The role's policy is what the code calls: every recorded AWS call allowed, nothing unused.

Every route is exercised through the local gateway (authorizer included) and one webhook
delivery runs through ``poll_once(deliver_webhooks)``, while a botocore hook on the
shared DynamoDB and SQS clients records each call. Fixtures create the tables, queues
and the account before recording starts: CreateTable, CreateQueue and the operator's
writes are not request-path calls and need no place in the functions' role.

Two kinds of permission are not our code's calls, and are checked separately:
the SQS actions Lambda's event source mapping performs with the function's role
(ReceiveMessage, DeleteMessage, GetQueueAttributes: AWS requires them, on the queue
only; ``poll_once`` stands in for the mapping here, so its receive and delete are
recorded as that stand-in), and the runtime's log writes.
"""
from __future__ import annotations

import fnmatch
import http.server
import socketserver
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from chalicelib import aws as shared
from chalicelib.api.routing import GENERATED_PREFIX
from chalicelib.config import settings
from chalicelib.deploy import permissions, template
from chalicelib.domain.schemas import WEBHOOK_EVENTS
from chalicelib.local import poller
from chalicelib.store import accounts
from chalicelib.store import projects as project_store
from tests.conftest import ApiClient
from tests.infra.conftest import ACCOUNT, PARTITION, REGION, STAGE

API = "/api/v1"
# IAM authorises these operations under another action's name.
SQS_ACTION = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
TRANSACT_WRITE_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                         "ConditionCheck": "ConditionCheckItem"}


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
    def operator(self):
        """Calls an operator makes mid-scenario (e.g. assigning a team) are not recorded."""
        self.paused = True
        try:
            yield
        finally:
            self.paused = False


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


# --- a webhook receiver -----------------------------------------------------------------

class Receiver(http.server.ThreadingHTTPServer):
    """Answers every POST with 204 and counts them."""

    daemon_threads = True

    def __init__(self):
        self.received = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received += 1
                self.send_response(204)
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)

    def server_bind(self):  # HTTPServer's would look up this machine's FQDN
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 (the local stage allows http:// and loopback targets)."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
def recorded(gateway, make_account, receiver, monkeypatch):
    """Every route and one delivery of each queued webhook, with the AWS calls they made."""
    monkeypatch.setattr(poller, "WAIT_SECONDS", 0)
    account = make_account()
    team = accounts.create_team(account.organisation_id, "Sales")
    accounts.add_member(int(team.id), account.user_id)  # the key's snapshot now has a team
    call = Routes(ApiClient(gateway, account.token))
    recorder = CallRecorder()
    with recorder.recording():
        call("GET", "/me/")
        subscriptions = [call("POST", "/webhooks/", status=201,
                              body={"event": event, "target_url": receiver.url})["id"]
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
        call("GET", "/projects/")
        call("GET", "/projects/{project_id}/", f"/projects/{project['id']}/")
        call("PATCH", "/projects/{project_id}/", f"/projects/{project['id']}/",
             {"name": "Website relaunch"})
        with recorder.operator():
            project_store.assign_team(project["id"], int(team.id))

        logged = call("POST", "/sessions/", body={
            "project_id": project["id"], "start_time": "2026-06-02T09:00:00Z",
            "end_time": "2026-06-02T12:00:00Z"}, status=201)
        running = call("POST", "/sessions/", body={"project_id": project["id"]}, status=201)
        call("POST", "/sessions/{session_id}/close/", f"/sessions/{running['id']}/close/")
        call("GET", "/sessions/")
        call("GET", "/sessions/", "/sessions/?active=true")
        call("GET", "/sessions/", f"/sessions/?active=false&project_id={project['id']}")
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

        recorder.phase = "delivery"
        from app import deliver_webhooks
        handled = 0
        while (batch := poller.poll_once(deliver_webhooks)) and handled < 100:
            handled += batch

        recorder.phase = "request"
        call("DELETE", "/webhooks/{subscription_id}/", f"/webhooks/{subscriptions[-1]}/",
             status=204)

        # the public schema and its explorer
        from chalicelib.schema import docs_page
        call("GET", "/openapi.json")
        call("GET", "/docs/")
        call("GET", "/docs/{asset}", f"/docs/{min(docs_page.asset_names())}")
    assert handled >= len(WEBHOOK_EVENTS) and receiver.received == handled
    assert call.called == declared_routes(), "exercise every route the app declares"
    return recorder.calls


def policy_statements(packaged) -> dict[str, dict]:
    """The role's statements by Sid, with their resources resolved to ARNs."""
    (policy,) = packaged.resources[template.ROLE]["Properties"]["Policies"]
    statements = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in statement["Action"])
        resources = {packaged.arn(resource) for resource in statement["Resource"]}
        statements[statement["Sid"]] = {"actions": set(statement["Action"]),
                                        "resources": resources}
    return statements


def allows(statements: dict, action: str, arn: str) -> bool:
    return any(action in s["actions"] and any(fnmatch.fnmatchcase(arn, r) for r in s["resources"])
               for s in statements.values())


# --- the checks -------------------------------------------------------------------------

def test_every_recorded_call_is_allowed_on_its_resource(packaged, recorded):
    statements = policy_statements(packaged)
    denied = {(call.operation, action, arn) for call in recorded
              for action, arn in required_permissions(call) if not allows(statements, action, arn)}
    assert denied == set()


def test_policy_allows_exactly_the_actions_the_code_calls(packaged, recorded):
    code_calls = [c for c in recorded if not (c.phase == "delivery" and c.service == "sqs")]
    on_tables, on_indexes, on_queue = set(), set(), set()
    for call in code_calls:
        for action, arn in required_permissions(call):
            (on_indexes if "/index/" in arn else on_queue if action.startswith("sqs:")
             else on_tables).add(action)
    statements = policy_statements(packaged)
    assert statements["TableItems"]["actions"] == on_tables
    assert statements["IndexQueries"]["actions"] == on_indexes
    assert statements["WebhookFanOut"]["actions"] == on_queue
    assert permissions.CODE_ACTIONS == on_tables | on_indexes | on_queue


def test_no_request_path_scans(recorded):
    assert {c.operation for c in recorded if c.service == "dynamodb"} & {"Scan"} == set()


def test_resources_are_only_this_stacks_tables_indexes_and_queue(packaged):
    statements = policy_statements(packaged)
    tables = {packaged.arn({"Fn::GetAtt": [name, "Arn"]})
              for name in packaged.of_type("AWS::DynamoDB::Table")}
    indexes = {f"{packaged.arn({'Fn::GetAtt': [name, 'Arn']})}/index/{index['IndexName']}"
               for name, table in packaged.of_type("AWS::DynamoDB::Table").items()
               for index in table["Properties"].get("GlobalSecondaryIndexes", [])
               + table["Properties"].get("LocalSecondaryIndexes", [])}
    queue = packaged.arn({"Fn::GetAtt": [template.QUEUE, "Arn"]})
    logs = {packaged.arn({"Fn::GetAtt": [name, "Arn"]})
            for name in packaged.of_type("AWS::Logs::LogGroup")}
    assert statements["TableItems"]["resources"] == tables
    assert statements["IndexQueries"]["resources"] == indexes
    assert statements["WebhookFanOut"]["resources"] == {queue}
    assert statements["WebhookEventSource"]["resources"] == {queue}  # not the dead-letter queue
    assert statements["FunctionLogs"]["resources"] == logs
    assert set(statements) == {"TableItems", "IndexQueries", "WebhookFanOut",
                               "WebhookEventSource", "FunctionLogs"}


def test_event_source_permissions_are_those_lambda_needs(packaged, recorded):
    """The mapping's receive and delete (``poll_once`` does them locally), GetQueueAttributes."""
    statements = policy_statements(packaged)
    stand_in = {action for call in recorded if call.phase == "delivery" and call.service == "sqs"
                for action, _ in required_permissions(call)}
    assert stand_in == {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    assert statements["WebhookEventSource"]["actions"] == set(permissions.SQS_EVENT_SOURCE_ACTIONS)
    assert statements["WebhookEventSource"]["actions"] == stand_in | {"sqs:GetQueueAttributes"}
    assert statements["FunctionLogs"]["actions"] == {"logs:CreateLogStream", "logs:PutLogEvents"}
