"""DynamoDB capacity as AWS documents it, on small hand-made items and indexes, then measured
on real calls: the cost model's read and write units cannot drift without failing here."""
from __future__ import annotations

from collections import Counter

import pytest

from bench import capacity
from bench.capacity import (
    Index,
    Table,
    index_write_units,
    item_bytes,
    item_write,
    query_read,
)


def s(text: str) -> dict:
    return {"S": text}


def n(number) -> dict:
    return {"N": str(number)}


# A table with an ALL index, a sparse KEYS_ONLY one and an INCLUDE one.
THINGS = Table("things", ("id",), (
    Index("by_owner", ("owner", "created"), "ALL"),
    Index("open", ("open_owner", "created"), "KEYS_ONLY"),
    Index("by_tag", ("tag",), "INCLUDE", ("end",)),
))


def thing(**extra) -> dict:
    return {"id": s("t1"), "owner": n(7), "created": s("2026-06-01"), "tag": s("red"), **extra}


# --- capacity units (item sizes: tests/store/test_sizes.py) ----------------------------

def test_read_units_are_4_kb_steps_at_least_one_halved_when_eventually_consistent():
    assert capacity.read_units(4096, consistent=True) == 1
    assert capacity.read_units(4097, consistent=True) == 2
    assert capacity.read_units(0, consistent=True) == 1  # a miss still costs a unit
    assert capacity.read_units(4097) == 1.0
    assert capacity.read_units(1) == 0.5


def test_write_units_are_1_kb_steps_at_least_one():
    assert capacity.write_units(1024) == 1
    assert capacity.write_units(1025) == 2
    assert capacity.write_units(0) == 1


# --- writes and indexes ------------------------------------------------------------------

def test_a_put_writes_the_item_and_each_index_that_has_its_keys():
    spent = item_write(THINGS, None, thing())
    # by_owner and by_tag have their keys; the sparse "open" index has no open_owner
    assert spent == {None: 1, "by_owner": 1, "by_tag": 1}


def test_an_update_that_moves_a_sparse_index_key_deletes_and_puts_that_entry():
    old, new = thing(open_owner=n(7)), thing(open_owner=n(8))
    assert index_write_units(THINGS, THINGS.index("open"), old, new) == 2
    # by_owner projects everything, so it is updated; by_tag projects only `end`: untouched
    assert item_write(THINGS, old, new) == {None: 1, "by_owner": 1, "open": 2}


def test_a_sparse_index_entry_appears_and_vanishes_with_its_key():
    index = THINGS.index("open")
    assert index_write_units(THINGS, index, thing(), thing(open_owner=n(7))) == 1  # put
    assert index_write_units(THINGS, index, thing(open_owner=n(7)), thing()) == 1  # delete
    assert index_write_units(THINGS, index, thing(), thing(note=s("x"))) == 0  # never in it


def test_an_update_of_an_unprojected_attribute_writes_the_item_alone():
    narrow = Table("things", ("id",), THINGS.indexes[1:])  # KEYS_ONLY and INCLUDE(end)
    assert item_write(narrow, thing(), thing(note=s("changed"))) == {None: 1}
    # the INCLUDE index's projected attribute does update it
    assert item_write(narrow, thing(), thing(end=s("2026-06-02"))) == {None: 1, "by_tag": 1}


def test_an_item_write_is_the_larger_image_and_an_index_update_the_larger_entry():
    small, large = thing(note=s("x" * 900)), thing(note=s("x" * 1100))
    assert item_write(THINGS, small, large)[None] == 2
    assert item_write(THINGS, large, small)[None] == 2
    assert item_write(THINGS, large, small)["by_owner"] == 2  # the ALL entry was 1 KB+
    deleted = item_write(THINGS, large, None)
    assert deleted == {None: 2, "by_owner": 2, "by_tag": 1}  # by_tag's entry is small


def test_a_transaction_pays_its_items_twice_and_its_index_entries_once():
    assert item_write(THINGS, None, thing(), transactional=True) == {
        None: 2, "by_owner": 1, "by_tag": 1}
    assert capacity.refused_write(thing(note=s("x" * 1500)), transactional=True) == 4
    assert capacity.refused_write(None) == 1  # refused, nothing there: the minimum


# --- reads -----------------------------------------------------------------------------

def test_a_query_rounds_the_sum_of_its_items_up_to_4_kb_once():
    items = [thing(note=s("x" * (3072 - item_bytes(thing()) - 4))) for _ in range(3)]
    assert sum(item_bytes(i) for i in items) == 9216  # 9 KB: three items of 3 KB
    assert query_read(THINGS, None, items, consistent=True) == 3.0
    assert query_read(THINGS, None, items) == 1.5
    # an index is read eventually consistent whatever was asked, and only its entries
    assert query_read(THINGS, "by_owner", items, consistent=True) == 1.5
    assert query_read(THINGS, "open", [dict(i, open_owner=n(7)) for i in items]) == 0.5
    assert query_read(THINGS, None, []) == 0.5  # an empty Query still costs the minimum


