"""``/projects/``: the reference's shapes, defaults, validation, PATCH, visibility, order and events."""
from __future__ import annotations

import re
import time
import uuid

import pytest

from chalicelib.services import accounts
from chalicelib.store import projects as project_store
from tests.conftest import ApiClient

# The reference's examples, verbatim (Projects section).
REFERENCE_LIST_ITEM = {
    "id": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "name": "Website redesign",
    "is_active": True,
    "currency": "USD",
    "hourly_rate": "120.00",
    "client_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
}
REFERENCE_CREATE_REQUEST = {"name": "Website redesign", "currency": "USD", "hourly_rate": "120.00"}
REFERENCE_CREATE_RESPONSE = {
    "id": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "name": "Website redesign",
    "is_active": False,
    "currency": "USD",
    "hourly_rate": "120.00",
    "client_id": None,
}

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NOT_FOUND = {"detail": "Not found."}
MISSING_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def assert_project_shape(body: dict) -> None:
    """Same keys as the reference's project, each with the reference's type."""
    assert set(body) == set(REFERENCE_LIST_ITEM)
    assert UUID4.fullmatch(body["id"])
    assert isinstance(body["name"], str)
    assert isinstance(body["is_active"], bool)
    assert re.fullmatch(r"[A-Z]{3}", body["currency"])
    assert body["hourly_rate"] is None or re.fullmatch(r"\d+\.\d\d", body["hourly_rate"])
    assert body["client_id"] is None or UUID4.fullmatch(body["client_id"])


@pytest.fixture
def client_id(api) -> str:
    """A client of the default account's organisation."""
    response = api.post("/clients/", {"name": "Globex Corp"})
    assert response.status_code == 201
    return response.json()["id"]


def create(api: ApiClient, **fields) -> dict:
    response = api.post("/projects/", {"name": "Website redesign", **fields})
    assert response.status_code == 201, response.text
    return response.json()


# --- success shapes -------------------------------------------------------------------------

def test_create_returns_the_reference_example(api, events):
    response = api.post("/projects/", REFERENCE_CREATE_REQUEST)
    assert response.status_code == 201
    assert response.header("Content-Type") == "application/json"
    body = response.json()
    assert_project_shape(body)
    assert body == {**REFERENCE_CREATE_RESPONSE, "id": body["id"]}


def test_created_project_is_returned_by_get_and_list(api):
    body = api.post("/projects/", REFERENCE_CREATE_REQUEST).json()
    got = api.get(f"/projects/{body['id']}/")
    assert (got.status_code, got.json()) == (200, body)
    listed = api.get("/projects/")
    assert (listed.status_code, listed.json()) == (200, [body])


def test_list_item_has_the_reference_shape(api, client_id):
    created = create(api, is_active=True, currency="USD", hourly_rate="120.00",
                     client_id=client_id)
    listed = api.get("/projects/").json()
    assert len(listed) == 1
    assert_project_shape(listed[0])
    assert listed[0] == {**REFERENCE_LIST_ITEM, "id": created["id"], "client_id": client_id}


def test_defaults_on_create(api):
    body = api.post("/projects/", {"name": "Website redesign"}).json()
    assert body == {"id": body["id"], "name": "Website redesign", "is_active": False,
                    "currency": "USD", "hourly_rate": None, "client_id": None}


@pytest.mark.parametrize("sent, stored", [
    ({"name": "  Website redesign \n"}, {"name": "Website redesign"}),
    ({"currency": "eur"}, {"currency": "EUR"}),
    ({"currency": " gbp "}, {"currency": "GBP"}),
    ({"hourly_rate": 120}, {"hourly_rate": "120.00"}),
    ({"hourly_rate": 99.5}, {"hourly_rate": "99.50"}),
    ({"hourly_rate": "0"}, {"hourly_rate": "0.00"}),
    ({"hourly_rate": "12345678.90"}, {"hourly_rate": "12345678.90"}),
    ({"hourly_rate": None}, {"hourly_rate": None}),
    ({"client_id": None}, {"client_id": None}),
    ({"is_active": True}, {"is_active": True}),
])
def test_create_normalises_values(api, sent, stored):
    body = api.post("/projects/", {"name": "Website redesign", **sent}).json()
    expected = {"id": body["id"], "name": "Website redesign", "is_active": False,
                "currency": "USD", "hourly_rate": None, "client_id": None, **stored}
    assert body == expected
    assert api.get(f"/projects/{body['id']}/").json() == expected


