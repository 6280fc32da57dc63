"""``store.sessions`` at its interface: conditional closes and amendments, races, lists."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from chalicelib.store import sessions as store
from chalicelib.store.sessions import AlreadyClosed, Closed, Missing, NotStarted, Session
from chalicelib.store.pages import read_all

UTC = timezone.utc
NINE = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)
ALICE, BOB = 1, 2
PROJECT = "project-a"


def start(user_id: int = ALICE, *, at: datetime = NINE, end: datetime | None = None,
          project_id: str = PROJECT, description: str = "") -> Session:
    """A session stored through the store (running unless ``end`` is given)."""
    return store.create(user_id=user_id, project_id=project_id, start_time=at, end_time=end,
                        description=description, started_via="api")


def running_ids(user_id: int = ALICE) -> list[str]:
    return [s.id for s in read_all(store.listing(user_id, active=True))]


# --- create and get ---------------------------------------------------------------------

def test_create_stores_a_running_session_in_the_running_index():
    session = start(description="Kick-off")
    stored = store.get_session(session.id)
    assert (stored.user_id, stored.project_id, stored.start_time, stored.end_time,
            stored.description, stored.started_via) == (ALICE, PROJECT, NINE, None, "Kick-off",
                                                        "api")
    assert stored.is_active and stored.total_seconds == 0
    assert running_ids() == [session.id]


def test_create_of_a_closed_session_keeps_it_out_of_the_running_index():
    session = start(end=NINE + timedelta(hours=1, seconds=30))
    assert store.get_session(session.id).total_seconds == 3630
    assert running_ids() == []
    assert [s.id for s in read_all(store.listing(ALICE, active=False))] == [session.id]


def test_get_of_an_unknown_id_is_none():
    assert store.get_session(str(uuid.uuid4())) is None


# --- close --------------------------------------------------------------------------------

def test_close_ends_the_session_in_one_update(dynamodb_calls):
    session = start()
    dynamodb_calls.clear()
    result = store.close(session.id, ALICE, NINE + timedelta(hours=2))
    assert isinstance(result, Closed)
    assert dynamodb_calls.operations == ["UpdateItem"]
    # the update's answer is the whole session, not just what changed
    assert (result.session.id, result.session.project_id, result.session.start_time,
            result.session.end_time) == (session.id, PROJECT, NINE, NINE + timedelta(hours=2))
    assert store.get_session(session.id).end_time == NINE + timedelta(hours=2)
    assert running_ids() == []


def test_close_at_the_start_itself_closes():
    session = start()
    result = store.close(session.id, ALICE, NINE)
    assert isinstance(result, Closed) and result.session.total_seconds == 0


def test_close_before_the_start_is_not_started_and_leaves_it_running():
    session = start()
    result = store.close(session.id, ALICE, NINE - timedelta(microseconds=1))
    assert isinstance(result, NotStarted)
    assert result.session.id == session.id and result.session.end_time is None
    assert running_ids() == [session.id]


def test_close_of_a_closed_session_is_already_closed_with_the_first_end(dynamodb_calls):
    session = start()
    store.close(session.id, ALICE, NINE + timedelta(hours=1))
    dynamodb_calls.clear()
    result = store.close(session.id, ALICE, NINE + timedelta(hours=5))
    assert isinstance(result, AlreadyClosed)
    assert result.session.end_time == NINE + timedelta(hours=1)
    assert dynamodb_calls.operations == ["UpdateItem", "GetItem"]
    assert store.get_session(session.id).end_time == NINE + timedelta(hours=1)


def test_close_of_a_session_logged_closed_is_already_closed():
    session = start(end=NINE + timedelta(minutes=5))
    result = store.close(session.id, ALICE, NINE + timedelta(hours=1))
    assert isinstance(result, AlreadyClosed)
    assert result.session.end_time == NINE + timedelta(minutes=5)


def test_close_of_another_users_session_is_missing_and_changes_nothing():
    running = start(BOB)
    closed = start(BOB, end=NINE + timedelta(hours=1))
    assert store.close(running.id, ALICE, NINE + timedelta(hours=2)) == Missing()
    # a closed session of someone else is not "already closed" to this user: it is not theirs
    assert store.close(closed.id, ALICE, NINE + timedelta(hours=2)) == Missing()
    assert running_ids(BOB) == [running.id]


def test_close_of_an_unknown_session_is_missing_and_creates_nothing():
    session_id = str(uuid.uuid4())
    assert store.close(session_id, ALICE, NINE) == Missing()
    assert store.get_session(session_id) is None


def test_twenty_concurrent_closes_close_exactly_once(all_at_once):
    session = start()
    ends = [NINE + timedelta(minutes=m) for m in range(1, 21)]
    results = all_at_once([lambda at=at: store.close(session.id, ALICE, at) for at in ends])

    winners = [r for r in results if isinstance(r, Closed)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyClosed) for r in results if r is not winners[0])
    end_time = winners[0].session.end_time
    assert end_time in ends
    assert {r.session.end_time for r in results} == {end_time}
    assert store.get_session(session.id).end_time == end_time


# --- amend --------------------------------------------------------------------------------

def test_amend_of_a_running_session_keeps_it_running():
    session = start()
    updated = store.amend(session, {"description": "Design review", "project_id": "project-b"})
    assert updated is not None and updated.end_time is None
    stored = store.get_session(session.id)
    assert (stored.description, stored.project_id) == ("Design review", "project-b")
    assert running_ids() == [session.id]


def test_amend_setting_end_time_closes_and_leaves_the_running_index():
    session = start()
    updated = store.amend(session, {"end_time": NINE + timedelta(hours=3)})
    assert updated.end_time == NINE + timedelta(hours=3) and updated.total_seconds == 3 * 3600
    assert running_ids() == []
    assert store.get_session(session.id).end_time == NINE + timedelta(hours=3)


def listed_under(session_id: str) -> set[tuple]:
    """Every (active, project) list of ALICE's that shows the session."""
    return {(active, project) for active in (True, False) for project in (PROJECT, "project-b")
            if session_id in [s.id for s in read_all(store.listing(ALICE, active=active,
                                                               project_id=project))]}


