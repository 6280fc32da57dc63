"""The log lines an operator reads: one per request, per authorizer decision, per delivery attempt.

Lines are checked as Lambda's JSON log format prints them (``JsonFormatter``); no line
may carry a secret (the suite-wide scan in tests/log_scan.py, whose own checks are here).
"""
from __future__ import annotations

import json
import logging
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from chalicelib import aws as aws_module
from chalicelib import observability
from chalicelib.auth import authorizer
from chalicelib.deploy import invoke
from chalicelib.events import signing
from tests.log_scan import SecretScanner

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/GET/api/v1/me"
# The request line's own fields: each must reach the JSON line as a key (a name the
# runtime's formatter writes itself would be dropped).
REQUEST_FIELDS = {"method", "route", "status", "duration_ms", "key_id", "request_id",
                  "aws_calls", "aws_operations"}


def lines(caplog, message: str) -> list[dict]:
    """The captured records with ``message``, as the JSON lines Lambda would print."""
    formatter = observability.JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == message]


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


# --- the format -------------------------------------------------------------------------

def test_a_record_prints_as_lambdas_json_format_with_extra_fields_as_keys():
    record = logging.LogRecord("chalicelib.x", logging.INFO, "/x.py", 3, "hello %s", ("you",), None)
    record.__dict__.update({"route": "/api/v1/me", "status": 200, "aws_request_id": "abc"})
    line = json.loads(observability.JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["level"] == "INFO"
    assert line["logger"] == "chalicelib.x" and line["requestId"] == "abc"
    assert (line["route"], line["status"]) == ("/api/v1/me", 200)
    assert time.strptime(line["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert "stackTrace" not in line and "errorType" not in line  # None fields are left out


def test_an_exception_prints_its_type_message_and_trace():
    try:
        raise ValueError("bad")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, "/x.py", 9, "failed", (), sys.exc_info())
    line = json.loads(observability.JsonFormatter().format(record))
    assert (line["errorType"], line["errorMessage"], line["level"]) == ("ValueError", "bad", "ERROR")
    assert line["stackTrace"] and line["location"].endswith(":9")


def test_the_stage_log_level_comes_from_the_chalice_config(tmp_path, monkeypatch):
    from chalicelib import config
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"log_level": "WARNING", "stages": {"dev": {"log_level": "DEBUG"},
                                                                   "prod": {}}}))
    monkeypatch.setattr(config, "CHALICE_CONFIG", path)
    assert observability.stage_log_level("dev") == "DEBUG"
    assert observability.stage_log_level("prod") == "WARNING"
    path.write_text(json.dumps({"stages": {}}))
    assert observability.stage_log_level("prod") == observability.DEFAULT_LOG_LEVEL == "INFO"


# --- one line per API request -------------------------------------------------------------

def test_one_line_per_request_with_route_status_key_and_calls(api, account, logs):
    assert api.get("/me/").status_code == 200
    assert api.post("/projects/", {"name": "Site"}).status_code == 201
    assert api.get("/projects/").status_code == 200
    me, created, listed = lines(logs, observability.REQUEST_MESSAGE)
    assert set(me) >= REQUEST_FIELDS - {"request_id"}  # the local gateway gives no request id
    assert (me["method"], me["route"], me["status"]) == ("GET", "/api/v1/me", 200)
    assert me["key_id"] == account.key_id and account.token not in json.dumps(me)
    assert (me["aws_calls"], me["aws_operations"]) == (0, [])  # all from the authorizer
    assert (created["method"], created["route"], created["status"]) == ("POST", "/api/v1/projects", 201)
    assert created["aws_calls"] == len(created["aws_operations"]) >= 1
    assert "dynamodb:PutItem" in created["aws_operations"]
    assert listed["aws_operations"] == ["dynamodb:Query"]
    assert all(line["duration_ms"] >= 0 for line in (me, created, listed))


def test_the_route_is_the_template_not_the_path(api, logs):
    assert api.get("/projects/00000000-0000-4000-8000-000000000000/").status_code == 404
    line, = lines(logs, observability.REQUEST_MESSAGE)
    assert (line["route"], line["status"]) == ("/api/v1/projects/{project_id}", 404)


def test_the_request_id_is_api_gateways(gateway, account, logs):
    from app import app
    context = {"key_id": account.key_id, "user_id": str(account.user_id), "principalId": "user/1",
               "organisation_id": str(account.organisation_id), "team_ids": "", "scope": "write"}
    event = invoke.api_event("GET", "/api/v1/me/", "/api/v1/me", authorizer=context)
    response = app(event, types.SimpleNamespace(aws_request_id="lambda-1"))
    assert response["statusCode"] == 200
    line, = lines(logs, observability.REQUEST_MESSAGE)
    assert line["request_id"] == event["requestContext"]["requestId"]


