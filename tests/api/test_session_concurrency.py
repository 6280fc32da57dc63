"""Concurrent closes of one running session through the gateway, against moto's server over HTTP.

Exactly one request closes the session (a conditional UpdateItem); the others get the
documented already-closed shape, and ``session.closed`` fires once.
"""
from __future__ import annotations

import pytest


THREADS = 10
ALREADY_CLOSED = "Session is already closed."


@pytest.fixture
def project(api) -> dict:
    """A project of the default user."""
    return api.post("/projects/", {"name": "Website redesign"}).json()


def test_aws_side_is_moto_over_http(aws):
    from chalicelib import aws as aws_clients
    assert aws_clients.client("dynamodb").meta.endpoint_url == aws


@pytest.mark.parametrize("round_", range(3))
def test_ten_concurrent_closes_close_once(api, project, events, round_, all_at_once):
    session = api.post("/sessions/", {"project_id": project["id"],
                                      "start_time": "2026-06-26T09:00:00Z"}).json()
    events.clear()
    path = f"/sessions/{session['id']}/close/"
    responses = all_at_once([lambda: api.post(path)] * THREADS)

    assert [r.status_code for r in responses] == [200] * THREADS
    bodies = [r.json() for r in responses]
    bare = [b for b in bodies if "detail" not in b]
    wrapped = [b for b in bodies if "detail" in b]
    assert len(bare) == 1 and len(wrapped) == THREADS - 1
    closed = bare[0]
    assert set(closed) == set(session)
    assert closed == {**session, "end_time": closed["end_time"], "is_active": False,
                      "total_seconds": closed["total_seconds"]}
    assert all(body == {"detail": ALREADY_CLOSED, "session": closed} for body in wrapped)
    assert len({b.get("session", b)["end_time"] for b in bodies}) == 1
    assert api.get(f"/sessions/{session['id']}/").json() == closed
    assert api.get("/sessions/?active=true").json() == []
    assert [(c.event, c.data["uuid"]) for c in events] == [("session.closed", session["id"])]
    assert events[0].data["end_time"] == closed["end_time"].replace("Z", "+00:00")


def test_concurrent_closes_and_patches_close_once(api, project, events, all_at_once):
    session = api.post("/sessions/", {"project_id": project["id"],
                                      "start_time": "2026-06-26T09:00:00Z"}).json()
    events.clear()
    path = f"/sessions/{session['id']}/"
    closes = [lambda: api.post(path + "close/")] * (THREADS // 2)
    patches = [lambda: api.patch(path, {"end_time": "2026-06-26T11:30:00Z"})] * (THREADS // 2)
    responses = all_at_once(closes + patches)

    assert [r.status_code for r in responses] == [200] * THREADS
    closes = [c for c in events if c.event == "session.closed"]
    assert [(c.event, c.data["uuid"]) for c in closes] == [("session.closed", session["id"])]
    assert {c.event for c in events} <= {"session.closed", "session.updated"}
    # Every PATCH applies (retrying after a concurrent close), so the end is the PATCH's.
    for response in responses[THREADS // 2:]:
        assert response.json()["end_time"] == "2026-06-26T11:30:00Z"
    final = api.get(path).json()
    assert (final["end_time"], final["is_active"]) == ("2026-06-26T11:30:00Z", False)
    # Whoever closed fired the one event: a close with its own time, or a PATCH with 11:30.
    bare_closes = [r.json() for r in responses[:THREADS // 2] if "detail" not in r.json()]
    assert len(bare_closes) <= 1
    closed_at = bare_closes[0]["end_time"] if bare_closes else "2026-06-26T11:30:00Z"
    assert closes[0].data["end_time"] == closed_at.replace("Z", "+00:00")


def test_concurrent_patches_of_end_time_all_apply_and_close_once(api, project, events,
                                                                   all_at_once):
    session = api.post("/sessions/", {"project_id": project["id"],
                                      "start_time": "2026-06-26T09:00:00Z"}).json()
    events.clear()
    path = f"/sessions/{session['id']}/"
    ends = [f"2026-06-26T1{i}:00:00Z" for i in range(THREADS)]
    responses = all_at_once([lambda end=end: api.patch(path, {"end_time": end}) for end in ends])

    assert [r.status_code for r in responses] == [200] * THREADS
    assert [r.json()["end_time"] for r in responses] == ends
    assert api.get(path).json()["end_time"] in ends
    closes = [c for c in events if c.event == "session.closed"]
    assert [(c.event, c.data["uuid"]) for c in closes] == [("session.closed", session["id"])]
    assert closes[0].data["end_time"].replace("+00:00", "Z") in ends
    assert {c.event for c in events} <= {"session.closed", "session.updated"}


def patch_after_rivals(api, project, monkeypatch, rivals: list) -> tuple:
    """PATCH a new running session's description while ``rivals`` (store calls on the
    session as the PATCH read it) run between each of its reads and its write; the
    response, the session and the end_time of each copy the PATCH wrote from."""
    from chalicelib.store import sessions as session_store
    session = api.post("/sessions/", {"project_id": project["id"]}).json()
    real_amend, tries = session_store.amend, []

    def amend_after_a_rival(found, changes):
        tries.append(found.end_time)
        if len(tries) <= len(rivals):
            rivals[len(tries) - 1](session_store, found)
        return real_amend(found, changes)

    with monkeypatch.context() as patched:
        patched.setattr(session_store, "amend", amend_after_a_rival)
        response = api.patch(f"/sessions/{session['id']}/", {"description": "changed"})
    return response, session, tries


def close_it(store, found):
    store.close(found.id, int(found.user_id), found.start_time)


def delete_it(store, found):
    assert store.delete(found.id, int(found.user_id))


def test_a_patch_that_loses_to_a_close_then_a_delete_answers_404_and_writes_nothing(
        api, project, events, monkeypatch):
    """The last race a PATCH can lose: the session is closed after it was read (so the
    PATCH reads it again) and deleted after that (so the second try finds nothing)."""
    events.clear()
    response, session, tries = patch_after_rivals(api, project, monkeypatch,
                                                  [close_it, delete_it])
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    assert tries[0] is None and tries[1] is not None  # the second try saw the closed session
    assert api.get(f"/sessions/{session['id']}/").status_code == 404
    # the rivals' events only
    assert [e.event for e in events] == ["session.created", "session.closed", "session.deleted"]


def test_a_patch_that_loses_to_a_close_applies_to_the_closed_session(api, project,
                                                                     monkeypatch):
    response, session, tries = patch_after_rivals(api, project, monkeypatch, [close_it])
    assert response.status_code == 200, response.text
    assert len(tries) == 2
    assert (response.json()["description"], response.json()["end_time"]) == (
        "changed", session["start_time"])
