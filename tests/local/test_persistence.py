"""The data directory's files on their own: torn and stale journals, damage, the lock and
``--fresh`` (what the end-to-end restarts in tests/e2e/test_local_persistence.py can't
produce on purpose)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from chalicelib.local.persistence import (CURSOR_SECRET, FORMAT, JOURNAL, SNAPSHOT, DataDirError,
                                          Persistence)

KEY = {"id": {"S": "a"}}
DEFINITION = {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
              "BillingMode": "PAY_PER_REQUEST"}


def write_snapshot(directory: Path, generation: int, items: list[dict]) -> None:
    (directory / SNAPSHOT).write_text(json.dumps({
        "format": FORMAT, "generation": generation, "notes": {}, "queues": [],
        "tables": [{"account": "123456789012", "region": "us-east-1", "table": "t",
                    "definition": DEFINITION, "items": items}]}))


def write_journal(directory: Path, generation: int, records: list[dict], tail: bytes = b"") -> None:
    lines = [json.dumps({"journal": generation})] + [json.dumps(r) for r in records]
    (directory / JOURNAL).write_bytes("\n".join(lines).encode() + b"\n" + tail)


def put(value: str) -> dict:
    return {"items": [["123456789012", "us-east-1", "t", KEY, {**KEY, "v": {"S": value}}]]}


def loaded(directory: Path) -> dict:
    saved = Persistence(directory, threading.RLock())._load()
    return {key: item["v"]["S"] for key, item in
            saved.tables[("123456789012", "us-east-1", "t")]["items"].items()}


def test_the_journal_applies_in_order_over_the_snapshot(tmp_path):
    write_snapshot(tmp_path, 3, [{**KEY, "v": {"S": "snapshot"}}])
    write_journal(tmp_path, 3, [put("first"), put("second")])
    assert list(loaded(tmp_path).values()) == ["second"]


def test_a_torn_last_line_was_never_acknowledged_and_is_dropped(tmp_path):
    write_snapshot(tmp_path, 1, [])
    write_journal(tmp_path, 1, [put("complete")], tail=json.dumps(put("torn")).encode()[:20])
    assert list(loaded(tmp_path).values()) == ["complete"]


def test_a_journal_older_than_the_snapshot_is_already_in_it(tmp_path):
    # A stop between writing a snapshot and starting its journal leaves the old journal.
    write_snapshot(tmp_path, 5, [{**KEY, "v": {"S": "snapshot"}}])
    write_journal(tmp_path, 4, [put("older")])
    assert list(loaded(tmp_path).values()) == ["snapshot"]


@pytest.mark.parametrize("case", ["newer journal", "damaged line", "damaged snapshot"])
def test_damage_stops_the_start_with_one_message(tmp_path, case):
    write_snapshot(tmp_path, 2, [])
    if case == "newer journal":
        write_journal(tmp_path, 3, [put("x")])
    elif case == "damaged line":
        write_journal(tmp_path, 2, [put("x")], tail=b"{not json\n" + json.dumps(put("y")).encode()
                      + b"\n")
    else:
        (tmp_path / SNAPSHOT).write_text("{")
    with pytest.raises(DataDirError, match="FRESH=1"):
        loaded(tmp_path)


def test_one_stack_per_directory(tmp_path):
    first = Persistence(tmp_path, threading.RLock())
    first.open()
    with pytest.raises(DataDirError, match="another local stack is using"):
        Persistence(tmp_path, threading.RLock()).open()
    first.close()
    again = Persistence(tmp_path, threading.RLock())
    again.open()
    again.close()


def test_fresh_removes_the_saved_data_only(tmp_path):
    write_snapshot(tmp_path, 1, [])
    write_journal(tmp_path, 1, [])
    (tmp_path / "notes.txt").write_text("mine")
    store = Persistence(tmp_path, threading.RLock())
    store.open(fresh=True)
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "notes.txt"]


def opened(directory: Path, fresh: bool = False) -> Persistence:
    store = Persistence(directory, threading.RLock())
    store.open(fresh=fresh)
    return store


def test_the_cursor_key_is_made_once_kept_private_and_survives_a_restart(tmp_path):
    store = opened(tmp_path)
    key = store.cursor_secret()
    store.close()
    assert len(key) == 64 and (tmp_path / CURSOR_SECRET).stat().st_mode & 0o777 == 0o600
    again = opened(tmp_path)
    assert again.cursor_secret() == key
    again.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [CURSOR_SECRET, "lock"]  # no temp


@pytest.mark.parametrize("damage", [b"", b"short", b"\xff" * 64, b"g" * 64])
def test_an_unreadable_cursor_key_is_replaced_not_fatal(tmp_path, damage):
    # e.g. empty: a kill while an older stack wrote it in place
    (tmp_path / CURSOR_SECRET).write_bytes(damage)
    store = opened(tmp_path)
    key = store.cursor_secret()
    assert len(key) == 64 and key.encode() != damage
    assert (tmp_path / CURSOR_SECRET).read_text() == key
    assert store.cursor_secret() == key
    store.close()


def test_fresh_makes_a_new_cursor_key(tmp_path):
    store = opened(tmp_path)
    key = store.cursor_secret()
    store.close()
    store = opened(tmp_path, fresh=True)
    assert store.cursor_secret() != key
    store.close()


def test_the_cursor_key_is_read_under_the_directory_lock_only(tmp_path):
    with pytest.raises(DataDirError, match="not open"):
        Persistence(tmp_path, threading.RLock()).cursor_secret()
    assert not (tmp_path / CURSOR_SECRET).exists()
