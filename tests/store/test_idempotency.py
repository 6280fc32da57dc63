"""``store.idempotency`` at its interface: one claim wins; completion, release, expiry."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.store import idempotency as store

UTC = timezone.utc
NOW = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)
LOCK = timedelta(seconds=60)
TTL = timedelta(hours=24)
KEY = "key-a#retry-1"


def claim(claim_id: str, now: datetime = NOW, request_hash: str = "hash-1",
          key: str = KEY) -> bool:
    """A claim made at ``now``, locked for a minute and living a day, as the service makes it."""
    return store.claim(key, request_hash, claim_id, now, locked_until=now + LOCK,
                       expires_at=now + TTL)


def complete(claim_id: str, status_code: int = 201, body: str = '{"id": 1}') -> None:
    store.complete(KEY, claim_id, status_code, {"Content-Type": "application/json"}, body,
                   expires_at=NOW + TTL)


def test_the_first_claim_wins_and_is_in_progress():
    assert claim("first") is True
    record = store.existing(KEY)
    assert (record.request_hash, record.state, record.claim_id, record.locked_until,
            record.expires_at, record.status_code) == (
        "hash-1", store.IN_PROGRESS, "first", NOW + LOCK, NOW + TTL, None)


def test_existing_of_an_unclaimed_key_is_none():
    assert store.existing(KEY) is None


def test_keys_are_independent():
    assert claim("first") is True
    assert claim("second", key="key-b#retry-1") is True


@pytest.mark.parametrize("after, wins", [
    (timedelta(0), False),
    (LOCK - timedelta(microseconds=1), False),
    (LOCK, True),                         # the lock ends at locked_until
    (LOCK + timedelta(seconds=1), True),
])
def test_a_claim_in_progress_may_be_taken_over_once_its_lock_ends(after, wins):
    claim("first")
    assert claim("second", NOW + after) is wins
    assert store.existing(KEY).claim_id == ("second" if wins else "first")


def test_complete_attaches_the_response():
    claim("first")
    complete("first")
    record = store.existing(KEY)
    assert (record.state, record.status_code, record.headers, store.body_of(record),
            record.claim_id) == (
        store.COMPLETED, 201, {"Content-Type": "application/json"}, '{"id": 1}', "first")


@pytest.mark.parametrize("after, wins", [
    (LOCK + timedelta(hours=1), False),   # completed: the lock no longer matters
    (TTL - timedelta(seconds=1), False),
    (TTL, True),                          # expired but not yet swept by DynamoDB's TTL
])
def test_a_completed_record_holds_its_key_until_it_expires(after, wins):
    claim("first")
    complete("first")
    assert claim("second", NOW + after) is wins
    record = store.existing(KEY)
    assert (record.claim_id, record.state) == (
        ("second", store.IN_PROGRESS) if wins else ("first", store.COMPLETED))


def test_complete_of_a_claim_taken_over_leaves_the_new_claim_alone():
    claim("first")
    claim("second", NOW + LOCK)
    complete("first", 500)
    record = store.existing(KEY)
    assert (record.claim_id, record.state, record.status_code) == ("second",
                                                                   store.IN_PROGRESS, None)


def test_complete_after_release_creates_nothing():
    claim("first")
    store.release(KEY, "first")
    complete("first")
    assert store.existing(KEY) is None


def test_release_drops_the_claim_so_a_retry_wins():
    claim("first")
    store.release(KEY, "first")
    assert store.existing(KEY) is None
    assert claim("retry") is True


def test_release_of_someone_elses_claim_keeps_it():
    claim("first")
    claim("second", NOW + LOCK)
    store.release(KEY, "first")
    assert store.existing(KEY).claim_id == "second"


def test_release_of_an_unclaimed_key_is_quiet():
    store.release(KEY, "first")
    assert store.existing(KEY) is None


def test_twenty_concurrent_claims_have_one_winner(all_at_once):
    claim_ids = [f"claim-{n}" for n in range(20)]
    won = all_at_once([lambda c=c: claim(c) for c in claim_ids])
    assert won.count(True) == 1
    assert store.existing(KEY).claim_id == claim_ids[won.index(True)]


def test_concurrent_claims_of_an_expired_record_have_one_winner(all_at_once):
    claim("first")
    complete("first")
    later = NOW + TTL + timedelta(seconds=5)
    claim_ids = [f"claim-{n}" for n in range(20)]
    won = all_at_once([lambda c=c: claim(c, later) for c in claim_ids])
    assert won.count(True) == 1
    record = store.existing(KEY)
    assert (record.claim_id, record.state) == (claim_ids[won.index(True)], store.IN_PROGRESS)


# --- bodies of any size: compressed, then split across part items ----------------------------

def _incompressible(characters: int, seed: int = 7) -> str:
    import random
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(characters))


@pytest.mark.parametrize("characters", [0, 1, 100_000, 400_000])
def test_a_body_of_any_size_comes_back_byte_for_byte(characters, dynamodb_calls):
    """Up to 1.2 MB of CJK text (3 bytes each, barely compressible): past one item's 400 KB."""
    body = _incompressible(characters)
    claim("first")
    complete("first", 400, body)
    record = store.existing(KEY)
    dynamodb_calls.clear()
    assert store.body_of(record) == body
    assert dynamodb_calls.operations == (["BatchGetItem"] if record.body_parts else [])
    if len(body.encode()) > 400 * 1024:
        assert record.body_parts >= 1


def test_a_missing_part_is_reported_not_replayed_wrong():
    claim("first")
    complete("first", 400, _incompressible(400_000))
    record = store.existing(KEY)
    store.IdempotencyPart(f"{KEY}{store.PART_SEPARATOR}part1").delete()
    with pytest.raises(store.CorruptRecord):
        store.body_of(record)


def test_no_idempotency_key_can_name_a_part():
    """Keys are printable ASCII; the parts' separator is not."""
    assert not store.PART_SEPARATOR.isprintable()