def test_client_id_is_accepted_in_any_case_and_returned_lower_case(api, client_id):
    body = create(api, client_id=client_id.upper())
    assert body["client_id"] == client_id


def test_name_of_255_characters_is_accepted(api):
    assert create(api, name="x" * 255)["name"] == "x" * 255


def test_read_only_and_unknown_fields_are_ignored(api, account):
    sent_id = str(uuid.uuid4())
    body = create(api, id=sent_id, owner_id=999, organisation_id=999, team_id=5,
                  created="2020-01-01T00:00:00Z", unknown="x")
    assert body["id"] != sent_id
    assert set(body) == set(REFERENCE_LIST_ITEM)
    assert api.get(f"/projects/{sent_id}/").status_code == 404
    project = project_store.get_project(body["id"])
    assert int(project.owner_id) == account.user_id
    assert int(project.organisation_id) == account.organisation_id
    assert project.team_id is None


# --- validation -----------------------------------------------------------------------------

LONG_NAME = "x" * 256


@pytest.mark.parametrize("body, errors", [
    ({}, {"name": ["This field is required."]}),
    ({"name": None}, {"name": ["This field may not be null."]}),
    ({"name": ""}, {"name": ["This field may not be blank."]}),
    ({"name": "   "}, {"name": ["This field may not be blank."]}),
    ({"name": 5}, {"name": ["Not a valid string."]}),
    ({"name": ["a"]}, {"name": ["Not a valid string."]}),
    ({"name": LONG_NAME}, {"name": ["Ensure this field has no more than 255 characters."]}),
    ({"name": "ok", "is_active": None}, {"is_active": ["This field may not be null."]}),
    ({"name": "ok", "is_active": "maybe"}, {"is_active": ["Must be a valid boolean."]}),
    ({"name": "ok", "currency": None}, {"currency": ["This field may not be null."]}),
    ({"name": "ok", "currency": ""}, {"currency": ["This field may not be blank."]}),
    ({"name": "ok", "currency": 840}, {"currency": ["Not a valid string."]}),
    ({"name": "ok", "currency": "EURO"}, {"currency": ['"EURO" is not a valid choice.']}),
    ({"name": "ok", "hourly_rate": "abc"}, {"hourly_rate": ["A valid number is required."]}),
    ({"name": "ok", "hourly_rate": "1.005"},
     {"hourly_rate": ["Ensure that there are no more than 2 decimal places."]}),
    ({"name": "ok", "hourly_rate": "12345678901"},
     {"hourly_rate": ["Ensure that there are no more than 10 digits in total."]}),
    ({"name": "ok", "hourly_rate": "-1"},
     {"hourly_rate": ["Ensure this value is greater than or equal to 0."]}),
    ({"name": "ok", "hourly_rate": True}, {"hourly_rate": ["A valid number is required."]}),
    ({"name": "ok", "hourly_rate": ""}, {"hourly_rate": ["A valid number is required."]}),
    ({"name": "ok", "client_id": "not-a-uuid"}, {"client_id": ["Must be a valid UUID."]}),
    ({"name": "ok", "client_id": 7}, {"client_id": ["Must be a valid UUID."]}),
    ({"name": "ok", "client_id": MISSING_ID}, {"client_id": ["Client not found."]}),
    ({"name": "", "is_active": "x", "currency": 1, "hourly_rate": "abc", "client_id": "nope"},
     {"name": ["This field may not be blank."], "is_active": ["Must be a valid boolean."],
      "currency": ["Not a valid string."], "hourly_rate": ["A valid number is required."],
      "client_id": ["Must be a valid UUID."]}),
    ({"name": None, "hourly_rate": "1.005", "client_id": MISSING_ID},
     {"name": ["This field may not be null."],
      "hourly_rate": ["Ensure that there are no more than 2 decimal places."],
      "client_id": ["Client not found."]}),
], ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None)
def test_create_validation(api, events, body, errors):
    response = api.post("/projects/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get("/projects/").json() == []
    assert events == []


def test_client_of_another_organisation_is_not_found(api, outsider, events):
    foreign = outsider.post("/clients/", {"name": "Initrode"}).json()["id"]
    response = api.post("/projects/", {"name": "Website redesign", "client_id": foreign})
    assert (response.status_code, response.json()) == (400, {"client_id": ["Client not found."]})
    assert api.get("/projects/").json() == []
    assert events == []


def test_user_without_organisation_cannot_link_a_client(gateway, make_account, api, client_id):
    solo = ApiClient(gateway, make_account(None, email="solo@example.com").token)
    response = solo.post("/projects/", {"name": "Website redesign", "client_id": client_id})
    assert (response.status_code, response.json()) == (400, {"client_id": ["Client not found."]})
    assert solo.get("/projects/").json() == []
    created = solo.post("/projects/", {"name": "Solo work"})
    assert created.status_code == 201


def test_unknown_client_is_reported_with_the_other_failing_fields(api, outsider):
    foreign = outsider.post("/clients/", {"name": "Initrode"}).json()["id"]
    response = api.post("/projects/", {"name": "", "client_id": foreign})
    assert response.status_code == 400
    assert response.json() == {"name": ["This field may not be blank."],
                               "client_id": ["Client not found."]}
    assert api.get("/projects/").json() == []


# --- JSON handling --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, detail", [
    (b"{not json", "JSON parse error - Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1)"),
    (b'{"name": }', "JSON parse error - Expecting value: line 1 column 10 (char 9)"),
    (b'{"name": "x"} trailing', "JSON parse error - Extra data: line 1 column 15 (char 14)"),
])
def test_invalid_json_is_a_parse_error(api, raw, detail):
    response = api.post("/projects/", body=raw, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"detail": detail})
    assert api.get("/projects/").json() == []


