"""``/sessions/``: the reference's shapes, validation, PATCH, close, privacy, order, filters, events."""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.services import accounts
from tests.conftest import ApiClient

# The reference's examples, verbatim (Sessions section): a running one and the closed one.
REFERENCE_SESSION = {
    "id": "9f8e7d6c-5b4a-4039-8271-6a5b4c3d2e1f",
    "project_id": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "project_name": "Website redesign",
    "start_time": "2026-06-26T09:00:00Z",
    "end_time": None,
    "description": "",
    "started_via": "api",
    "is_active": True,
    "total_seconds": 0,
}
REFERENCE_CLOSED = {
    "id": "9f8e7d6c-5b4a-4039-8271-6a5b4c3d2e1f",
    "project_id": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "project_name": "Website redesign",
    "start_time": "2026-06-26T09:00:00Z",
    "end_time": "2026-06-26T11:30:00Z",
    "description": "",
    "started_via": "api",
    "is_active": False,
    "total_seconds": 9000,
}
ALREADY_CLOSED = "Session is already closed."
STARTED_VIA = ["manual", "client-file", "client-manual", "browser-url", "browser-manual",
               "cli-tui", "cli-watch", "api"]
DATETIME_ERROR = ("Datetime has wrong format. Use one of these formats instead: "
                  "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NOT_FOUND = {"detail": "Not found."}
PROJECT_NOT_FOUND = {"project_id": ["Project not found."]}
MISSING_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
START, END = "2026-06-26T09:00:00Z", "2026-06-26T11:30:00Z"


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def assert_session_shape(body: dict) -> None:
    """Same keys as the reference's session, each with the reference's type."""
    assert set(body) == set(REFERENCE_SESSION)
    assert UUID4.fullmatch(body["id"]) and UUID4.fullmatch(body["project_id"])
    assert isinstance(body["project_name"], str)
    assert TIMESTAMP.fullmatch(body["start_time"])
    assert body["end_time"] is None or TIMESTAMP.fullmatch(body["end_time"])
    assert isinstance(body["description"], str)
    assert body["started_via"] in STARTED_VIA
    assert isinstance(body["is_active"], bool) and body["is_active"] == (body["end_time"] is None)
    assert type(body["total_seconds"]) is int


def expected(session: dict, **changes) -> dict:
    return {**session, **changes}


@pytest.fixture
def project(api) -> dict:
    """An (inactive, as created by default) project "Website redesign" of the default user."""
    response = api.post("/projects/", {"name": "Website redesign"})
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def other_project(api) -> dict:
    """A second project of the default user."""
    return api.post("/projects/", {"name": "Intranet"}).json()


def start(api: ApiClient, project: dict, **fields) -> dict:
    response = api.post("/sessions/", {"project_id": project["id"], **fields})
    assert response.status_code == 201, response.text
    return response.json()


# --- success shapes -------------------------------------------------------------------------

def test_quickstart_body_starts_a_running_session_now(api, project):
    before = now()
    response = api.post("/sessions/", {"project_id": project["id"]})
    after = now()
    assert response.status_code == 201
    assert response.header("Content-Type") == "application/json"
    body = response.json()
    assert_session_shape(body)
    assert before <= parse(body["start_time"]) <= after
    assert body == {**REFERENCE_SESSION, "id": body["id"], "project_id": project["id"],
                    "start_time": body["start_time"]}


def test_past_start_without_end_is_running_as_in_the_reference(api, project):
    body = start(api, project, start_time=START)
    assert body == {**REFERENCE_SESSION, "id": body["id"], "project_id": project["id"]}
    assert api.get(f"/sessions/{body['id']}/").json() == body
    assert api.get("/sessions/").json() == [body]


def test_logging_a_completed_session(api, project):
    body = start(api, project, start_time=START, end_time=END)
    assert_session_shape(body)
    assert body == {**REFERENCE_CLOSED, "id": body["id"], "project_id": project["id"]}
    assert api.get(f"/sessions/{body['id']}/").json() == body


def test_sessions_may_be_started_on_inactive_projects_and_several_may_run(api, project):
    assert project["is_active"] is False
    first, second = start(api, project), start(api, project)
    assert first["is_active"] and second["is_active"] and first["id"] != second["id"]
    assert {s["id"] for s in api.get("/sessions/?active=true").json()} == {first["id"],
                                                                            second["id"]}


@pytest.mark.parametrize("sent, stored", [
    ("2026-06-26T09:00:00Z", "2026-06-26T09:00:00Z"),
    ("2026-06-26T11:00:00+02:00", "2026-06-26T09:00:00Z"),
    ("2026-06-26T04:30:00-04:30", "2026-06-26T09:00:00Z"),
    ("2026-06-26T09:00:00", "2026-06-26T09:00:00Z"),
    ("2026-06-26T09:00:00.987654Z", "2026-06-26T09:00:00Z"),
    ("2026-06-26T09:00Z", "2026-06-26T09:00:00Z"),
])
def test_datetimes_are_converted_to_utc_whole_seconds(api, project, sent, stored):
    body = start(api, project, start_time=sent, end_time=sent)
    assert (body["start_time"], body["end_time"], body["total_seconds"]) == (stored, stored, 0)


def test_total_seconds_drops_fractions(api, project):
    body = start(api, project, start_time="2026-06-26T09:00:00.900Z",
                 end_time="2026-06-26T09:00:59.100Z")
    assert (body["end_time"], body["total_seconds"]) == ("2026-06-26T09:00:59Z", 59)


@pytest.mark.parametrize("started_via", STARTED_VIA)
def test_every_documented_started_via_is_accepted(api, project, started_via):
    assert start(api, project, started_via=started_via)["started_via"] == started_via


def test_description_is_trimmed_and_may_be_10000_characters(api, project):
    assert start(api, project, description="  Kick-off call \n")["description"] == "Kick-off call"
    assert start(api, project, description="d" * 10_000)["description"] == "d" * 10_000
    assert start(api, project, description="   ")["description"] == ""


def test_read_only_and_unknown_fields_are_ignored(api, project):
    sent_id = str(uuid.uuid4())
    body = start(api, project, id=sent_id, is_active=False, total_seconds=3600,
                 project_name="Something else", user_id=999, unknown=[1])
    assert body["id"] != sent_id
    assert (body["is_active"], body["end_time"], body["total_seconds"]) == (True, None, 0)
    assert body["project_name"] == "Website redesign"
    assert api.get(f"/sessions/{sent_id}/").status_code == 404


def test_project_id_in_upper_case_is_accepted(api, project):
    assert start(api, project | {"id": project["id"].upper()})["project_id"] == project["id"]


def test_project_name_is_the_projects_current_name(api, project):
    session = start(api, project, start_time=START, end_time=END)
    api.patch(f"/projects/{project['id']}/", {"name": "Website relaunch"})
    assert api.get(f"/sessions/{session['id']}/").json()["project_name"] == "Website relaunch"
    assert api.get("/sessions/").json()[0]["project_name"] == "Website relaunch"


# --- validation -----------------------------------------------------------------------------

OWN = "<the caller's project>"  # replaced by the ``project`` fixture's id
OK = {"project_id": OWN}


@pytest.mark.parametrize("body, errors", [
    ({}, {"project_id": ["This field is required."]}),
    ({"project_id": None}, {"project_id": ["This field may not be null."]}),
    ({"project_id": ""}, {"project_id": ["Must be a valid UUID."]}),
    ({"project_id": "not-a-uuid"}, {"project_id": ["Must be a valid UUID."]}),
    ({"project_id": 12}, {"project_id": ["Must be a valid UUID."]}),
    ({"project_id": MISSING_ID}, PROJECT_NOT_FOUND),
    ({**OK, "start_time": None}, {"start_time": ["This field may not be null."]}),
    ({**OK, "start_time": "yesterday"}, {"start_time": [DATETIME_ERROR]}),
    ({**OK, "start_time": "2026-06-26"}, {"start_time": [DATETIME_ERROR]}),
    ({**OK, "start_time": "2026-13-01T00:00:00Z"}, {"start_time": [DATETIME_ERROR]}),
    ({**OK, "start_time": "2026-06-26T25:00:00Z"}, {"start_time": [DATETIME_ERROR]}),
    ({**OK, "start_time": 1782464400}, {"start_time": [DATETIME_ERROR]}),
    ({**OK, "end_time": "later"}, {"end_time": [DATETIME_ERROR]}),
    ({**OK, "end_time": ""}, {"end_time": [DATETIME_ERROR]}),
    ({**OK, "start_time": END, "end_time": START},
     {"end_time": ["End time must not be before start time."]}),
    ({**OK, "end_time": "2000-01-01T00:00:00Z"},  # start defaults to now
     {"end_time": ["End time must not be before start time."]}),
    ({**OK, "description": None}, {"description": ["This field may not be null."]}),
    ({**OK, "description": 5}, {"description": ["Not a valid string."]}),
    ({**OK, "description": "d" * 10_001},
     {"description": ["Ensure this field has no more than 10000 characters."]}),
    ({**OK, "started_via": "bogus"}, {"started_via": ['"bogus" is not a valid choice.']}),
    ({**OK, "started_via": "API"}, {"started_via": ['"API" is not a valid choice.']}),
    ({**OK, "started_via": ""}, {"started_via": ['"" is not a valid choice.']}),
    ({**OK, "started_via": None}, {"started_via": ["This field may not be null."]}),
    ({"project_id": "x", "start_time": "bad", "end_time": 1, "description": [],
      "started_via": "bogus"},
     {"project_id": ["Must be a valid UUID."], "start_time": [DATETIME_ERROR],
      "end_time": [DATETIME_ERROR], "description": ["Not a valid string."],
      "started_via": ['"bogus" is not a valid choice.']}),
    ({"project_id": MISSING_ID, "description": "d" * 10_001, "started_via": "bogus"},
     {"project_id": ["Project not found."],
      "description": ["Ensure this field has no more than 10000 characters."],
      "started_via": ['"bogus" is not a valid choice.']}),
    ({"project_id": MISSING_ID, "start_time": END, "end_time": START},
     {"project_id": ["Project not found."],
      "end_time": ["End time must not be before start time."]}),
], ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None)
def test_create_validation(api, project, events, body, errors):
    body = {k: project["id"] if v == OWN else v for k, v in body.items()}
    events.clear()
    response = api.post("/sessions/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get("/sessions/").json() == []
    assert events == []


def test_projects_the_caller_cannot_see_are_not_found(api, colleague, outsider, events):
    foreign = [other.post("/projects/", {"name": "Theirs"}).json()["id"]
               for other in (colleague, outsider)]
    for project_id in foreign:
        response = api.post("/sessions/", {"project_id": project_id})
        assert (response.status_code, response.json()) == (400, PROJECT_NOT_FOUND)
        response = api.post("/sessions/", {"project_id": project_id, "start_time": END,
                                           "end_time": START})
        assert (response.status_code, response.json()) == (400, {
            **PROJECT_NOT_FOUND, "end_time": ["End time must not be before start time."]})
    assert api.get("/sessions/").json() == []
    assert [c.event for c in events] == ["project.created", "project.created"]


def test_json_errors(api, project):
    raw = api.post("/sessions/", body=b'{"project_id": }',
                   headers={"Content-Type": "application/json"})
    assert (raw.status_code, raw.json()) == (
        400, {"detail": "JSON parse error - Expecting value: line 1 column 16 (char 15)"})
    listed = api.post("/sessions/", [{"project_id": project["id"]}])
    assert (listed.status_code, listed.json()) == (
        400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    plain = api.post("/sessions/", body=b'{"project_id": "%s"}' % project["id"].encode(),
                     headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()) == (
        415, {"detail": 'Unsupported media type "text/plain" in request.'})
    assert api.get("/sessions/").json() == []


def test_patch_json_errors_change_nothing(api, project):
    session = start(api, project)
    path = f"/sessions/{session['id']}/"
    raw = api.patch(path, body=b"{", headers={"Content-Type": "application/json"})
    assert raw.json() == {"detail": "JSON parse error - Expecting property name enclosed in "
                                    "double quotes: line 1 column 2 (char 1)"}
    assert api.patch(path, ["x"]).json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    assert api.patch(path, body=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert api.get(path).json() == session


# --- paths ----------------------------------------------------------------------------------

def test_trailing_slash_is_optional_everywhere(api, project):
    created = api.post("/sessions", {"project_id": project["id"]})
    assert created.status_code == 201
    session = created.json()
    assert api.get("/sessions").json() == [session]
    assert api.get("/sessions?active=true").json() == [session]
    assert api.get(f"/sessions/{session['id']}").json() == session
    patched = api.patch(f"/sessions/{session['id']}", {"description": "x"})
    assert patched.json()["description"] == "x"
    closed = api.post(f"/sessions/{session['id']}/close")
    assert closed.status_code == 200 and closed.json()["is_active"] is False
    deleted = api.delete(f"/sessions/{session['id']}")
    assert (deleted.status_code, deleted.text) == (204, "")


@pytest.mark.parametrize("session_id", [MISSING_ID, "not-a-uuid", "42", MISSING_ID + "0"])
def test_unknown_or_malformed_ids_are_404(api, project, session_id):
    start(api, project)
    for response in (api.get(f"/sessions/{session_id}/"),
                     api.patch(f"/sessions/{session_id}/", {"description": "x"}),
                     api.patch(f"/sessions/{session_id}/", {"end_time": None}),
                     api.delete(f"/sessions/{session_id}/"),
                     api.post(f"/sessions/{session_id}/close/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_wrong_methods_are_405(api, project):
    session = start(api, project)
    put = api.request("PUT", f"/sessions/{session['id']}/", {"description": "x"})
    assert (put.status_code, put.json()) == (405, {"detail": 'Method "PUT" not allowed.'})
    assert put.header("Allow") == "GET, HEAD, OPTIONS, PATCH, DELETE"
    get_close = api.get(f"/sessions/{session['id']}/close/")
    assert (get_close.status_code, get_close.header("Allow")) == (405, "OPTIONS, POST")
    assert api.get(f"/sessions/{session['id']}/").json() == session


# --- PATCH ----------------------------------------------------------------------------------

def test_patch_description_changes_only_it(api, project, events):
    session = start(api, project, start_time=START, description="Kick-off")
    events.clear()
    response = api.patch(f"/sessions/{session['id']}/", {"description": " Design review "})
    assert response.status_code == 200
    assert response.json() == expected(session, description="Design review")
    assert api.get(f"/sessions/{session['id']}/").json() == expected(session,
                                                                      description="Design review")
    assert [(c.event, c.data["description"]) for c in events] == [
        ("session.updated", "Design review")]


def test_patch_reassigns_the_project(api, project, other_project):
    session = start(api, project, start_time=START, end_time=END)
    response = api.patch(f"/sessions/{session['id']}/", {"project_id": other_project["id"]})
    assert response.json() == expected(session, project_id=other_project["id"],
                                       project_name="Intranet")
    assert api.get(f"/sessions/?project_id={other_project['id']}").json() == [response.json()]
    assert api.get(f"/sessions/?project_id={project['id']}").json() == []


def test_patch_end_time_on_a_running_session_closes_it(api, project, events):
    session = start(api, project, start_time=START)
    events.clear()
    response = api.patch(f"/sessions/{session['id']}/", {"end_time": END})
    assert response.status_code == 200
    closed = {**REFERENCE_CLOSED, "id": session["id"], "project_id": project["id"]}
    assert response.json() == closed
    assert api.get(f"/sessions/?active=true").json() == []
    assert api.get(f"/sessions/?active=false").json() == [closed]
    assert [(c.event, c.data["uuid"], c.data["end_time"]) for c in events] == [
        ("session.closed", session["id"], "2026-06-26T11:30:00+00:00")]
    again = api.post(f"/sessions/{session['id']}/close/")
    assert again.json() == {"detail": ALREADY_CLOSED, "session": closed}
    assert len(events) == 1


def test_patch_end_time_on_a_closed_session_moves_it_an_update_not_a_close(api, project, events):
    session = start(api, project, start_time=START, end_time=END)
    events.clear()
    response = api.patch(f"/sessions/{session['id']}/", {"end_time": "2026-06-26T10:00:00+00:00"})
    assert response.json() == expected(session, end_time="2026-06-26T10:00:00Z",
                                       total_seconds=3600)
    assert [(c.event, c.data["end_time"]) for c in events] == [
        ("session.updated", "2026-06-26T10:00:00+00:00")]


def test_a_patch_that_changes_nothing_fires_nothing(api, project, events):
    session = start(api, project, start_time=START, end_time=END, description="Kick-off")
    events.clear()
    same = api.patch(f"/sessions/{session['id']}/", {"end_time": END, "description": "Kick-off"})
    assert same.json() == session
    assert api.patch(f"/sessions/{session['id']}/", {}).json() == session
    assert events == []


def test_patch_ignores_read_only_and_unpatchable_fields(api, project, events):
    session = start(api, project, start_time=START)
    events.clear()
    response = api.patch(f"/sessions/{session['id']}/", {
        "id": MISSING_ID, "is_active": False, "total_seconds": 60, "project_name": "x",
        "start_time": "2020-01-01T00:00:00Z", "started_via": "manual", "unknown": 1})
    assert response.status_code == 200
    assert response.json() == session
    assert api.get(f"/sessions/{session['id']}/").json() == session
    assert events == []


def test_empty_patch_returns_the_session_unchanged(api, project):
    session = start(api, project)
    assert api.patch(f"/sessions/{session['id']}/", {}).json() == session


@pytest.mark.parametrize("body, errors", [
    ({"end_time": None}, {"end_time": ["This field may not be null."]}),
    ({"end_time": "tomorrow"}, {"end_time": [DATETIME_ERROR]}),
    ({"end_time": "2026-06-26T08:59:59Z"},
     {"end_time": ["End time must not be before start time."]}),
    ({"end_time": "2026-06-26T10:59:59+02:00"},
     {"end_time": ["End time must not be before start time."]}),
    ({"description": None}, {"description": ["This field may not be null."]}),
    ({"description": {"a": 1}}, {"description": ["Not a valid string."]}),
    ({"description": "d" * 10_001},
     {"description": ["Ensure this field has no more than 10000 characters."]}),
    ({"project_id": None}, {"project_id": ["This field may not be null."]}),
    ({"project_id": "nope"}, {"project_id": ["Must be a valid UUID."]}),
    ({"project_id": MISSING_ID}, PROJECT_NOT_FOUND),
    ({"end_time": None, "description": 1, "project_id": "x"},
     {"end_time": ["This field may not be null."], "description": ["Not a valid string."],
      "project_id": ["Must be a valid UUID."]}),
    ({"end_time": "2026-06-26T08:00:00Z", "project_id": MISSING_ID},
     {"end_time": ["End time must not be before start time."],
      "project_id": ["Project not found."]}),
    ({"description": "d" * 10_001, "project_id": MISSING_ID},
     {"description": ["Ensure this field has no more than 10000 characters."],
      "project_id": ["Project not found."]}),
], ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None)
@pytest.mark.parametrize("closed", [False, True], ids=["running", "closed"])
def test_patch_validation_changes_nothing(api, project, events, body, errors, closed):
    session = start(api, project, start_time=START, end_time=END if closed else None)
    events.clear()
    response = api.patch(f"/sessions/{session['id']}/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get(f"/sessions/{session['id']}/").json() == session
    assert events == []


def test_patch_to_a_project_of_someone_else(api, project, colleague, outsider):
    session = start(api, project)
    for other in (colleague, outsider):
        theirs = other.post("/projects/", {"name": "Theirs"}).json()
        response = api.patch(f"/sessions/{session['id']}/", {"project_id": theirs["id"]})
        assert (response.status_code, response.json()) == (400, PROJECT_NOT_FOUND)
    assert api.get(f"/sessions/{session['id']}/").json() == session


# --- DELETE ---------------------------------------------------------------------------------

def test_delete_removes_the_session(api, project, events):
    kept = start(api, project, start_time="2026-06-25T09:00:00Z")
    session = start(api, project, start_time=START)
    events.clear()
    response = api.delete(f"/sessions/{session['id']}/")
    assert (response.status_code, response.text) == (204, "")
    assert api.get(f"/sessions/{session['id']}/").json() == NOT_FOUND
    assert api.get("/sessions/").json() == [kept]
    again = api.delete(f"/sessions/{session['id']}/")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)
    closing = api.post(f"/sessions/{session['id']}/close/")
    assert (closing.status_code, closing.json()) == (404, NOT_FOUND)
    # session.deleted carries the session as it was
    assert [(c.event, c.data["uuid"], c.data["end_time"]) for c in events] == [
        ("session.deleted", session["id"], None)]


# --- close ----------------------------------------------------------------------------------

def test_close_returns_the_bare_session_then_the_wrapped_shape(api, project, events):
    session = start(api, project, start_time=START)
    events.clear()
    before = now()
    response = api.post(f"/sessions/{session['id']}/close/")
    after = now()
    assert response.status_code == 200
    closed = response.json()
    assert_session_shape(closed)
    assert before <= parse(closed["end_time"]) <= after
    assert closed == expected(session, end_time=closed["end_time"], is_active=False,
                              total_seconds=int((parse(closed["end_time"]) -
                                                 parse(START)).total_seconds()))
    assert api.get(f"/sessions/{session['id']}/").json() == closed

    again = api.post(f"/sessions/{session['id']}/close/")
    assert again.status_code == 200
    assert again.json() == {"detail": ALREADY_CLOSED, "session": closed}
    assert [(c.event, c.data["uuid"]) for c in events] == [("session.closed", session["id"])]


def test_closing_a_logged_session_keeps_its_end_time(api, project, events):
    session = start(api, project, start_time=START, end_time=END)
    events.clear()
    response = api.post(f"/sessions/{session['id']}/close/")
    assert (response.status_code, response.json()) == (
        200, {"detail": ALREADY_CLOSED, "session": session})
    assert events == []


def test_close_ignores_a_body(api, project):
    session = start(api, project)
    response = api.post(f"/sessions/{session['id']}/close/", {"end_time": END})
    assert response.status_code == 200
    assert response.json()["end_time"] != END


def test_closing_a_session_that_starts_in_the_future_ends_it_at_its_start(api, project):
    future = (now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    session = start(api, project, start_time=future)
    assert session["is_active"] is True
    closed = api.post(f"/sessions/{session['id']}/close/").json()
    assert closed == expected(session, end_time=future, is_active=False, total_seconds=0)


# --- order and filters ----------------------------------------------------------------------

def test_list_is_newest_start_first(api, project):
    starts = ["2026-06-26T10:00:00Z", "2026-06-24T08:00:00Z", "2026-06-28T07:00:00Z",
              "2026-06-25T12:00:00Z", "2026-06-26T09:59:59Z"]
    created = {}
    for i, start_time in enumerate(starts):
        end = None if i % 2 else "2026-06-29T00:00:00Z"
        created[start_time] = start(api, project, start_time=start_time, end_time=end)
    listed = api.get("/sessions/").json()
    assert [s["start_time"] for s in listed] == sorted(starts, reverse=True)
    assert listed == [created[s] for s in sorted(starts, reverse=True)]


def test_equal_start_times_are_ordered_by_id_descending(api, project):
    ids = [start(api, project, start_time=START)["id"] for _ in range(4)]
    assert [s["id"] for s in api.get("/sessions/").json()] == sorted(ids, reverse=True)


@pytest.fixture
def tracked(api, project, other_project) -> dict[str, dict]:
    """Running and closed sessions on two projects, started at distinct times."""
    return {
        "p1_running": start(api, project, start_time="2026-06-26T08:00:00Z"),
        "p1_closed": start(api, project, start_time="2026-06-26T09:00:00Z",
                           end_time="2026-06-26T10:00:00Z"),
        "p2_running": start(api, other_project, start_time="2026-06-26T10:00:00Z"),
        "p2_closed": start(api, other_project, start_time="2026-06-26T07:00:00Z",
                           end_time="2026-06-26T07:30:00Z"),
    }


@pytest.mark.parametrize("query, names", [
    ("", ["p2_running", "p1_closed", "p1_running", "p2_closed"]),
    ("?active=true", ["p2_running", "p1_running"]),
    ("?active=false", ["p1_closed", "p2_closed"]),
    ("?project_id={p1}", ["p1_closed", "p1_running"]),
    ("?project_id={p2}", ["p2_running", "p2_closed"]),
    ("?project_id={P1}", ["p1_closed", "p1_running"]),
    ("?active=true&project_id={p1}", ["p1_running"]),
    ("?active=false&project_id={p1}", ["p1_closed"]),
    ("?project_id={p2}&active=false", ["p2_closed"]),
    (f"?project_id={MISSING_ID}", []),
    ("?unknown=1", ["p2_running", "p1_closed", "p1_running", "p2_closed"]),
])
def test_filters(api, project, other_project, tracked, query, names):
    path = "/sessions/" + query.format(p1=project["id"], p2=other_project["id"],
                                       P1=project["id"].upper())
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == [tracked[name] for name in names]


def test_filters_follow_closing(api, project, tracked):
    api.post(f"/sessions/{tracked['p1_running']['id']}/close/")
    assert [s["id"] for s in api.get(f"/sessions/?active=true&project_id={project['id']}").json()] == []
    assert {s["id"] for s in api.get(f"/sessions/?active=false&project_id={project['id']}").json()} \
        == {tracked["p1_running"]["id"], tracked["p1_closed"]["id"]}


ACTIVE_ERROR = {"active": ['Must be "true" or "false".']}
UUID_ERROR = {"project_id": ["Must be a valid UUID."]}


@pytest.mark.parametrize("query, errors", [
    ("?active=yes", ACTIVE_ERROR),
    ("?active=True", ACTIVE_ERROR),
    ("?active=1", ACTIVE_ERROR),
    ("?active=", ACTIVE_ERROR),
    ("?project_id=nope", UUID_ERROR),
    ("?project_id=", UUID_ERROR),
    ("?project_id=12", UUID_ERROR),
    ("?active=maybe&project_id=nope", {**ACTIVE_ERROR, **UUID_ERROR}),
])
def test_bad_filter_values(api, tracked, query, errors):
    response = api.get("/sessions/" + query)
    assert (response.status_code, response.json()) == (400, errors)


# --- privacy --------------------------------------------------------------------------------

def _assert_invisible(other: ApiClient, session: dict) -> None:
    path = f"/sessions/{session['id']}/"
    assert other.get("/sessions/").json() == []
    assert other.get(f"/sessions/?project_id={session['project_id']}").json() == []
    for response in (other.get(path),
                     other.patch(path, {"description": "mine now"}),
                     other.patch(path, {"end_time": "2026-06-26T12:00:00Z"}),
                     other.patch(path, {"end_time": None}),
                     other.delete(path),
                     other.post(path + "close/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_nobody_else_sees_or_changes_a_session(api, project, colleague, outsider, events):
    session = start(api, project, start_time=START)
    events.clear()
    for other in (colleague, outsider):
        _assert_invisible(other, session)
    assert api.get(f"/sessions/{session['id']}/").json() == session
    assert api.get("/sessions/").json() == [session]
    assert events == []


@pytest.fixture
def team(account, make_account, gateway):
    """The default user and a colleague in one team."""
    member = make_account(organisation_id=account.organisation_id, email="jim@example.com")
    team = accounts.create_team(account.organisation_id, "Sales")
    accounts.add_member(int(team.id), account.user_id)
    accounts.add_member(int(team.id), member.user_id)
    return {"id": int(team.id), "member_api": ApiClient(gateway, member.token)}


def test_sessions_stay_private_inside_a_team(api, project, team, events):
    accounts.assign_project(project["id"], team["id"])
    member = team["member_api"]
    mine = start(api, project, start_time=START)
    theirs = start(member, project, start_time="2026-06-26T10:00:00Z")
    assert theirs["project_name"] == "Website redesign"
    events.clear()
    path = f"/sessions/{mine['id']}/"
    for response in (member.get(path), member.patch(path, {"description": "x"}),
                     member.delete(path), member.post(path + "close/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    for response in (api.get(f"/sessions/{theirs['id']}/"),
                     api.post(f"/sessions/{theirs['id']}/close/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert api.get("/sessions/").json() == [mine]
    assert member.get("/sessions/").json() == [theirs]
    assert member.get(f"/sessions/?project_id={project['id']}").json() == [theirs]
    assert api.get(f"/sessions/?project_id={project['id']}&active=true").json() == [mine]
    assert events == []


def test_team_member_may_move_their_session_to_a_team_project(api, project, team):
    member = team["member_api"]
    own = member.post("/projects/", {"name": "Jim's"}).json()
    session = start(member, own)
    refused = member.patch(f"/sessions/{session['id']}/", {"project_id": project["id"]})
    assert (refused.status_code, refused.json()) == (400, PROJECT_NOT_FOUND)
    accounts.assign_project(project["id"], team["id"])
    moved = member.patch(f"/sessions/{session['id']}/", {"project_id": project["id"]})
    assert moved.json() == expected(session, project_id=project["id"],
                                    project_name="Website redesign")


# --- events ---------------------------------------------------------------------------------

def test_session_created_for_a_running_session(api, account, project, events):
    events.clear()
    before = int(time.time())
    session = start(api, project, start_time=START, description="Kick-off",
                    started_via="cli-tui")
    assert [(c.event, c.data) for c in events] == [("session.created", {
        "uuid": session["id"], "project_uuid": project["id"],
        "project_name": "Website redesign", "start_time": "2026-06-26T09:00:00+00:00",
        "end_time": None, "description": "Kick-off", "started_via": "cli-tui"})]
    assert before <= events[0].occurred_at <= int(time.time())
    assert events[0].audience.user_ids == frozenset({account.user_id})


def test_logging_a_completed_session_fires_only_session_created(api, project, events):
    events.clear()
    session = start(api, project, start_time=START, end_time=END)
    assert [(c.event, c.data) for c in events] == [("session.created", {
        "uuid": session["id"], "project_uuid": project["id"],
        "project_name": "Website redesign", "start_time": "2026-06-26T09:00:00+00:00",
        "end_time": "2026-06-26T11:30:00+00:00", "description": "", "started_via": "api"})]


def test_close_fires_session_closed_once_with_its_data(api, account, project, events):
    session = start(api, project, start_time=START)
    events.clear()
    closed = api.post(f"/sessions/{session['id']}/close/").json()
    api.post(f"/sessions/{session['id']}/close/")
    api.patch(f"/sessions/{session['id']}/", {"end_time": END})
    api.patch(f"/sessions/{session['id']}/", {"description": "later"})
    assert [c.event for c in events] == ["session.closed", "session.updated", "session.updated"]
    assert [(c.event, c.data) for c in events][:1] == [("session.closed", {
        "uuid": session["id"], "project_uuid": project["id"],
        "project_name": "Website redesign", "start_time": "2026-06-26T09:00:00+00:00",
        "end_time": closed["end_time"].replace("Z", "+00:00"), "description": "",
        "started_via": "api"})]
    # the change's time (its stream record's, in whole seconds), not the fan-out's
    closed_at = int(parse(closed["end_time"]).timestamp())
    assert closed_at <= events[0].occurred_at <= closed_at + 2
    assert events[0].audience.user_ids == frozenset({account.user_id})


def test_each_session_fires_its_own_events(api, project, events):
    events.clear()
    first, second = start(api, project), start(api, project)
    for session in (first, second):
        api.post(f"/sessions/{session['id']}/close/")
    assert [(c.event, c.data["uuid"]) for c in events] == [
        ("session.created", first["id"]), ("session.created", second["id"]),
        ("session.closed", first["id"]), ("session.closed", second["id"])]


@pytest.mark.parametrize("resource", ["projects", "sessions", "clients"])
@pytest.mark.parametrize("body,content_type", [(b"{bad", "application/json"),
                                               (b"x", "text/plain")])
def test_patch_of_a_missing_id_is_404_before_the_body_is_read(api, resource, body, content_type):
    """DRF order: the object is looked up first, so a bad body on a missing id is still 404."""
    response = api.request("PATCH", f"/{resource}/3f2504e0-4f89-41d3-9a0c-0305e82c3301/",
                           body=body, headers={"Content-Type": content_type})
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
