"""The local stream mapping's own behaviour (tests/events/test_fanout.py covers what it hands
the fan-out): backing off a failing stream, the failure record's times, the requests an
idle poll costs, a table made again, and draining at a stop."""
from __future__ import annotations

import json
import threading
import time

import requests

from chalicelib import aws as aws_clients
from chalicelib.config import settings
from chalicelib.events import queue
from chalicelib.local import stack
from chalicelib.local.stream_poller import (INTERVAL_SECONDS, MAX_BACKOFF_SECONDS,
                                            StreamPoller, start_stream_poller)
from chalicelib.store.changes import epoch_seconds


def streams_read_by_one_poll() -> range:
    return range(len(StreamPoller(lambda event, _c: {}).tables))


def from_table(record: dict, table: str) -> bool:
    return f"-{table}/stream/" in record["eventSourceARN"]


def test_a_failing_stream_backs_off_doubling_while_the_others_flow(api):
    now = [1_000_000.0]
    calls: list[tuple[str, float]] = []
    sessions_fail = [True]

    def handler(event, _context):
        table = "sessions" if from_table(event["Records"][0], "sessions") else "other"
        calls.append((table, now[0]))
        if table == "sessions" and sessions_fail[0]:
            return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                                          for r in event["Records"]]}
        return {"batchItemFailures": []}

    streams = StreamPoller(handler, clock=lambda: now[0])
    streams.drain()  # the account's own changes
    project = api.post("/projects/", {"name": "Site"}).json()
    api.post("/sessions/", {"project_id": project["id"]})
    calls.clear()
    start, waits = now[0], []
    while now[0] - start < 12:
        if now[0] - start == 1.0:  # a change of another table while sessions back off
            api.patch(f"/projects/{project['id']}/", {"name": "Renamed"})
        waits.append((now[0] - start, streams.poll_due()))
        now[0] += INTERVAL_SECONDS
    failing = [at - start for table, at in calls if table == "sessions"]
    assert failing == [0, 0.25, 0.75, 1.75, 3.75, 7.75, 11.75]  # 0.25 s doubling, capped
    assert 11.75 - 7.75 == MAX_BACKOFF_SECONDS
    assert [at - start for table, at in calls if table == "other"] == [0, 1.0]
    # Read again at once only after records were handed over; else at the idle pace.
    assert {at for at, wait in waits if wait != INTERVAL_SECONDS} == {0, 1.0}
    assert {wait for _, wait in waits} == {0, INTERVAL_SECONDS}
    sessions_fail[0] = False
    now[0] += MAX_BACKOFF_SECONDS
    assert streams.poll_due() == 0  # handed over: read again at once
    assert streams.poll_due() == INTERVAL_SECONDS
    assert [table for table, _ in calls[-1:]] == ["sessions"]


def test_tests_polling_by_hand_retry_at_once(api):
    attempts = []

    def handler(event, _context):
        attempts.append(len(event["Records"]))
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"][
            "SequenceNumber"]}]} if len(attempts) < 3 else {}

    streams = StreamPoller(handler, tables=("projects",))
    api.post("/projects/", {"name": "Site"})
    assert streams.drain() == 3 and len(attempts) == 3  # no clock passed: no waiting


def test_the_background_poller_does_not_spin_on_a_failing_record(api):
    """The symptom: 53 calls in 2 s, each logging a traceback, for up to 6 hours."""
    called = threading.Condition()
    times: list[float] = []

    def failing(event, _context):
        with called:
            times.append(time.monotonic())
            called.notify_all()
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                                      for r in event["Records"]]}

    api.post("/projects/", {"name": "Site"})
    stop = start_stream_poller(failing)
    try:
        with called:
            assert called.wait_for(lambda: len(times) >= 3, timeout=10)
    finally:
        stop()
    # tries at 0, 0.25 and 0.75 s (give or take a poll), not one after another
    assert times[2] - times[0] >= 0.75 - 0.1, times


def test_a_record_given_up_on_is_described_with_its_own_arrival_time(api):
    now = [time.time() + 60]

    def failing(event, _context):
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                                      for r in event["Records"]]}

    StreamPoller(tables=("projects",)).drain()
    api.post("/projects/", {"name": "Site"})
    records = []
    StreamPoller(lambda event, _c: records.extend(event["Records"]) or {},
                 tables=("projects",)).drain()
    StreamPoller(failing, tables=("projects",), max_retries=0, clock=lambda: now[0]).drain()
    sqs = aws_clients.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.stream_failure_queue_name())["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    failure = json.loads(message["Body"])
    created = epoch_seconds(records[-1]["dynamodb"]["ApproximateCreationDateTime"])
    info = failure["DDBStreamBatchInfo"]
    assert info["approximateArrivalOfFirstRecord"] == info["approximateArrivalOfLastRecord"]
    assert info["approximateArrivalOfFirstRecord"] == time.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created))
    assert failure["timestamp"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now[0])) + \
        f".{int(now[0] % 1 * 1000):03d}Z"  # the poller's clock, not the machine's
    assert failure["requestContext"] == {"condition": "RetryAttemptsExhausted",
                                         "approximateInvokeCount": 1}


def test_an_idle_poll_costs_one_listing_and_two_reads_a_stream(aws):
    streams = StreamPoller(lambda event, _c: {})
    streams.drain()
    with aws_clients.counting_calls() as seen:
        assert streams.poll_once() == 0
    # was DescribeTable, DescribeStream, GetShardIterator and GetRecords for each table:
    # 12 a poll, 48 requests a second idle; now 7, 28 a second
    assert sorted(seen.operations) == sorted(["dynamodbstreams:ListStreams"] + [
        "dynamodbstreams:GetShardIterator", "dynamodbstreams:GetRecords"] * 3)


def test_a_table_made_again_is_read_from_its_new_streams_start(api, aws):
    handed = []
    streams = StreamPoller(lambda event, _c: handed.extend(event["Records"]) or {},
                           tables=("projects",))
    for name in ("Before", "Between"):
        api.post("/projects/", {"name": name})
    streams.drain()
    requests.post(f"{aws}/moto-api/reset", timeout=10).raise_for_status()
    stack.bootstrap(wait=False)  # the same tables, new streams
    aws_clients.client("dynamodb").put_item(TableName=settings().table_name("projects"),
                                            Item={"id": {"S": "p-1"}, "name": {"S": "After"}})
    handed.clear()
    assert streams.drain() == 1
    assert handed[0]["dynamodb"]["NewImage"]["name"] == {"S": "After"}


def test_stopping_hands_over_what_the_streams_still_hold(api):
    handed = []
    StreamPoller(tables=("projects",)).drain()
    reads = threading.Semaphore(0)
    streams = aws_clients.client("dynamodbstreams")
    streams.meta.events.register("after-call.dynamodbstreams.GetRecords",
                                 lambda **_: reads.release(), unique_id="stream-poller-test")
    try:
        stop = start_stream_poller(lambda event, _c: handed.extend(event["Records"]) or {})
        for _ in streams_read_by_one_poll():  # its first poll is over: it waits 0.25 s now
            assert reads.acquire(timeout=10)
    finally:
        streams.meta.events.unregister("after-call.dynamodbstreams.GetRecords",
                                       unique_id="stream-poller-test")
    project = api.post("/projects/", {"name": "Last words"}).json()
    stop()  # before the thread's next poll
    assert project["id"] in json.dumps([r["dynamodb"].get("NewImage") for r in handed])
