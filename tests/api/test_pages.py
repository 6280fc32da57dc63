"""Pages on every list (SPEC section 7): ``page_size``, ``Link: <next>; rel="next"``, cursors.

Each list is walked page by page with several page sizes; the pages together must be the
complete list, in its order, each item once, the last page without a ``Link`` and never
an empty page. Cursors are opaque, bound to their list, filters and key.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.domain import pages
from chalicelib.services import accounts
from tests.conftest import ApiClient

LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')
INVALID_CURSOR = {"detail": "Invalid cursor"}
START = datetime(2026, 6, 1, 9, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def next_url(response) -> str | None:
    link = response.header("Link")
    if link is None:
        return None
    match = LINK.fullmatch(link)
    assert match, link
    return match["url"]


def walk(api: ApiClient, path: str, page_size: int, limit: int = 500) -> list[list]:
    """Every page of a list, following ``Link``; returns the pages."""
    separator = "&" if "?" in path else "?"
    response = api.get(f"{path}{separator}page_size={page_size}")
    found = []
    for _ in range(limit):
        assert response.status_code == 200, response.text
        page = response.json()
        assert isinstance(page, list) and len(page) <= page_size
        found.append(page)
        url = next_url(response)
        if url is None:
            return found
        assert page, "a page with a next page is never empty"
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.netloc == "localhost"
        query = parse_qs(parts.query)
        assert query["page_size"] == [str(page_size)] and len(query["cursor"]) == 1
        response = api.get(f"{parts.path}?{parts.query}")
    raise AssertionError("too many pages")


def assert_pages_make_the_list(api: ApiClient, path: str, sizes=(1, 2, 3, 7, 1000)) -> list:
    """Pages of every size make the complete list; pages before the last hold exactly
    ``page_size`` items."""
    complete = api.get(path)
    assert complete.status_code == 200 and complete.header("Link") is None
    everything = complete.json()
    for size in sizes:
        found = walk(api, path, size)
        assert [item for page in found for item in page] == everything, size
        assert all(len(page) == size for page in found[:-1])
        assert found[-1] or everything == []  # only an empty list has an empty (first) page
    return everything


# --- every list -------------------------------------------------------------------------

@pytest.fixture
def sessions(api) -> list[dict]:
    """Two projects, sessions with shared start times (ties), running and closed."""
    first = api.post("/projects/", {"name": "Site"}).json()["id"]
    second = api.post("/projects/", {"name": "Intranet"}).json()["id"]
    made = []
    for n in range(9):
        start = START + timedelta(hours=n // 3)  # three sessions share each start time
        body = {"project_id": first if n % 2 else second, "start_time": iso(start)}
        if n % 4:
            body["end_time"] = iso(start + timedelta(minutes=30))
        made.append(api.post("/sessions/", body).json())
    return made


def session_filters(project: str) -> tuple[str, ...]:
    return ("", "?active=true", "?active=false", f"?project_id={project}",
            f"?project_id={project}&active=false", f"?project_id={project}&active=true",
            f"?started_after={iso(START + timedelta(hours=1))}",
            f"?started_before={iso(START + timedelta(hours=2))}&active=false")


def test_sessions_pages_in_every_filter(api, sessions):
    project = sessions[0]["project_id"]  # three running sessions and two closed ones
    for query in session_filters(project):
        listed = assert_pages_make_the_list(api, f"/sessions/{query}")
        assert listed, query


def test_ties_are_ordered_by_id_descending_across_pages(api, sessions):
    listed = assert_pages_make_the_list(api, "/sessions/")
    keys = [(s["start_time"], s["id"]) for s in listed]
    assert keys == sorted(keys, reverse=True)


def test_projects_of_owner_and_teams_merge_in_order(api, account, make_account, gateway):
    member = make_account(organisation_id=account.organisation_id, email="jim@example.com")
    team = accounts.create_team(account.organisation_id, "Sales")
    accounts.add_member(int(team.id), account.user_id)
    mate = ApiClient(gateway, member.token)
    for n in range(5):
        api.post("/projects/", {"name": f"Mine {n}"})
        shared = mate.post("/projects/", {"name": f"Team {n}"}).json()["id"]
        accounts.assign_project(shared, int(team.id))
        mate.post("/projects/", {"name": f"Jim's own {n}"})
    listed = assert_pages_make_the_list(api, "/projects/")
    assert len(listed) == 10


def test_clients_invoices_webhooks_and_line_items_page(api):
    for name in ("beta", "Alpha", "gamma", "Delta", "alpha"):
        api.post("/clients/", {"name": name})
    clients = assert_pages_make_the_list(api, "/clients/")
    assert [c["name"].casefold() for c in clients] == ["alpha", "alpha", "beta", "delta",
                                                       "gamma"]
    assert clients[0]["id"] < clients[1]["id"]  # a tie in name: by id
    client = clients[0]["id"]
    for n in range(4):
        project = api.post("/projects/", {"name": f"P{n}", "client_id": client}).json()["id"]
        api.post("/sessions/", {"project_id": project, "start_time": "2026-06-02T09:00:00Z",
                                "end_time": "2026-06-02T10:00:00Z"})
    invoices = [api.post("/invoices/", {"client_id": client, "period_start": "2026-06-01",
                                        "period_end": "2026-06-30"}).json() for _ in range(3)]
    api.post(f"/invoices/{invoices[0]['id']}/mark_paid/")
    assert len(assert_pages_make_the_list(api, "/invoices/")) == 3
    assert len(assert_pages_make_the_list(api, "/invoices/?status=draft")) == 2
    assert len(assert_pages_make_the_list(api, f"/invoices/?client_id={client}&status=paid")) == 1
    assert len(assert_pages_make_the_list(api, f"/invoices/?client_id={client}")) == 3
    lines = assert_pages_make_the_list(api, f"/invoices/{invoices[1]['id']}/line_items/")
    assert [line["project_name"] for line in lines] == ["P0", "P1", "P2", "P3"]
    for n in range(4):
        api.post("/webhooks/", {"event": "session.closed", "target_url": f"http://127.0.0.1:9/{n}"})
    assert len(assert_pages_make_the_list(api, "/webhooks/")) == 4


def test_an_empty_list_is_one_empty_page(api):
    response = api.get("/webhooks/?page_size=10")
    assert (response.status_code, response.json(), response.header("Link")) == (200, [], None)


def test_every_page_of_every_filter_reads_one_query_page_per_index(api, sessions,
                                                                    monkeypatch):
    """SPEC section 7: each filter is a key condition, so no page reads on past one Query
    page (its size and one more, to know there is a next) of each index it reads."""
    from chalicelib.store import pages as store_pages
    client = api.post("/clients/", {"name": "Acme"}).json()["id"]
    project = api.post("/projects/", {"name": "Billed", "client_id": client}).json()["id"]
    api.post("/sessions/", {"project_id": project, "start_time": "2026-06-02T09:00:00Z",
                            "end_time": "2026-06-02T10:00:00Z"})
    invoices = [api.post("/invoices/", {"client_id": client, "period_start": "2026-06-01",
                                        "period_end": "2026-06-30"}).json() for _ in range(4)]
    api.post(f"/invoices/{invoices[0]['id']}/send/")
    api.post(f"/invoices/{invoices[1]['id']}/mark_paid/")
    calls = []
    real = store_pages._query

    def counted(source, descending, limit, start):
        calls.append((source.index.Meta.index_name if source.index else "table", limit))
        return real(source, descending, limit, start)

    monkeypatch.setattr(store_pages, "_query", counted)
    lists = [f"/sessions/{q}" for q in session_filters(sessions[0]["project_id"])] + [
        f"/invoices/{q}" for q in ("", "?status=draft", f"?client_id={client}",
                                   f"?client_id={client}&status=sent")]
    for path in lists:
        for size in (1, 2):
            separator = "&" if "?" in path else "?"
            response = api.get(f"{path}{separator}page_size={size}")
            for _ in range(20):
                assert response.status_code == 200, response.text
                indexes = [index for index, _ in calls]
                assert len(indexes) == len(set(indexes)), (path, calls)
                assert {limit for _, limit in calls} == {size + 1}, (path, calls)
                calls.clear()
                url = next_url(response)
                if url is None:
                    break
                parts = urlsplit(url)
                response = api.get(f"{parts.path}?{parts.query}")
            else:
                raise AssertionError(f"too many pages of {path}")


# --- the query parameters ----------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ("0", "Ensure this value is greater than or equal to 1."),
    ("1001", "Ensure this value is less than or equal to 1000."),
    ("-3", "Ensure this value is greater than or equal to 1."),
    ("ten", "A valid integer is required."),
    ("1.5", "A valid integer is required."),
    ("", "A valid integer is required."),
])
def test_bad_page_sizes(api, value, message):
    for path in ("/projects/", "/sessions/", "/clients/", "/invoices/", "/webhooks/"):
        response = api.get(f"{path}?page_size={value}")
        assert (response.status_code, response.json()) == (400, {"page_size": [message]})


def test_page_size_and_filter_errors_are_reported_together(api):
    response = api.get("/sessions/?page_size=0&active=maybe")
    assert response.status_code == 400
    assert set(response.json()) == {"page_size", "active"}


def test_the_largest_page_size_is_1000(api, sessions):
    response = api.get("/sessions/?page_size=1000")
    assert response.status_code == 200 and len(response.json()) == len(sessions)


def test_started_after_and_before_select_a_window(api, sessions):
    after, before = START + timedelta(hours=1), START + timedelta(hours=2)
    listed = api.get(f"/sessions/?started_after={iso(after)}&started_before={iso(before)}").json()
    assert {s["start_time"] for s in listed} == {iso(after)}  # after is inclusive, before is not
    offset = api.get("/sessions/?started_after=2026-06-01T12:00:00%2B02:00").json()
    assert {s["start_time"] for s in offset} == {iso(START + timedelta(hours=1)),
                                                iso(START + timedelta(hours=2))}
    assert api.get(f"/sessions/?started_after={iso(before)}&started_before={iso(after)}"
                   ).json() == []


@pytest.mark.parametrize("name", ["started_after", "started_before"])
def test_bad_time_filters(api, name):
    response = api.get(f"/sessions/?{name}=yesterday")
    assert response.status_code == 400
    assert response.json() == {name: ["Datetime has wrong format. Use one of these formats "
                                      "instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}


# --- cursors ------------------------------------------------------------------------------

def cursor_of(response) -> str:
    return parse_qs(urlsplit(next_url(response)).query)["cursor"][0]


def test_a_cursor_keeps_its_filters_and_is_refused_for_another(api, sessions):
    first = api.get("/sessions/?active=false&page_size=1")
    cursor = cursor_of(first)
    assert "active=false" in next_url(first)
    assert api.get(f"/sessions/?active=false&page_size=1&cursor={cursor}").status_code == 200
    # the same cursor with another page size is fine; with other filters or on another
    # list it is refused
    assert api.get(f"/sessions/?active=false&page_size=3&cursor={cursor}").status_code == 200
    for other in (f"/sessions/?page_size=1&cursor={cursor}",
                  f"/sessions/?active=true&page_size=1&cursor={cursor}",
                  f"/projects/?page_size=1&cursor={cursor}"):
        response = api.get(other)
        assert (response.status_code, response.json()) == (404, INVALID_CURSOR), other


def test_another_keys_cursor_is_refused(api, sessions, gateway, account):
    from chalicelib.services import accounts as operator
    _, token = operator.create_key(account.user_id, "Second", "read")
    cursor = cursor_of(api.get("/sessions/?page_size=1"))
    same_user = ApiClient(gateway, token).get(f"/sessions/?page_size=1&cursor={cursor}")
    assert (same_user.status_code, same_user.json()) == (404, INVALID_CURSOR)


@pytest.mark.parametrize("tamper", [
    lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),      # the signature
    lambda c: "x" + c[1:],                                   # the body
    lambda c: c.split(".")[0],                               # no signature
    lambda c: "made-up",
    lambda c: "",
    lambda c: "%00%ff",
])
def test_an_edited_or_made_up_cursor_is_refused(api, sessions, tamper):
    cursor = cursor_of(api.get("/sessions/?page_size=1"))
    response = api.get(f"/sessions/?page_size=1&cursor={tamper(cursor)}")
    assert (response.status_code, response.json()) == (404, INVALID_CURSOR)


def test_a_cursor_cannot_be_forged_into_another_tenants_data(api, outsider, sessions):
    """A cursor signed for the outsider names the outsider's positions; re-signed content
    is impossible without the stage's secret, and a correct-looking body fails its MAC."""
    theirs = outsider.post("/projects/", {"name": "Theirs"}).json()["id"]
    for _ in range(3):
        outsider.post("/sessions/", {"project_id": theirs})
    their_cursor = cursor_of(outsider.get("/sessions/?page_size=1"))
    response = api.get(f"/sessions/?page_size=1&cursor={their_cursor}")
    assert (response.status_code, response.json()) == (404, INVALID_CURSOR)
    body, _signature = their_cursor.split(".")
    forged = f"{body}.{pages._b64(b'0' * 16)}"
    assert api.get(f"/sessions/?page_size=1&cursor={forged}").status_code == 404


def test_a_cursor_without_page_size_keeps_the_size_it_was_issued_with(api, sessions):
    first = api.get("/sessions/?page_size=2")
    second = api.get(f"/sessions/?cursor={cursor_of(first)}")
    assert second.status_code == 200
    assert second.json() == api.get(next_url(first).split("/api/v1", 1)[1]).json()
    assert len(second.json()) == 2
