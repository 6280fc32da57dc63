"""``store.projects`` at its interface: updates that never recreate, span buckets, reads."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from chalicelib.store import projects as store
from chalicelib.store.projects import Project, span_bucket
from chalicelib.store.pages import read_all

UTC = timezone.utc
CREATED = datetime(2026, 6, 26, 9, 0, 0, 250000, tzinfo=UTC)
ALICE, BOB = 1, 2
ORG = 10


def new_project(owner_id: int = ALICE, *, name: str = "Website", created: datetime = CREATED,
                client_id: str | None = None, organisation_id: int | None = ORG) -> Project:
    return store.create(owner_id=owner_id, organisation_id=organisation_id, name=name,
                        is_active=True, currency="EUR", hourly_rate="85.00", client_id=client_id,
                        created=created)


def gone(project: Project) -> Project:
    """The project, after deleting it behind the store's back (no store function deletes one)."""
    Project(project.id).delete()
    return project


def test_create_stores_every_field():
    project = new_project(client_id="client-1")
    stored = store.get_project(project.id)
    assert (stored.owner_id, stored.organisation_id, stored.team_id, stored.name, stored.is_active,
            stored.currency, stored.hourly_rate, stored.client_id, stored.created,
            stored.span_buckets) == (ALICE, ORG, None, "Website", True, "EUR", "85.00",
                                     "client-1", CREATED, None)
    assert stored.longest_span() == timedelta(0)


def test_get_of_an_unknown_id_is_none():
    assert store.get_project(str(uuid.uuid4())) is None


def test_update_sets_and_none_removes():
    project = new_project()
    updated = store.update(project, {"name": "Intranet", "hourly_rate": None, "is_active": False})
    assert (updated.name, updated.hourly_rate, updated.is_active) == ("Intranet", None, False)
    stored = store.get_project(project.id)
    assert (stored.name, stored.hourly_rate, stored.is_active, stored.currency) == (
        "Intranet", None, False, "EUR")


def test_update_without_changes_makes_no_call(dynamodb_calls):
    project = new_project()
    dynamodb_calls.clear()
    assert store.update(project, {}) is project
    assert dynamodb_calls.operations == []


def test_update_of_a_vanished_project_is_none_and_does_not_recreate_it():
    project = gone(new_project())
    assert store.update(project, {"name": "Ghost"}) is None
    assert store.get_project(project.id) is None


def test_set_team_makes_a_team_project_and_back():
    project = new_project()
    assert store.set_team(project, 7).team_id == 7
    assert store.get_project(project.id).team_id == 7
    assert store.set_team(project, None).team_id is None
    assert store.get_project(project.id).team_id is None


def test_set_team_of_a_vanished_project_is_none():
    project = gone(new_project())
    assert store.set_team(project, 7) is None
    assert store.get_project(project.id) is None


def test_span_bucket_is_the_smallest_power_of_two_hours_that_holds_it():
    cases = [(0, 1), (1, 1), (3600, 1), (3601, 2), (7200, 2), (7201, 4), (4 * 3600, 4),
             (4 * 3600 + 1, 8), (720 * 3600, 1024)]
    assert [span_bucket(seconds) for seconds, _ in cases] == [hours for _, hours in cases]


def test_record_span_keeps_every_bucket_and_answers_with_the_project(dynamodb_calls):
    project = new_project()
    dynamodb_calls.clear()
    recorded = store.record_span(project.id, 3 * 3600)
    assert dynamodb_calls.operations == ["UpdateItem"]
    assert recorded.name == "Website" and recorded.span_buckets == {4}
    store.record_span(project.id, 70 * 3600)
    store.record_span(project.id, 60)
    stored = store.get_project(project.id)
    assert stored.span_buckets == {1, 4, 128}
    assert stored.longest_span() == timedelta(hours=128)


def test_record_span_of_a_vanished_project_is_none_and_does_not_recreate_it():
    project = gone(new_project())
    assert store.record_span(project.id, 60) is None
    assert store.get_project(project.id) is None


def test_concurrent_record_spans_lose_no_bucket(all_at_once):
    project = new_project()
    lengths = [3600 * 2 ** n for n in range(10)] * 2  # 20 writers, 10 distinct buckets
    all_at_once([lambda s=s: store.record_span(project.id, s) for s in lengths])
    assert store.get_project(project.id).span_buckets == {2 ** n for n in range(10)}


def test_project_names_batches_by_100_and_leaves_unknown_ids_out(dynamodb_calls):
    known = [new_project(name=f"P{n}") for n in range(3)]
    unknown = [str(uuid.uuid4()) for _ in range(147)]
    dynamodb_calls.clear()
    names = store.project_names([p.id for p in known] * 2 + unknown)
    assert names == {p.id: p.name for p in known}
    batches = dynamodb_calls.of("BatchGetItem")
    assert [len(next(iter(b.params["RequestItems"].values()))["Keys"]) for b in batches] == [
        100, 50]


def test_project_names_of_nothing_makes_no_call(dynamodb_calls):
    dynamodb_calls.clear()
    assert store.project_names([]) == {}
    assert store.projects_by_id([]) == {}
    assert dynamodb_calls.operations == []


def test_projects_by_id_returns_whole_projects():
    project = new_project(client_id="client-1")
    found = store.projects_by_id([project.id, str(uuid.uuid4())])
    assert list(found) == [project.id]
    assert (found[project.id].client_id, found[project.id].hourly_rate) == ("client-1", "85.00")


def test_visible_projects_are_owned_or_of_a_team_newest_first_ties_by_id():
    old = new_project(created=CREATED - timedelta(days=1))
    tied = [new_project(name=f"Tied {n}") for n in range(3)]
    team_project = new_project(BOB, created=CREATED + timedelta(days=1))
    store.set_team(team_project, 7)
    other_team = new_project(BOB, created=CREATED + timedelta(days=2))
    store.set_team(other_team, 8)
    new_project(BOB)  # Bob's own, in no team
    own_and_team = store.set_team(new_project(created=CREATED + timedelta(days=3)), 7)

    listed = [p.id for p in read_all(store.listing(ALICE, {7}))]
    assert listed == [own_and_team.id, team_project.id,
                      *sorted((p.id for p in tied), reverse=True), old.id]
    assert [p.id for p in read_all(store.listing(ALICE, set()))] == [
        own_and_team.id, *sorted((p.id for p in tied), reverse=True), old.id]


def test_projects_of_client():
    billed = [new_project(client_id="client-1", name=n) for n in ("A", "B")]
    new_project(client_id="client-2")
    new_project()
    assert sorted(p.id for p in store.projects_of_client("client-1")) == sorted(
        p.id for p in billed)
    assert store.projects_of_client("client-3") == []