def test_the_tables_come_from_the_models_with_their_projections():
    from chalicelib.store.sessions import Session
    (table,) = capacity.tables_from_models([Session]).values()
    assert table.name == "sessions" and table.keys == ("id",)
    projections = {i.name: (i.projection, i.non_key) for i in table.indexes}
    assert projections == {"running": ("ALL", ()), "closed": ("ALL", ()),
                           "running_by_project": ("ALL", ()), "closed_by_project": ("ALL", ()),
                           "by_project": ("INCLUDE", ("end_time",))}


# --- measured on real calls ----------------------------------------------------------------

@pytest.fixture
def meter(aws):
    meter = capacity.CapacityMeter().install()
    yield meter
    meter.uninstall()


def _by_target(spent: Counter) -> dict[str, float]:
    out: Counter = Counter()
    for entry, units in spent.items():
        out[f"{entry.kind} {entry.target}"] += units
    return dict(out)


def test_a_sessions_writes_are_measured_with_every_index_they_touch(meter, account):
    from datetime import datetime, timedelta, timezone

    from chalicelib.store import sessions
    start = datetime(2026, 6, 1, 9, tzinfo=timezone.utc)
    with meter.counting() as started:
        session = sessions.create(user_id=account.user_id, project_id="p1", start_time=start,
                                  end_time=None, description="", started_via="api")
    assert _by_target(started) == {  # a running session is in the running pair only
        "write sessions": 1, "write sessions/running": 1,
        "write sessions/running_by_project": 1, "write sessions/by_project": 1}
    with meter.counting() as closed:
        sessions.close(session.id, account.user_id, start + timedelta(hours=1))
    # leaves the running pair, enters the closed pair; end_time is projected in by_project
    assert _by_target(closed) == {
        "write sessions": 1, "write sessions/running": 1, "write sessions/closed": 1,
        "write sessions/running_by_project": 1, "write sessions/closed_by_project": 1,
        "write sessions/by_project": 1}
    stored = sessions.get_session(session.id)
    with meter.counting() as described:
        stored.update(actions=[sessions.Session.description.set("amended")])
    # the description is not projected into by_project, and a closed session is not running
    assert _by_target(described) == {"write sessions": 1, "write sessions/closed": 1,
                                     "write sessions/closed_by_project": 1}
    assert not meter.unmetered


def test_a_filtered_query_costs_what_it_evaluated_and_the_meters_reads_are_not_calls(
        meter, account):
    from datetime import datetime, timedelta, timezone

    from bench.calls import CallCounter, summarise
    from chalicelib.store import sessions
    from chalicelib.store.sessions import Session
    start = datetime(2026, 6, 1, 9, tzinfo=timezone.utc)
    for i in range(3):  # three sessions of about 3 KB each
        sessions.create(user_id=account.user_id, project_id="p1",
                        start_time=start + timedelta(hours=i), end_time=None,
                        description="x" * 3000, started_via="api")
    counter = CallCounter().install()
    try:
        with counter.counting() as calls, meter.counting() as spent:
            found = list(Session.running.query(account.user_id,
                                               filter_condition=Session.description == "none"))
    finally:
        counter.uninstall()
    assert found == []
    assert summarise(calls)["handler"] == Counter({"dynamodb.Query": 1})
    assert _by_target(spent) == {"read sessions/running": 1.5}  # ~9.3 KB evaluated, eventual


def test_a_transaction_and_a_projected_batch_read_are_priced_on_whole_items(meter, account):
    from pynamodb.transactions import TransactWrite

    from chalicelib.store import projects
    from chalicelib.store.base import shared_connection
    from chalicelib.store.invoices import Counter as InvoiceCounter
    with meter.counting() as spent, TransactWrite(connection=shared_connection()) as transaction:
        transaction.save(InvoiceCounter("bench-test", value=1))
    assert _by_target(spent) == {"write counters": 2}
    from datetime import datetime, timezone
    project = projects.build(owner_id=account.user_id, organisation_id=None,
                             name="A" * 5000, created=datetime(2026, 6, 1, tzinfo=timezone.utc))
    project.save()
    with meter.counting() as spent:
        assert projects.project_names([project.id]) == {project.id: "A" * 5000}
    assert _by_target(spent) == {"read projects": 1.0}  # 5 KB+: two units, eventual