@pytest.mark.parametrize("body, type_name", [
    ([{"name": "x"}], "list"), ("Website redesign", "str"), (5, "int"), (True, "bool"),
])
def test_a_body_that_is_not_an_object(api, body, type_name):
    response = api.post("/projects/", body)
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name}."]}
    assert api.get("/projects/").json() == []


def test_other_content_types_are_415(api):
    response = api.post("/projects/", body=b'{"name": "x"}', headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    assert api.get("/projects/").json() == []


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json; charset=utf-8"},
    {"Content-Type": "Application/JSON"},
    {},
])
def test_json_with_a_charset_or_without_content_type_is_parsed(api, headers):
    response = api.post("/projects/", body=b'{"name": "Website redesign"}', headers=headers)
    assert response.status_code == 201
    assert response.json()["name"] == "Website redesign"


def test_patch_with_invalid_json_or_a_list(api):
    project = create(api)
    bad = api.patch(f"/projects/{project['id']}/", body=b"{",
                    headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json() == {"detail": "JSON parse error - Expecting property name enclosed in "
                                    "double quotes: line 1 column 2 (char 1)"}
    listed = api.patch(f"/projects/{project['id']}/", [{"name": "x"}])
    assert listed.status_code == 400
    assert listed.json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    plain = api.patch(f"/projects/{project['id']}/", body=b"{}",
                      headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()) == (
        415, {"detail": 'Unsupported media type "text/plain" in request.'})
    assert api.get(f"/projects/{project['id']}/").json() == project


# --- paths ----------------------------------------------------------------------------------

def test_trailing_slash_is_optional(api):
    created = api.post("/projects", {"name": "Website redesign"})
    assert created.status_code == 201
    project = created.json()
    assert api.get("/projects").json() == [project]
    assert api.get(f"/projects/{project['id']}").json() == project
    patched = api.patch(f"/projects/{project['id']}", {"name": "Renamed"})
    assert (patched.status_code, patched.json()["name"]) == (200, "Renamed")


def test_path_id_in_upper_case_finds_the_project(api):
    project = create(api)
    assert api.get(f"/projects/{project['id'].upper()}/").json() == project


@pytest.mark.parametrize("project_id", [MISSING_ID, "not-a-uuid", "1", MISSING_ID[:-1]])
def test_unknown_or_malformed_ids_are_404(api, project_id):
    create(api)
    for response in (api.get(f"/projects/{project_id}/"),
                     api.patch(f"/projects/{project_id}/", {"name": "x"})):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_there_is_no_delete(api):
    project = create(api)
    response = api.delete(f"/projects/{project['id']}/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert response.header("Allow") == "GET, HEAD, OPTIONS, PATCH"
    assert api.get(f"/projects/{project['id']}/").json() == project


# --- PATCH ----------------------------------------------------------------------------------

def test_patch_reference_example_changes_only_is_active(api, client_id):
    project = create(api, is_active=True, hourly_rate="120.00", client_id=client_id)
    response = api.patch(f"/projects/{project['id']}/", {"is_active": False})
    assert response.status_code == 200
    assert response.json() == {**project, "is_active": False}
    assert api.get(f"/projects/{project['id']}/").json() == {**project, "is_active": False}


@pytest.mark.parametrize("sent, changed", [
    ({"name": "  New name "}, {"name": "New name"}),
    ({"is_active": True}, {"is_active": True}),
    ({"currency": "eur"}, {"currency": "EUR"}),
    ({"hourly_rate": None}, {"hourly_rate": None}),
    ({"hourly_rate": "75.5"}, {"hourly_rate": "75.50"}),
    ({"hourly_rate": 80}, {"hourly_rate": "80.00"}),
    ({"client_id": None}, {"client_id": None}),
    ({}, {}),
    ({"id": MISSING_ID, "owner_id": 1, "unknown": True}, {}),
])
def test_patch_changes_only_the_sent_fields(api, client_id, sent, changed):
    project = create(api, hourly_rate="120.00", client_id=client_id)
    response = api.patch(f"/projects/{project['id']}/", sent)
    assert response.status_code == 200
    assert response.json() == {**project, **changed}
    assert api.get(f"/projects/{project['id']}/").json() == {**project, **changed}


def test_patch_links_a_client(api, client_id):
    project = create(api)
    response = api.patch(f"/projects/{project['id']}/", {"client_id": client_id})
    assert response.json() == {**project, "client_id": client_id}


def test_patch_several_fields_at_once(api):
    project = create(api)
    body = {"name": "Intranet", "is_active": True, "currency": "chf", "hourly_rate": "95.00"}
    response = api.patch(f"/projects/{project['id']}/", body)
    assert response.json() == {**project, "name": "Intranet", "is_active": True,
                               "currency": "CHF", "hourly_rate": "95.00"}


@pytest.mark.parametrize("body, errors", [
    ({"name": None}, {"name": ["This field may not be null."]}),
    ({"name": ""}, {"name": ["This field may not be blank."]}),
    ({"name": 1}, {"name": ["Not a valid string."]}),
    ({"name": LONG_NAME}, {"name": ["Ensure this field has no more than 255 characters."]}),
    ({"is_active": None}, {"is_active": ["This field may not be null."]}),
    ({"is_active": "false"}, {"is_active": ["Must be a valid boolean."]}),
    ({"currency": None}, {"currency": ["This field may not be null."]}),
    ({"currency": "E1R"}, {"currency": ['"E1R" is not a valid choice.']}),
    ({"hourly_rate": "abc"}, {"hourly_rate": ["A valid number is required."]}),
    ({"hourly_rate": "1.005"},
     {"hourly_rate": ["Ensure that there are no more than 2 decimal places."]}),
    ({"hourly_rate": "12345678901"},
     {"hourly_rate": ["Ensure that there are no more than 10 digits in total."]}),
    ({"hourly_rate": "-1"}, {"hourly_rate": ["Ensure this value is greater than or equal to 0."]}),
    ({"client_id": "nope"}, {"client_id": ["Must be a valid UUID."]}),
    ({"client_id": MISSING_ID}, {"client_id": ["Client not found."]}),
    ({"name": "", "hourly_rate": "-1", "is_active": None},
     {"name": ["This field may not be blank."],
      "hourly_rate": ["Ensure this value is greater than or equal to 0."],
      "is_active": ["This field may not be null."]}),
    ({"name": "", "client_id": MISSING_ID},
     {"name": ["This field may not be blank."], "client_id": ["Client not found."]}),
], ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None)
def test_patch_validation_changes_nothing(api, events, body, errors):
    project = create(api, hourly_rate="120.00")
    events.clear()
    response = api.patch(f"/projects/{project['id']}/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get(f"/projects/{project['id']}/").json() == project
    assert events == []


def test_patch_with_a_client_of_another_organisation(api, outsider, client_id):
    project = create(api, client_id=client_id)
    foreign = outsider.post("/clients/", {"name": "Initrode"}).json()["id"]
    response = api.patch(f"/projects/{project['id']}/", {"client_id": foreign})
    assert (response.status_code, response.json()) == (400, {"client_id": ["Client not found."]})
    assert api.get(f"/projects/{project['id']}/").json() == project


# --- visibility -----------------------------------------------------------------------------

def test_other_organisation_and_colleague_cannot_see_a_personal_project(api, colleague, outsider):
    project = create(api)
    for other in (colleague, outsider):
        assert other.get("/projects/").json() == []
        for response in (other.get(f"/projects/{project['id']}/"),
                         other.patch(f"/projects/{project['id']}/", {"name": "Hijacked"}),
                         other.patch(f"/projects/{project['id']}/", {"name": ""})):
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
        started = other.post("/sessions/", {"project_id": project["id"]})
        assert (started.status_code, started.json()) == (
            400, {"project_id": ["Project not found."]})
    assert api.get(f"/projects/{project['id']}/").json() == project


@pytest.fixture
def team(account, make_account, gateway):
    """A team of the default user and a colleague; another colleague of the organisation stays out."""
    member = make_account(organisation_id=account.organisation_id, email="jim@example.com")
    non_member = make_account(organisation_id=account.organisation_id, email="toby@example.com")
    team = accounts.create_team(account.organisation_id, "Sales")
    accounts.add_member(int(team.id), account.user_id)
    accounts.add_member(int(team.id), member.user_id)
    return {"id": int(team.id), "member": member, "member_api": ApiClient(gateway, member.token),
            "non_member_api": ApiClient(gateway, non_member.token)}


def test_team_members_see_team_projects(api, team, outsider):
    project = create(api, name="Team project")
    personal = create(api, name="Personal")
    member, non_member = team["member_api"], team["non_member_api"]
    assert member.get(f"/projects/{project['id']}/").status_code == 404
    assert member.get("/projects/").json() == []

    accounts.assign_project(project["id"], team["id"])
    assert member.get("/projects/").json() == [project]
    assert member.get(f"/projects/{project['id']}/").json() == project
    assert member.get(f"/projects/{personal['id']}/").status_code == 404
    assert api.get("/projects/").json() == [personal, project]
    for other in (non_member, outsider):
        assert other.get("/projects/").json() == []
        response = other.get(f"/projects/{project['id']}/")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    renamed = member.patch(f"/projects/{project['id']}/", {"name": "Team project v2"})
    assert renamed.status_code == 200
    assert api.get(f"/projects/{project['id']}/").json()["name"] == "Team project v2"
    assert non_member.patch(f"/projects/{project['id']}/", {"name": "x"}).status_code == 404


def test_team_member_projects_list_merges_own_and_team_projects_newest_first(api, team):
    member = team["member_api"]
    older = create(api, name="Older team project")
    own = create(member, name="Member's own")
    newer = create(api, name="Newer team project")
    for project in (older, newer):
        accounts.assign_project(project["id"], team["id"])
    assert [p["id"] for p in member.get("/projects/").json()] == [newer["id"], own["id"],
                                                                   older["id"]]


def test_leaving_the_team_or_unassigning_hides_the_project_again(api, team):
    project = create(api)
    accounts.assign_project(project["id"], team["id"])
    member = team["member_api"]
    assert member.get(f"/projects/{project['id']}/").status_code == 200
    accounts.remove_member(team["id"], team["member"].user_id)
    assert member.get(f"/projects/{project['id']}/").status_code == 404
    accounts.add_member(team["id"], team["member"].user_id)
    assert member.get(f"/projects/{project['id']}/").status_code == 200
    accounts.assign_project(project["id"], None)
    assert member.get("/projects/").json() == []
    assert api.get("/projects/").json() == [project]


def test_new_project_belongs_to_the_caller_only(api, team):
    project = create(team["member_api"], name="Jim's")
    assert api.get("/projects/").json() == []
    assert api.get(f"/projects/{project['id']}/").status_code == 404


# --- order ----------------------------------------------------------------------------------

def test_list_is_newest_first(api):
    created = [create(api, name=name) for name in ("first", "second", "third", "fourth")]
    listed = api.get("/projects/").json()
    assert listed == list(reversed(created))


def test_list_shows_current_values(api):
    project = create(api)
    api.patch(f"/projects/{project['id']}/", {"name": "Renamed", "is_active": True})
    assert api.get("/projects/").json() == [{**project, "name": "Renamed", "is_active": True}]


# --- events ---------------------------------------------------------------------------------

def test_create_fires_project_created_once(api, account, client_id, events):
    before = int(time.time())
    body = create(api, is_active=True, currency="eur", hourly_rate="120", client_id=client_id)
    assert [change.event for change in events] == ["project.created"]
    change = events[0]
    assert change.data == {"uuid": body["id"], "name": "Website redesign", "is_active": True,
                           "currency": "EUR", "hourly_rate": "120.00", "client_uuid": client_id}
    assert isinstance(change.occurred_at, int)
    assert before <= change.occurred_at <= int(time.time())
    assert account.user_id in change.audience.user_ids


def test_project_created_data_with_defaults(api, events):
    body = create(api)
    assert [(c.event, c.data) for c in events] == [("project.created", {
        "uuid": body["id"], "name": "Website redesign", "is_active": False, "currency": "USD",
        "hourly_rate": None, "client_uuid": None})]


def test_patch_and_reads_fire_nothing(api, events):
    project = create(api)
    events.clear()
    api.patch(f"/projects/{project['id']}/", {"name": "Renamed", "is_active": True})
    api.get("/projects/")
    api.get(f"/projects/{project['id']}/")
    assert events == []


def test_each_create_fires_its_own_event(api, events):
    ids = [create(api, name=f"p{i}")["id"] for i in range(3)]
    assert [(c.event, c.data["uuid"]) for c in events] == [("project.created", i) for i in ids]


@pytest.mark.parametrize("content_type,raw", [
    ("application/json; charset=latin-1", '{"name": "Caf\u00e9"}'.encode("latin-1")),
    ("application/json; charset=utf-16", '{"name": "Caf\u00e9"}'.encode("utf-16")),
    ("application/json;charset=UTF-8", '{"name": "Caf\u00e9"}'.encode()),
])
def test_the_declared_charset_is_used(api, content_type, raw):
    response = api.post("/projects/", body=raw, headers={"Content-Type": content_type})
    assert (response.status_code, response.json()["name"]) == (201, "Caf\u00e9")


@pytest.mark.parametrize("content_type,raw", [
    ("application/json; charset=klingon", b'{"name": "x"}'),
    ("application/json; charset=ascii", '{"name": "\u00e9"}'.encode()),
    ("application/json", b'{"name": "x", "hourly_rate": NaN}'),
    ("application/json", b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
])
def test_undecodable_or_non_standard_json_is_a_parse_error(api, content_type, raw):
    for headers in ({"Content-Type": content_type},
                    {"Content-Type": content_type, "Idempotency-Key": "deep"}):
        response = api.post("/projects/", body=raw, headers=headers)
        assert response.status_code == 400
        assert response.json()["detail"].startswith("JSON parse error - ")
    assert api.get("/projects/").json() == []