def test_a_close_from_a_stale_read_lists_the_session_under_its_stored_project():
    """A PATCH moved the running session to another project after this copy was read; a
    PATCH closing it from the copy must not file it under the project it was read with."""
    stale = start()
    store.amend(store.get_session(stale.id), {"project_id": "project-b"})
    assert store.amend(stale, {"end_time": NINE + timedelta(hours=1)}) is not None
    assert listed_under(stale.id) == {(False, "project-b")}
    [closed] = read_all(store.listing(ALICE, active=False))
    assert closed.project_id == "project-b"


def test_each_state_stores_one_pair_of_list_keys():
    session = start()
    keys = ("running_user_id", "running_user_project", "closed_user_id", "closed_user_project")
    assert [getattr(store.get_session(session.id), k) for k in keys] == [
        ALICE, f"{ALICE}#{PROJECT}", None, None]
    store.close(session.id, ALICE, NINE + timedelta(hours=1))
    assert [getattr(store.get_session(session.id), k) for k in keys] == [
        None, None, ALICE, f"{ALICE}#{PROJECT}"]
    store.amend(store.get_session(session.id), {"project_id": "project-b"})
    assert listed_under(session.id) == {(False, "project-b")}


def test_amend_after_a_concurrent_close_is_none_and_writes_nothing():
    read = start(description="as read")
    store.close(read.id, ALICE, NINE + timedelta(hours=1))
    assert store.amend(read, {"description": "stale"}) is None
    assert store.amend(read, {"end_time": NINE + timedelta(hours=4)}) is None
    stored = store.get_session(read.id)
    assert (stored.description, stored.end_time) == ("as read", NINE + timedelta(hours=1))


def test_amendments_of_a_closed_session_do_not_conflict():
    closed = start(end=NINE + timedelta(hours=1))
    first, second = store.get_session(closed.id), store.get_session(closed.id)
    assert store.amend(first, {"description": "first"}) is not None
    assert store.amend(second, {"end_time": NINE + timedelta(hours=2)}) is not None
    stored = store.get_session(closed.id)
    assert (stored.description, stored.end_time) == ("first", NINE + timedelta(hours=2))


def test_amend_of_a_deleted_session_is_none_and_does_not_recreate_it():
    session = start()
    assert store.delete(session.id, ALICE)
    assert store.amend(session, {"description": "ghost"}) is None
    assert store.get_session(session.id) is None


def test_amend_of_a_stale_copy_claiming_another_user_is_none():
    session = start(BOB)
    forged = store.get_session(session.id)
    forged.user_id = ALICE
    assert store.amend(forged, {"description": "not mine"}) is None
    assert store.get_session(session.id).description == ""


# --- delete -------------------------------------------------------------------------------

def test_delete_by_the_owner_removes_it_once():
    session = start()
    assert store.delete(session.id, ALICE) is True
    assert store.get_session(session.id) is None
    assert store.delete(session.id, ALICE) is False


def test_delete_by_another_user_is_false_and_keeps_it():
    session = start(BOB)
    assert store.delete(session.id, ALICE) is False
    assert store.get_session(session.id) is not None


def test_delete_of_an_unknown_id_is_false():
    assert store.delete(str(uuid.uuid4()), ALICE) is False


# --- lists --------------------------------------------------------------------------------

