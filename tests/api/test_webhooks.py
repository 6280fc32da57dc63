"""``/webhooks/`` over the local gateway: shapes, visibility per key, validation and the SSRF rules.

No test here resolves a real name: every URL sent to the API has an IP literal, a numeric
host or a shape refused before any lookup, and the stage rule (``http://`` and loopback
only in ``local``) is checked with an injected resolver.
"""
import dataclasses
import json
import re
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.config import ConfigError, load_settings, settings
from chalicelib.errors import ValidationError
from chalicelib.events.outbound import check_target_url
from chalicelib.services import webhooks as webhook_service
from chalicelib.services import accounts
from chalicelib.store.pages import read_all
from tests.conftest import ApiClient

FIELDS = {"id", "event", "target_url", "secret", "created_at", "last_delivery_at",
          "last_status_code", "failure_count"}
EVENTS = ["project.created", "session.created", "session.closed", "invoice.created",
          "invoice.paid", "session.updated", "session.deleted", "invoice.sent"]  # SPEC 4 and 7
TARGET = "http://127.0.0.1:9/temporalist"  # local stage: http:// and loopback are allowed
INVALID = {"target_url": ["Enter a valid HTTPS URL."]}
NOT_FOUND = {"detail": "Not found."}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def parse_timestamp(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def subscribe(client, event="session.closed", target_url=TARGET):
    response = client.post("/webhooks/", {"event": event, "target_url": target_url})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def other_key(gateway, account) -> ApiClient:
    """A second write key of the SAME user as ``api``."""
    _, token = accounts.create_key(account.user_id, "Other key", "write")
    return ApiClient(gateway, token)


@pytest.fixture
def read_key(gateway, account) -> ApiClient:
    _, token = accounts.create_key(account.user_id, "Read key", "read")
    return ApiClient(gateway, token)


# --- create --------------------------------------------------------------------------

@pytest.mark.parametrize("event", EVENTS)
def test_create_returns_the_reference_shape(api, event):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    response = api.post("/webhooks/", {"event": event, "target_url": TARGET})
    after = datetime.now(timezone.utc)
    assert response.status_code == 201
    assert response.header("Content-Type").startswith("application/json")
    body = response.json()
    assert set(body) == FIELDS
    assert UUID4.fullmatch(body["id"])
    assert body["event"] == event
    assert body["target_url"] == TARGET
    assert re.fullmatch(r"[0-9a-f]{64}", body["secret"])
    assert TIMESTAMP.fullmatch(body["created_at"])
    assert before <= parse_timestamp(body["created_at"]) <= after
    assert body["last_delivery_at"] is None
    assert body["last_status_code"] is None
    assert body["failure_count"] == 0


def test_every_subscription_gets_its_own_secret(api):
    secrets = {subscribe(api)["secret"] for _ in range(3)}
    assert len(secrets) == 3


def test_read_only_and_unknown_fields_are_ignored(api):
    response = api.post("/webhooks/", {
        "event": "session.closed", "target_url": TARGET, "id": str(uuid.uuid4()),
        "secret": "0" * 64, "failure_count": 7, "last_status_code": 200,
        "last_delivery_at": "2026-01-01T00:00:00Z", "created_at": "2020-01-01T00:00:00Z",
        "colour": "blue"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["secret"] != "0" * 64
    assert (body["failure_count"], body["last_status_code"], body["last_delivery_at"]) == (
        0, None, None)
    assert body["created_at"] != "2020-01-01T00:00:00Z"
    assert api.get(f"/webhooks/{body['id']}/").json() == body


def test_target_url_is_trimmed(api):
    body = subscribe(api, target_url=f"  {TARGET}\n")
    assert body["target_url"] == TARGET


def test_without_trailing_slash(api):
    created = api.post("/webhooks", {"event": "invoice.paid", "target_url": TARGET})
    assert created.status_code == 201
    sid = created.json()["id"]
    assert api.get(f"/webhooks/{sid}").json() == created.json()
    assert api.get("/webhooks").json() == [created.json()]
    assert api.delete(f"/webhooks/{sid}").status_code == 204


# --- list, get, delete ---------------------------------------------------------------

def test_list_get_and_delete(api):
    assert api.get("/webhooks/").json() == []
    first = subscribe(api, "project.created")
    second = subscribe(api, "invoice.paid", "http://127.0.0.1:8080/hooks?x=1")
    listed = api.get("/webhooks/")
    assert listed.status_code == 200
    assert sorted(listed.json(), key=lambda s: s["id"]) == sorted([first, second],
                                                                  key=lambda s: s["id"])
    got = api.get(f"/webhooks/{first['id']}/")
    assert got.status_code == 200
    assert got.json() == first  # the secret is shown again on get

    deleted = api.delete(f"/webhooks/{first['id']}/")
    assert deleted.status_code == 204
    assert deleted.text == ""
    assert api.get(f"/webhooks/{first['id']}/").status_code == 404
    assert api.get("/webhooks/").json() == [second]
    again = api.delete(f"/webhooks/{first['id']}/")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("sid", ["not-a-uuid", "123", str(uuid.uuid4()),
                                 str(uuid.uuid4()).upper()])
def test_unknown_or_malformed_ids_are_404(api, sid):
    for response in (api.get(f"/webhooks/{sid}/"), api.delete(f"/webhooks/{sid}/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_an_uppercase_id_names_the_same_subscription(api):
    created = subscribe(api)
    got = api.get(f"/webhooks/{created['id'].upper()}/")
    assert (got.status_code, got.json()) == (200, created)


# --- visibility: the creating key only -------------------------------------------------

def test_another_key_of_the_same_user_sees_nothing(api, other_key):
    created = subscribe(api)
    assert other_key.get("/webhooks/").json() == []
    for response in (other_key.get(f"/webhooks/{created['id']}/"),
                     other_key.delete(f"/webhooks/{created['id']}/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    # the failed delete changed nothing for the owner
    assert api.get(f"/webhooks/{created['id']}/").json() == created

    own = subscribe(other_key, "project.created")
    assert other_key.get("/webhooks/").json() == [own]
    assert api.get("/webhooks/").json() == [created]
    assert api.get(f"/webhooks/{own['id']}/").status_code == 404


def test_other_users_and_organisations_see_nothing(api, make_account, account, gateway):
    created = subscribe(api)
    mate = ApiClient(gateway, make_account(organisation_id=account.organisation_id,
                                           email="mate@example.com").token)
    stranger = ApiClient(gateway, make_account("Initech", email="peter@initech.example").token)
    for client in (mate, stranger):
        assert client.get("/webhooks/").json() == []
        assert client.get(f"/webhooks/{created['id']}/").status_code == 404
        assert client.delete(f"/webhooks/{created['id']}/").status_code == 404
    assert api.get("/webhooks/").json() == [created]


def test_a_user_without_organisation_can_subscribe(gateway, make_account):
    client = ApiClient(gateway, make_account(None, email="solo@example.com").token)
    created = subscribe(client, "session.created")
    assert client.get("/webhooks/").json() == [created]


def test_revoking_the_key_removes_its_subscriptions(api, other_key, account):
    subscribe(api)
    kept = subscribe(other_key)
    accounts.revoke_key(account.key_id)
    assert api.get("/webhooks/").status_code == 401
    assert other_key.get("/webhooks/").json() == [kept]
    from chalicelib.store import webhooks as store
    assert read_all(store.listing(account.key_id)) == []


# --- scopes and auth -------------------------------------------------------------------

def test_a_read_key_may_list_and_get_but_not_create_or_delete(read_key, api):
    assert read_key.get("/webhooks/").json() == []
    forbidden = {"detail": "This API key has read scope; POST, PATCH and DELETE need a "
                           "write-scoped key."}
    created = read_key.post("/webhooks/", {"event": "session.closed", "target_url": TARGET})
    assert (created.status_code, created.json()) == (403, forbidden)
    owned = subscribe(api)
    deleted = read_key.delete(f"/webhooks/{owned['id']}/")
    assert (deleted.status_code, deleted.json()) == (403, forbidden)
    assert api.get(f"/webhooks/{owned['id']}/").status_code == 200


def test_without_a_key_is_401(anonymous):
    for response in (anonymous.get("/webhooks/"),
                     anonymous.post("/webhooks/", {"event": "session.closed",
                                                   "target_url": TARGET}),
                     anonymous.get(f"/webhooks/{uuid.uuid4()}/")):
        assert (response.status_code, response.json()) == (
            401, {"detail": "Invalid or missing API key."})


@pytest.mark.parametrize("method, path, allow", [
    ("PATCH", "/webhooks/{id}/", {"DELETE", "GET"}),
    ("PUT", "/webhooks/{id}/", {"DELETE", "GET"}),
    ("DELETE", "/webhooks/", {"GET", "POST"}),
])
def test_unsupported_methods_are_405(api, method, path, allow):
    sid = subscribe(api)["id"]
    response = api.request(method, path.format(id=sid), {})
    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method}" not allowed.'}
    assert {m.strip() for m in response.header("Allow").split(",")} >= allow


# --- validation --------------------------------------------------------------------------

@pytest.mark.parametrize("event", ["x", "ping", "SESSION.CLOSED", "session.*", "project.updated",
                                   ""])
def test_an_unknown_event_is_not_a_valid_choice(api, event):
    response = api.post("/webhooks/", {"event": event, "target_url": TARGET})
    assert response.status_code == 400
    if event == "":
        # DRF's ChoiceField reports the empty string as an invalid choice too
        assert response.json() == {"event": ['"" is not a valid choice.']}
    else:
        assert response.json() == {"event": [f'"{event}" is not a valid choice.']}


def test_the_reference_bad_event_body(api):
    response = api.post("/webhooks/", {"event": "x", "target_url": TARGET})
    assert (response.status_code, response.json()) == (
        400, {"event": ['"x" is not a valid choice.']})


def test_missing_fields_are_reported_together(api):
    response = api.post("/webhooks/", {})
    assert response.status_code == 400
    assert response.json() == {"event": ["This field is required."],
                               "target_url": ["This field is required."]}


@pytest.mark.parametrize("body, errors", [
    ({"event": "session.closed"}, {"target_url": ["This field is required."]}),
    ({"target_url": TARGET}, {"event": ["This field is required."]}),
    ({"event": None, "target_url": None}, {"event": ["This field may not be null."],
                                           "target_url": ["This field may not be null."]}),
    ({"event": "session.closed", "target_url": "   "},
     {"target_url": ["This field may not be blank."]}),
    ({"event": "session.closed", "target_url": 42}, {"target_url": ["Not a valid string."]}),
    ({"event": "session.closed", "target_url": ["https://x"]},
     {"target_url": ["Not a valid string."]}),
])
def test_field_errors(api, body, errors):
    response = api.post("/webhooks/", body)
    assert (response.status_code, response.json()) == (400, errors)


def test_a_bad_event_and_a_bad_url_are_reported_together(api):
    response = api.post("/webhooks/", {"event": "x", "target_url": "ftp://127.0.0.1/"})
    assert response.status_code == 400
    assert response.json() == {"event": ['"x" is not a valid choice.'], **INVALID}


def test_a_url_longer_than_2048_characters_is_refused(api):
    base = "http://127.0.0.1:9/"
    ok = subscribe(api, target_url=base + "a" * (2048 - len(base)))
    assert len(ok["target_url"]) == 2048
    response = api.post("/webhooks/", {"event": "session.closed",
                                       "target_url": base + "a" * (2049 - len(base))})
    assert response.status_code == 400
    [message] = response.json()["target_url"]
    assert message in ("Ensure this field has no more than 2048 characters.",
                       "Enter a valid HTTPS URL.")


@pytest.mark.parametrize("body, type_name", [([], "list"), ("x", "str"), (1, "int")])
def test_a_body_that_is_not_an_object(api, body, type_name):
    response = api.request("POST", "/webhooks/", body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"non_field_errors": [
        f"Invalid data. Expected a dictionary, but got {type_name}."]})
    assert api.get("/webhooks/").json() == []


def test_invalid_json(api):
    response = api.request("POST", "/webhooks/", body=b'{"event": ',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


# --- the SSRF matrix at creation -------------------------------------------------------

# Refused even in the local stage (which allows only http:// and loopback on top of https).
BLOCKED_LOCALLY = [
    "https://169.254.169.254",
    "https://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1",
    "http://10.0.0.1:8080/hook",
    "https://172.16.0.1",
    "https://192.168.1.1",
    "https://100.64.0.1",
    "https://0.0.0.0",
    "https://224.0.0.1",
    "https://[fd00::1]",
    "https://[fe80::1]",
    "https://[::ffff:10.0.0.1]",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://[64:ff9b::a00:1]",
    "https://[2002:a00:1::1]",
    "https://[::]",
    "https://2130706433",
    "http://2130706433/",
    "https://0x7f.1",
    "https://0x7f000001",
    "https://017700000001",
    "https://127.1",
    "https://93.184.215.14",  # any non-loopback IP literal, even a public one
    "https://user:pw@127.0.0.1/hook",
    "https://user@127.0.0.1/hook",
    "http://user:pw@127.0.0.1:8080/hook",
    "https://@127.0.0.1/",
    "ftp://127.0.0.1/",
    "ftp://10.0.0.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "javascript:alert(1)",
    "ws://127.0.0.1:8080/",
    "127.0.0.1:8080/hook",
    "//127.0.0.1/hook",
    "https://",
    "https:///hook",
    "https://127.0.0.1:0/",
    "https://127.0.0.1:99999/",
    "http://127.0.0.1/a b",
    "http://127.0.0.1/\r\nX-Injected: 1",
]


@pytest.mark.parametrize("url", BLOCKED_LOCALLY)
def test_ssrf_matrix_through_the_api(api, url):
    response = api.post("/webhooks/", {"event": "session.closed", "target_url": url})
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["target_url"] and len(body["target_url"]) == 1
    assert body["target_url"][0].startswith("Enter a valid HTTPS URL.")
    assert api.get("/webhooks/").json() == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook",
    "https://127.0.0.1/hook",
    "http://127.5.6.7/",
    "http://[::1]:8080/hook",
    "https://[::1]/",
])
def test_the_local_stage_allows_http_and_loopback(api, url):
    assert settings().stage == "local" and settings().allow_insecure_webhooks
    assert subscribe(api, target_url=url)["target_url"] == url


def _names(host, port):
    table = {"localhost": ["127.0.0.1", "::1"], "hooks.example.com": ["93.184.215.14"],
             "internal.test": ["10.1.2.3"]}
    if host not in table:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return table[host]


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/temporalist",   # http:// outside the local stage
    "http://127.0.0.1:8080/hook",
    "https://127.0.0.1",
    "https://127.0.0.1/hook",
    "https://localhost",
    "https://localhost:8443/hook",
    "https://[::1]",
    "https://[::1]:8443/hook",
    "https://127.5.6.7/",
    "https://internal.test/hook",
])
def test_outside_the_local_stage_http_and_loopback_are_refused(url):
    with pytest.raises(ValidationError) as caught:
        check_target_url(url, allow_insecure=False, resolver=_names)
    [message] = caught.value.errors["target_url"]
    assert message.startswith("Enter a valid HTTPS URL.")
    assert list(caught.value.errors) == ["target_url"]


def test_a_public_https_target_is_accepted_outside_the_local_stage():
    assert check_target_url("https://hooks.example.com/temporalist", allow_insecure=False,
                            resolver=_names) is None


def test_a_name_resolving_to_loopback_names_the_address():
    with pytest.raises(ValidationError) as caught:
        check_target_url("https://localhost/hook", allow_insecure=False, resolver=_names)
    assert caught.value.errors == {"target_url": [
        "Enter a valid HTTPS URL. localhost resolves to a blocked address (127.0.0.1)."]}


@pytest.fixture
def production_rules(monkeypatch):
    """The API as a non-local stage runs it: http:// and loopback are not allowed."""
    strict = dataclasses.replace(settings(), allow_insecure_webhooks=False)
    monkeypatch.setattr(webhook_service, "settings", lambda: strict)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://127.0.0.1/hook",
                                 "https://[::1]/hook", "http://[::1]:8080/"])
def test_the_api_applies_the_stage_rule(api, production_rules, url):
    response = api.post("/webhooks/", {"event": "session.closed", "target_url": url})
    assert (response.status_code, response.json()) == (400, INVALID)
    assert api.get("/webhooks/").json() == []


def test_only_the_local_stage_may_allow_insecure_targets():
    local = load_settings({"TEMPORALIST_STAGE": "local"})
    assert local.allow_insecure_webhooks is True
    base = {"TEMPORALIST_WEBHOOK_QUEUE_URL": "https://sqs.example/1/q"}
    for stage in ("dev", "prod"):
        assert load_settings({**base, "TEMPORALIST_STAGE": stage}).allow_insecure_webhooks is False
        with pytest.raises(ConfigError):
            load_settings({**base, "TEMPORALIST_STAGE": stage,
                           "TEMPORALIST_ALLOW_INSECURE_WEBHOOKS": "true"})


def test_created_at_is_recent(api):
    created = parse_timestamp(subscribe(api)["created_at"])
    assert abs(datetime.now(timezone.utc) - created) < timedelta(seconds=10)