def test_a_failing_request_logs_500(api, logs):
    """A storage failure mid-request: the line still comes, with the status sent."""
    def fail(model, **_):
        if model.name == "Query":  # DynamoDB's answer, instead of sending the call
            return (types.SimpleNamespace(status_code=500, headers={}),
                    {"Error": {"Code": "InternalServerError", "Message": "injected"},
                     "ResponseMetadata": {"HTTPStatusCode": 500}})
        return None

    client = aws_module.client("dynamodb")
    client.meta.events.register_last("before-call", fail, unique_id="test-fail")
    try:
        assert api.get("/projects/").status_code == 500
    finally:
        client.meta.events.unregister("before-call", unique_id="test-fail")
    line, = lines(logs, observability.REQUEST_MESSAGE)
    assert (line["status"], line["aws_operations"]) == (500, ["dynamodb:Query"])


def test_concurrent_requests_count_only_their_own_calls(gateway, account, logs):
    """The local server is threaded: each line counts its own request's calls."""
    from chalicelib.local.server import LocalApiServer
    server = LocalApiServer(gateway, port=0, quiet=True).start()
    try:
        base = f"http://127.0.0.1:{server.port}/api/v1"
        headers = {"Authorization": f"Bearer {account.token}"}
        paths = ["/me/", "/projects/", "/sessions/?active=true"] * 8
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(
                lambda p: requests.get(base + p, headers=headers, timeout=30).status_code, paths))
    finally:
        server.stop()
    assert statuses == [200] * len(paths)
    by_route: dict[str, set] = {}
    for line in lines(logs, observability.REQUEST_MESSAGE):
        by_route.setdefault(line["route"], set()).add(tuple(line["aws_operations"]))
    assert by_route["/api/v1/me"] == {()}
    assert by_route["/api/v1/projects"] == {("dynamodb:Query",)}
    assert len(by_route["/api/v1/sessions"]) == 1  # the same calls every time


def test_a_request_counts_the_calls_its_worker_threads_make(api, logs):
    """An invoice of two projects reads their sessions on two threads; the request's line
    counts those reads as it counts the one read of a one-project invoice."""
    client = api.post("/clients/", {"name": "Globex Corp"}).json()
    projects = [api.post("/projects/", {"name": name, "hourly_rate": "120.00",
                                        "client_id": client["id"]}).json()
                for name in ("One", "Two")]
    others = api.post("/clients/", {"name": "Initech"}).json()
    alone = api.post("/projects/", {"name": "Alone", "hourly_rate": "120.00",
                                    "client_id": others["id"]}).json()
    for project in [*projects, alone]:
        api.post("/sessions/", {"project_id": project["id"], "start_time": "2026-06-02T09:00:00Z",
                                "end_time": "2026-06-02T10:00:00Z"})
    logs.clear()
    for billed in (others, client):
        assert api.post("/invoices/", {"client_id": billed["id"], "period_start": "2026-06-01",
                                       "period_end": "2026-06-30"}).status_code == 201
    one, two = lines(logs, observability.REQUEST_MESSAGE)
    assert two["aws_operations"].count("dynamodb:Query") == \
        one["aws_operations"].count("dynamodb:Query") + 1
    assert two["aws_calls"] == len(two["aws_operations"])


def test_only_calls_made_inside_the_block_and_on_its_thread_are_counted(aws):
    sqs = aws_module.client("sqs")
    sqs.list_queues()  # before: not counted
    with aws_module.counting_calls() as counted:
        sqs.list_queues()
        other = threading.Thread(target=sqs.list_queues)  # another request's thread
        other.start()
        other.join()
    sqs.list_queues()  # after: not counted
    assert counted.operations == ["sqs:ListQueues"]


# --- one line per authorizer decision -----------------------------------------------------

def test_an_allowed_key_logs_its_id_scope_and_one_call(account, logs):
    authorizer.authorize(f"Bearer {account.token}", ARN)
    line, = lines(logs, "authorizer decision")
    assert (line["decision"], line["key_id"], line["scope"]) == ("allow", account.key_id, "write")
    assert line["aws_calls"] == 1 and line["duration_ms"] >= 0
    assert account.token.rsplit("_", 1)[1] not in json.dumps(line)


@pytest.mark.parametrize("case, reason", [
    ("malformed", "malformed token"), ("unknown", "unknown key"),
    ("wrong secret", "wrong secret"), ("revoked", "revoked"),
])
def test_a_refused_key_logs_why_and_never_the_token(account, logs, case, reason):
    from chalicelib.services import accounts as operator
    header = {"malformed": "Bearer tk_live_short",
              "unknown": "Bearer tk_live_zzzzzzzz_" + "a" * 32,
              "wrong secret": f"Bearer tk_live_{account.key_id}_" + "b" * 32,
              "revoked": f"Bearer {account.token}"}[case]
    if case == "revoked":
        operator.revoke_key(account.key_id)
    with pytest.raises(authorizer.Unauthorized):
        authorizer.authorize(header, ARN)
    line, = lines(logs, "authorizer decision")
    assert (line["decision"], line["reason"]) == ("unauthorized", reason)
    assert "tk_live_" not in json.dumps(line)
    assert line.get("key_id") == {"malformed": None, "unknown": "zzzzzzzz"}.get(case, account.key_id)


