"""``/clients/``: the reference's shapes, validation, PATCH, organisation sharing and name order."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import ApiClient

# The reference's examples, verbatim (Clients section).
REFERENCE_LIST_ITEM = {
    "id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "name": "Globex Corp",
    "company": "Globex",
    "email": "billing@globex.example",
    "hourly_rate": "150.00",
    "currency": "USD",
}
REFERENCE_CREATE_REQUEST = {"name": "Globex Corp", "email": "billing@globex.example"}

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NOT_FOUND = {"detail": "Not found."}
NO_ORGANISATION = {"detail": "You must belong to an organisation to manage clients."}
MISSING_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def assert_client_shape(body: dict) -> None:
    """Same keys as the reference's client, each with the reference's type."""
    assert set(body) == set(REFERENCE_LIST_ITEM)
    assert UUID4.fullmatch(body["id"])
    for name in ("name", "company", "email"):
        assert isinstance(body[name], str)
    assert body["hourly_rate"] is None or re.fullmatch(r"\d+\.\d\d", body["hourly_rate"])
    assert re.fullmatch(r"[A-Z]{3}", body["currency"])


def create(api: ApiClient, **fields) -> dict:
    response = api.post("/clients/", {"name": "Globex Corp", **fields})
    assert response.status_code == 201, response.text
    return response.json()


# --- success shapes -------------------------------------------------------------------------

def test_create_with_the_reference_example(api):
    response = api.post("/clients/", REFERENCE_CREATE_REQUEST)
    assert response.status_code == 201
    assert response.header("Content-Type") == "application/json"
    body = response.json()
    assert_client_shape(body)
    assert body == {"id": body["id"], "name": "Globex Corp", "company": "",
                    "email": "billing@globex.example", "hourly_rate": None, "currency": "USD"}
    assert api.get(f"/clients/{body['id']}/").json() == body
    assert api.get("/clients/").json() == [body]


def test_list_item_has_the_reference_shape(api):
    created = create(api, company="Globex", email="billing@globex.example",
                     hourly_rate="150.00", currency="USD")
    listed = api.get("/clients/")
    assert listed.status_code == 200
    assert listed.json() == [{**REFERENCE_LIST_ITEM, "id": created["id"]}]
    assert_client_shape(listed.json()[0])


def test_defaults(api):
    body = api.post("/clients/", {"name": "Globex Corp"}).json()
    assert body == {"id": body["id"], "name": "Globex Corp", "company": "", "email": "",
                    "hourly_rate": None, "currency": "USD"}


@pytest.mark.parametrize("sent, stored", [
    ({"name": "  Globex Corp  "}, {}),
    ({"company": "  Globex "}, {"company": "Globex"}),
    ({"company": ""}, {"company": ""}),
    ({"email": " billing@globex.example "}, {"email": "billing@globex.example"}),
    ({"email": ""}, {"email": ""}),
    ({"hourly_rate": 150}, {"hourly_rate": "150.00"}),
    ({"hourly_rate": "150.5"}, {"hourly_rate": "150.50"}),
    ({"hourly_rate": None}, {"hourly_rate": None}),
    ({"currency": "eur"}, {"currency": "EUR"}),
])
def test_create_normalises_values(api, sent, stored):
    body = api.post("/clients/", {"name": "Globex Corp", **sent}).json()
    expected = {"id": body["id"], "name": "Globex Corp", "company": "", "email": "",
                "hourly_rate": None, "currency": "USD", **stored}
    assert body == expected
    assert api.get(f"/clients/{body['id']}/").json() == expected


def test_read_only_and_unknown_fields_are_ignored(api):
    sent_id = str(uuid.uuid4())
    body = create(api, id=sent_id, organisation_id=999, created="2020-01-01T00:00:00Z", x=1)
    assert body["id"] != sent_id
    assert set(body) == set(REFERENCE_LIST_ITEM)
    assert api.get(f"/clients/{sent_id}/").status_code == 404


def test_creating_a_client_fires_no_event(api, events):
    create(api)
    assert events == []


# --- validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("body, errors", [
    ({}, {"name": ["This field is required."]}),
    ({"name": None}, {"name": ["This field may not be null."]}),
    ({"name": ""}, {"name": ["This field may not be blank."]}),
    ({"name": " \t "}, {"name": ["This field may not be blank."]}),
    ({"name": 42}, {"name": ["Not a valid string."]}),
    ({"name": "x" * 256}, {"name": ["Ensure this field has no more than 255 characters."]}),
    ({"name": "ok", "company": None}, {"company": ["This field may not be null."]}),
    ({"name": "ok", "company": False}, {"company": ["Not a valid string."]}),
    ({"name": "ok", "company": "c" * 256},
     {"company": ["Ensure this field has no more than 255 characters."]}),
    ({"name": "ok", "email": None}, {"email": ["This field may not be null."]}),
    ({"name": "ok", "email": "not-an-email"}, {"email": ["Enter a valid email address."]}),
    ({"name": "ok", "email": "a@b"}, {"email": ["Enter a valid email address."]}),
    ({"name": "ok", "email": "a" * 243 + "@example.com"},
     {"email": ["Ensure this field has no more than 254 characters."]}),
    ({"name": "ok", "email": 5}, {"email": ["Not a valid string."]}),
    ({"name": "ok", "hourly_rate": "abc"}, {"hourly_rate": ["A valid number is required."]}),
    ({"name": "ok", "hourly_rate": "1.005"},
     {"hourly_rate": ["Ensure that there are no more than 2 decimal places."]}),
    ({"name": "ok", "hourly_rate": "12345678901"},
     {"hourly_rate": ["Ensure that there are no more than 10 digits in total."]}),
    ({"name": "ok", "hourly_rate": "-1"},
     {"hourly_rate": ["Ensure this value is greater than or equal to 0."]}),
    ({"name": "ok", "hourly_rate": {"amount": 1}}, {"hourly_rate": ["A valid number is required."]}),
    ({"name": "ok", "currency": None}, {"currency": ["This field may not be null."]}),
    ({"name": "ok", "currency": "US"}, {"currency": ['"US" is not a valid choice.']}),
    ({"name": "", "company": 1, "email": "x", "hourly_rate": "-1", "currency": ""},
     {"name": ["This field may not be blank."], "company": ["Not a valid string."],
      "email": ["Enter a valid email address."],
      "hourly_rate": ["Ensure this value is greater than or equal to 0."],
      "currency": ["This field may not be blank."]}),
], ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None)
def test_create_validation(api, body, errors):
    response = api.post("/clients/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get("/clients/").json() == []


def test_email_of_254_characters_is_accepted(api):
    email = "a" * 242 + "@example.com"
    assert create(api, email=email)["email"] == email


def test_json_errors(api):
    raw = api.post("/clients/", body=b'{"name": "Globex",}',
                   headers={"Content-Type": "application/json"})
    assert (raw.status_code, raw.json()) == (400, {
        "detail": "JSON parse error - Expecting property name enclosed in double quotes: "
                  "line 1 column 19 (char 18)"})
    listed = api.post("/clients/", ["Globex"])
    assert (listed.status_code, listed.json()) == (
        400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    plain = api.post("/clients/", body=b'{"name": "Globex"}',
                     headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()) == (
        415, {"detail": 'Unsupported media type "text/plain" in request.'})
    assert api.get("/clients/").json() == []


# --- paths ----------------------------------------------------------------------------------

def test_trailing_slash_is_optional(api):
    created = api.post("/clients", {"name": "Globex Corp"})
    assert created.status_code == 201
    client = created.json()
    assert api.get("/clients").json() == [client]
    assert api.get(f"/clients/{client['id']}").json() == client
    assert api.patch(f"/clients/{client['id']}", {"company": "Globex"}).json() == {
        **client, "company": "Globex"}


@pytest.mark.parametrize("client_id", [MISSING_ID, "not-a-uuid", "7", MISSING_ID.replace("-", "")])
def test_unknown_or_malformed_ids_are_404(api, client_id):
    create(api)
    for response in (api.get(f"/clients/{client_id}/"),
                     api.patch(f"/clients/{client_id}/", {"name": "x"})):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_there_is_no_delete(api):
    client = create(api)
    response = api.delete(f"/clients/{client['id']}/")
    assert (response.status_code, response.json()) == (
        405, {"detail": 'Method "DELETE" not allowed.'})
    assert response.header("Allow") == "GET, HEAD, OPTIONS, PATCH"
    assert api.get(f"/clients/{client['id']}/").json() == client


# --- PATCH ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, changed", [
    ({"name": " Globex Corporation "}, {"name": "Globex Corporation"}),
    ({"company": "Globex Inc."}, {"company": "Globex Inc."}),
    ({"company": ""}, {"company": ""}),
    ({"email": "ap@globex.example"}, {"email": "ap@globex.example"}),
    ({"email": ""}, {"email": ""}),
    ({"hourly_rate": None}, {"hourly_rate": None}),
    ({"hourly_rate": "99"}, {"hourly_rate": "99.00"}),
    ({"currency": "eur"}, {"currency": "EUR"}),
    ({}, {}),
    ({"id": MISSING_ID, "organisation_id": 1, "other": 2}, {}),
])
def test_patch_changes_only_the_sent_fields(api, sent, changed):
    client = create(api, company="Globex", email="billing@globex.example", hourly_rate="150.00")
    response = api.patch(f"/clients/{client['id']}/", sent)
    assert response.status_code == 200
    assert response.json() == {**client, **changed}
    assert api.get(f"/clients/{client['id']}/").json() == {**client, **changed}


@pytest.mark.parametrize("body, errors", [
    ({"name": None}, {"name": ["This field may not be null."]}),
    ({"name": ""}, {"name": ["This field may not be blank."]}),
    ({"name": "x" * 256}, {"name": ["Ensure this field has no more than 255 characters."]}),
    ({"company": None}, {"company": ["This field may not be null."]}),
    ({"email": "nope"}, {"email": ["Enter a valid email address."]}),
    ({"hourly_rate": "abc"}, {"hourly_rate": ["A valid number is required."]}),
    ({"hourly_rate": "1.005"},
     {"hourly_rate": ["Ensure that there are no more than 2 decimal places."]}),
    ({"hourly_rate": "12345678901"},
     {"hourly_rate": ["Ensure that there are no more than 10 digits in total."]}),
    ({"hourly_rate": "-1"}, {"hourly_rate": ["Ensure this value is greater than or equal to 0."]}),
    ({"currency": None}, {"currency": ["This field may not be null."]}),
    ({"currency": "€€€"}, {"currency": ['"€€€" is not a valid choice.']}),
    ({"name": 1, "email": "@"},
     {"name": ["Not a valid string."], "email": ["Enter a valid email address."]}),
], ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None)
def test_patch_validation_changes_nothing(api, body, errors):
    client = create(api, hourly_rate="150.00")
    response = api.patch(f"/clients/{client['id']}/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get(f"/clients/{client['id']}/").json() == client
    assert api.get("/clients/").json() == [client]


def test_patch_json_errors(api):
    client = create(api)
    path = f"/clients/{client['id']}/"
    assert api.patch(path, body=b"[", headers={"Content-Type": "application/json"}).json() == {
        "detail": "JSON parse error - Expecting value: line 1 column 2 (char 1)"}
    assert api.patch(path, "x").json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}
    assert api.patch(path, body=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert api.get(path).json() == client


# --- order ----------------------------------------------------------------------------------

def test_list_is_ordered_by_name_case_insensitively(api):
    created = {name: create(api, name=name) for name in ("charlie", "Beta", "alpha")}
    assert [c["name"] for c in api.get("/clients/").json()] == ["alpha", "Beta", "charlie"]
    assert api.get("/clients/").json() == [created[n] for n in ("alpha", "Beta", "charlie")]


def test_equal_names_are_ordered_by_id(api):
    ids = [create(api, name=name)["id"] for name in ("Same", "same", "SAME")]
    assert [c["id"] for c in api.get("/clients/").json()] == sorted(ids)


def test_renaming_moves_a_client_in_the_list(api):
    alpha, beta = create(api, name="alpha"), create(api, name="Beta")
    api.patch(f"/clients/{alpha['id']}/", {"name": "Zulu"})
    assert [c["id"] for c in api.get("/clients/").json()] == [beta["id"], alpha["id"]]


# --- organisation sharing -------------------------------------------------------------------

def test_clients_are_shared_inside_the_organisation(api, colleague):
    client = create(api)
    assert colleague.get("/clients/").json() == [client]
    assert colleague.get(f"/clients/{client['id']}/").json() == client
    patched = colleague.patch(f"/clients/{client['id']}/", {"company": "Globex"})
    assert patched.json() == {**client, "company": "Globex"}
    theirs = create(colleague, name="Acme")
    assert [c["id"] for c in api.get("/clients/").json()] == [theirs["id"], client["id"]]
    project = colleague.post("/projects/", {"name": "Audit", "client_id": client["id"]})
    assert (project.status_code, project.json()["client_id"]) == (201, client["id"])


def test_other_organisations_see_nothing(api, outsider):
    client = create(api)
    assert outsider.get("/clients/").json() == []
    for response in (outsider.get(f"/clients/{client['id']}/"),
                     outsider.patch(f"/clients/{client['id']}/", {"name": "Mine"}),
                     outsider.patch(f"/clients/{client['id']}/", {"name": ""})):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    theirs = create(outsider, name="Initrode")
    assert api.get("/clients/").json() == [client]
    assert api.get(f"/clients/{theirs['id']}/").json() == NOT_FOUND
    assert outsider.get("/clients/").json() == [theirs]


def test_user_without_organisation_lists_nothing_and_cannot_create(api, solo):
    client = create(api)
    assert (solo.get("/clients/").status_code, solo.get("/clients/").json()) == (200, [])
    for body in ({"name": "Globex Corp"}, {}, {"name": ""}, {"name": 1, "email": "x"}, ["x"]):
        response = solo.post("/clients/", body)
        assert (response.status_code, response.json()) == (403, NO_ORGANISATION), body
    for response in (solo.get(f"/clients/{client['id']}/"),
                     solo.patch(f"/clients/{client['id']}/", {"name": "Mine"}),
                     solo.get("/clients/not-a-uuid/")):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert solo.get("/clients/").json() == []
    assert api.get("/clients/").json() == [client]


@pytest.mark.parametrize("raw, headers", [
    (b"{not json", {"Content-Type": "application/json"}),
    (b'{"name": "Globex"}', {"Content-Type": "text/plain"}),
])
def test_no_organisation_403_comes_before_parsing_the_body(solo, raw, headers):
    response = solo.post("/clients/", body=raw, headers=headers)
    assert (response.status_code, response.json()) == (403, NO_ORGANISATION)


def test_a_name_of_255_wide_characters_is_stored_and_listed(api):
    """255 characters of 4 UTF-8 bytes each: the index's sort key stays under DynamoDB's cap."""
    name = "\U0001F600" * 255
    created = api.post("/clients/", {"name": name})
    assert created.status_code == 201
    other = api.post("/clients/", {"name": "\U0001F600" * 254 + "a"}).json()
    names = [c["name"] for c in api.get("/clients/").json()]
    assert sorted(names) == sorted([name, other["name"]])
    assert names == sorted(names, key=str.casefold)
    from chalicelib.store.clients import Client
    assert len(Client.sort_key(name, created.json()["id"])) <= 1024