def test_sessions_of_lists_newest_start_first_with_ties_by_id_descending(dynamodb_calls):
    early = start(at=NINE)
    tied = [start(at=NINE + timedelta(hours=1)) for _ in range(3)]
    late = start(at=NINE + timedelta(hours=2), end=NINE + timedelta(hours=3))
    start(BOB, at=NINE + timedelta(hours=5))
    dynamodb_calls.clear()
    listed = [s.id for s in read_all(store.listing(ALICE))]
    assert listed == [late.id, *sorted((s.id for s in tied), reverse=True), early.id]
    assert dynamodb_calls.operations == ["Query", "Query"]  # the running and the closed ones


def test_sessions_of_filters_by_state_and_project():
    running_a = start(at=NINE)
    closed_a = start(at=NINE + timedelta(hours=1), end=NINE + timedelta(hours=2))
    running_b = start(at=NINE + timedelta(hours=3), project_id="project-b")
    closed_b = start(at=NINE + timedelta(hours=4), end=NINE + timedelta(hours=5),
                     project_id="project-b")

    def ids(**query) -> list[str]:
        return [s.id for s in read_all(store.listing(ALICE, **query))]

    assert ids(active=True) == [running_b.id, running_a.id]
    assert ids(active=False) == [closed_b.id, closed_a.id]
    assert ids(project_id="project-b") == [closed_b.id, running_b.id]
    assert ids(active=True, project_id=PROJECT) == [running_a.id]
    assert ids(active=False, project_id=PROJECT) == [closed_a.id]
    assert ids(active=True, project_id="project-c") == []
    assert read_all(store.listing(BOB)) == []


# --- closed_spans: what invoicing reads -------------------------------------------------

WINDOW_START = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 7, 1, tzinfo=UTC)


def spans(project_id: str = PROJECT, earliest: datetime = WINDOW_START - timedelta(hours=4)):
    return sorted((s.start_time, s.end_time)
                  for s in store.closed_spans(project_id, earliest, WINDOW_END, WINDOW_START))


def test_closed_spans_bounds_starts_and_ends():
    earliest = WINDOW_START - timedelta(hours=4)
    second = timedelta(seconds=1)
    kept = [
        (earliest, WINDOW_START + second),                   # starts at the earliest start
        (WINDOW_START, WINDOW_START + second),                # ends just after ends_after
        (WINDOW_END - second, WINDOW_END + timedelta(hours=2)),   # starts just before ``before``
    ]
    dropped = [
        (earliest - second, WINDOW_START + timedelta(hours=1)),  # starts before the earliest
        (earliest, WINDOW_START),                                # ends exactly at ends_after
        (WINDOW_END, WINDOW_END + timedelta(hours=1)),           # starts at ``before``
    ]
    for begin, end in kept + dropped:
        start(at=begin, end=end)
    start(at=WINDOW_START + timedelta(days=2))                  # running
    start(at=WINDOW_START + timedelta(days=3), end=WINDOW_START + timedelta(days=3, hours=1),
          project_id="project-b")                               # another project's
    assert spans(earliest=earliest) == sorted(kept)


def test_closed_spans_reads_only_the_index_with_queries_and_no_limit(dynamodb_calls):
    start(at=WINDOW_START + timedelta(days=1), end=WINDOW_START + timedelta(days=1, hours=1))
    dynamodb_calls.clear()
    found = list(store.closed_spans(PROJECT, WINDOW_START, WINDOW_END, WINDOW_START))
    assert len(found) == 1 and found[0].end_time is not None
    assert dynamodb_calls.operations == ["Query"]
    query = dynamodb_calls.calls[0].params
    assert query["IndexName"] == "by_project" and "Limit" not in query


def test_closed_spans_follows_every_1mb_page(dynamodb_calls):
    """Index items as large as a key allows (a 2 KB project id) overflow DynamoDB's 1 MB page
    with a few hundred sessions; every page is read and nothing is left out."""
    project_id = "p" * 2000  # near the partition key's maximum (2,048 bytes, user prefix too)
    count = 520
    with Session.batch_write() as batch:  # as store.create writes them, 25 to a request
        for n in range(count):
            begin = WINDOW_START + timedelta(minutes=n)
            batch.save(store.build(user_id=ALICE, project_id=project_id, start_time=begin,
                                   end_time=begin + timedelta(minutes=1)))
    dynamodb_calls.clear()
    found = spans(project_id)
    assert len(found) == count and found[0][0] == WINDOW_START
    queries = dynamodb_calls.of("Query")
    assert all("Limit" not in q.params for q in queries)
    paged = [q for q in queries if "LastEvaluatedKey" in q.response]
    assert paged, "the Query did not cross a 1 MB page"
    assert queries[1].params["ExclusiveStartKey"] == queries[0].response["LastEvaluatedKey"]
    assert len(queries) == len(paged) + 1  # the last page is the one without a next key


def test_the_call_recorder_sees_a_scan(dynamodb_calls):
    """The no-Scan guard of these tests would notice one (then this test's own is removed)."""
    list(Session.scan())
    assert dynamodb_calls.operations == ["Scan"]
    dynamodb_calls.clear()