def test_a_key_without_pro_logs_a_deny(make_account, logs):
    account = make_account(plan="free")
    authorizer.authorize(f"Bearer {account.token}", ARN)
    line, = lines(logs, "authorizer decision")
    assert (line["decision"], line["reason"], line["key_id"]) == ("deny", "plan", account.key_id)


# --- one line per delivery attempt --------------------------------------------------------

def test_a_delivery_attempt_logs_its_ids_answer_and_host_only(api, logs):
    from chalicelib.events.delivery import Deliverer
    from chalicelib.events.outbound import PostResult
    url = "http://127.0.0.1:9/hooks/catch/123/capability-in-the-path/?token=also-secret"
    subscription = api.post("/webhooks/", {"event": "project.created", "target_url": url}).json()
    message = {"subscription_id": subscription["id"], "delivery_id": "d-1",
               "event": "project.created", "occurred_at": 0, "data": {}}
    result = Deliverer(post=lambda *a, **k: PostResult(410, 3)).deliver(json.dumps(message))
    assert result.status == 410
    line, = lines(logs, "webhook delivery")
    assert line["delivery_id"] == "d-1" and line["subscription_id"] == subscription["id"]
    assert (line["event"], line["status"], line["outcome"]) == ("project.created", 410, "failed")
    assert line["duration_ms"] == 3 and "error" not in line  # the POST's own time; an answer
    assert line["target_host"] == "127.0.0.1"
    assert "capability" not in json.dumps(line) and "also-secret" not in json.dumps(line)


@pytest.mark.parametrize("answer, outcome", [
    (dict(status=204, duration_ms=12), ("delivered", 204, None)),
    (dict(status=299, duration_ms=12), ("delivered", 299, None)),
    (dict(status=300, duration_ms=12), ("failed", 300, None)),
    (dict(status=None, duration_ms=8000, error="timeout"), ("failed", None, "timeout")),
])
def test_a_delivery_line_says_what_the_delivery_log_says(api, logs, answer, outcome):
    """Outcome, status, time and error are the POST result's, as the attempt stores them."""
    from chalicelib.events.delivery import Deliverer
    from chalicelib.events.outbound import PostResult
    subscription = api.post("/webhooks/", {"event": "project.created",
                                           "target_url": "http://127.0.0.1:9/h"}).json()
    message = {"subscription_id": subscription["id"], "delivery_id": "d-2",
               "event": "project.created", "occurred_at": 0, "data": {}}
    result = PostResult(**answer)
    Deliverer(post=lambda *a, **k: result).deliver(json.dumps(message))
    line, = lines(logs, "webhook delivery")
    assert (line["outcome"], line.get("status"), line.get("error")) == outcome
    assert (line["outcome"] == "delivered") == result.succeeded
    assert line["duration_ms"] == answer["duration_ms"]


# --- the suite-wide scan ------------------------------------------------------------------

def log_through(scanner: SecretScanner, message: str, **extra) -> None:
    logger = logging.getLogger("tests.scan")
    logger.addHandler(scanner)
    logger.propagate = False  # the session's own scan would rightly fail this test
    try:
        logger.warning(message, extra=extra)
    finally:
        logger.removeHandler(scanner)
        logger.propagate = True


@pytest.mark.parametrize("message, extra", [
    ("key tk_live_abcd1234_" + "x" * 32, {}),  # a whole token
    ("signed", {"secret": "0123456789abcdef" * 4}),  # 64 hex: a webhook secret or key hash
    ("found %s", {"note": "known-secret-value-of-32-chars!!"}),  # a remembered secret
    ("verify", {"key": signing.standard_secret("ab" * 32)}),  # its Standard Webhooks form
    ("odd", {"value": object()}),  # not JSON: Lambda's formatter could not print it
])
def test_the_scan_catches_secrets_and_unprintable_records(message, extra):
    scanner = SecretScanner()
    scanner.remember("known-secret-value-of-32-chars!!")
    log_through(scanner, message, **extra)
    assert len(scanner.findings) == 1


def test_the_scan_passes_ordinary_lines_and_knows_the_sessions_tokens(scanned_logs, account):
    scanner = SecretScanner()
    log_through(scanner, "request", route="/api/v1/me", key_id="abcd1234", status=200)
    assert scanner.findings == []
    assert scanned_logs in logging.getLogger().handlers
    assert scanned_logs.leak(f"token {account.token.rsplit('_', 1)[1]} here")  # learnt at issue
