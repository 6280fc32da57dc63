"""The events fan-out from the change streams: no committed change without its deliveries.

Changes are made through the API (local gateway), their stream records read off the
embedded moto server by the local stand-in for the event source mapping
(:class:`StreamPoller`), handed to the same ``fan_out_events`` handler Lambda runs, and
the queued deliveries delivered by ``deliver_webhooks`` to a receiver on 127.0.0.1.
Faults are injected at the boundaries: SQS refusing or unreachable, the handler dying
mid-batch, a record that can never be processed.
"""
from __future__ import annotations

import json
import time

import pytest

from app import fan_out_events
from chalicelib import aws as aws_clients
from chalicelib.domain import events as rules
from chalicelib.events import fanout, messages, queue
from chalicelib.local.stream_poller import StreamPoller
from chalicelib.store import changes
from tests.events.test_delivery import (close, deliver_until_empty, ok, receive_all,
                                        receiver, sqs, start_session, subscribe,  # noqa: F401
                                        verify)

EMOJI = "\U0001F600"


def queued() -> list[dict]:
    """The bodies on the webhook queue (received, left in flight; this module's tests fan
    out themselves)."""
    return [json.loads(m["Body"]) for m in receive_all(fanned_out=False)]


@pytest.fixture
def no_waiting(monkeypatch):
    from chalicelib.local import poller
    monkeypatch.setattr(poller, "WAIT_SECONDS", 0)


class BrokenSqs:
    """An SQS client that is down: every call raises, as an unreachable endpoint would."""

    def __getattr__(self, name):
        def fail(**_kwargs):
            raise ConnectionError("SQS is unreachable")
        return fail


@pytest.fixture
def sqs_down(monkeypatch):
    """Make the shared SQS client unreachable until the returned function is called (SQS
    is back)."""
    real = aws_clients.client

    def client(service):
        return BrokenSqs() if service == "sqs" else real(service)

    monkeypatch.setattr(aws_clients, "client", client)
    return lambda: monkeypatch.setattr(aws_clients, "client", real)


# --- the request path ------------------------------------------------------------------

def test_the_request_path_makes_no_fan_out_call(api, receiver):
    """Subscribers exist, yet a write request neither queries them nor touches SQS."""
    subscribe(api, "session.closed", receiver.url("/hook"))
    session = start_session(api)
    calls = []

    def record(model, **_):
        calls.append(f"{model.service_model.service_name}:{model.name}")

    clients = [aws_clients.client("dynamodb"), aws_clients.client("sqs")]
    for client in clients:
        client.meta.events.register("before-call", record, unique_id="fan-out-test")
    try:
        close(api, session["id"])
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="fan-out-test")
    # the authorizer's key, the conditional close, the project's span (which returns its name)
    assert calls == ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:UpdateItem"]


def test_a_queue_down_during_the_request_loses_nothing(api, receiver, sqs_down, no_waiting):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    session = start_session(api)
    streams = StreamPoller(fan_out_events)
    closed = close(api, session["id"])  # SQS is down: the API does not notice
    assert closed["is_active"] is False
    for _ in range(3):  # the fan-out keeps failing on the close's record, which stays put
        streams.poll_once()
    sqs_down()  # SQS is back
    assert deliver_until_empty() == 0
    streams.drain()
    assert deliver_until_empty() == 1
    [seen] = receiver.at("/hook")
    assert json.loads(seen.body)["data"]["uuid"] == session["id"]
    assert verify(sub["secret"], seen.headers["X-Temporalist-Signature"], seen.body)


def six_session_records(api, receiver, per_event: int = 1) -> None:
    """Three sessions started and closed, each event subscribed to ``per_event`` times: six
    session records."""
    for n in range(per_event):
        subscribe(api, "session.created", receiver.url(f"/created{n}"))
        subscribe(api, "session.closed", receiver.url(f"/closed{n}"))
    project = ok(api.post("/projects/", {"name": "Site"}), 201)["id"]
    sessions = [start_session(api, project) for _ in range(3)]
    for session in sessions:
        close(api, session["id"])


def test_a_replayed_stream_queues_the_same_delivery_ids(api, receiver, no_waiting):
    six_session_records(api, receiver)
    StreamPoller(fan_out_events).drain()
    first_pass = queued()
    assert len(first_pass) == 6
    # The whole stream processed again (a replay) queues the same delivery ids.
    StreamPoller(fan_out_events).drain()
    second_pass = queued()
    assert sorted(q["delivery_id"] for q in second_pass) == sorted(
        q["delivery_id"] for q in first_pass)


def test_sqs_failing_mid_batch_in_the_real_handler_reports_the_first_record_not_sent_whole(
        api, receiver, no_waiting, monkeypatch):
    """The deployed handler, unchanged, pools the records' messages into SendMessageBatch
    calls: six records of three messages each are two calls, [3+3+3+1] and [2+3+3]. The
    second fails once: the partial-batch answer names the fourth record (the first with a
    message in that call); it and the records after it are handed over again, so only its
    first message is queued twice (same id), and none is lost."""
    six_session_records(api, receiver, per_event=3)
    real = aws_clients.client
    sends = []

    class FailsOnce:
        def __init__(self, sqs):
            self.sqs = sqs

        def __getattr__(self, name):
            return getattr(self.sqs, name)

        def send_message_batch(self, **kwargs):
            sends.append(len(kwargs["Entries"]))
            if len(sends) == 2:
                raise ConnectionError("SQS dropped the connection")
            return self.sqs.send_message_batch(**kwargs)

    monkeypatch.setattr(aws_clients, "client",
                        lambda service: FailsOnce(real(service)) if service == "sqs"
                        else real(service))
    answers = []

    def handler(lambda_event, context):
        answers.append((lambda_event["Records"], fan_out_events(lambda_event, context)))
        return answers[-1][1]

    StreamPoller(handler).drain()
    [(records, answer)] = [(r, a) for r, a in answers if a["batchItemFailures"]]
    assert len(records) == 6
    sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert answer == {"batchItemFailures": [{"itemIdentifier": sequences[3]}]}
    assert sends == [10, 8, 9]  # the fourth record and the two after it, sent again
    delivered = queued()
    ids = [d["delivery_id"] for d in delivered]
    assert len(ids) == 19 and len(set(ids)) == 18
    [twice] = [d for d in set(ids) if ids.count(d) == 2]
    fourth = records[3]["eventID"]
    assert twice in {fanout.delivery_id(fourth, d["subscription_id"]) for d in delivered}
    unique = {d["delivery_id"]: d for d in delivered}.values()
    assert sorted(d["event"] for d in unique) == ["session.closed"] * 9 + ["session.created"] * 9


def test_a_poison_record_goes_to_the_failure_queue_and_the_rest_continue(api, receiver,
                                                                         no_waiting):
    subscribe(api, "session.created", receiver.url("/created"))
    project = ok(api.post("/projects/", {"name": "Site"}), 201)["id"]
    poisoned = start_session(api, project, description="poison")
    healthy = start_session(api, project, description="fine")
    attempts = []

    def handler(lambda_event, context):
        def bodies(record, lookups):
            if "poison" in json.dumps(record):
                attempts.append(record["eventID"])
                raise ValueError("cannot process this record")
            return fanout.bodies_of(record, lookups)
        return fanout.handle_records(lambda_event["Records"], messages_of=bodies)

    streams = StreamPoller(handler, max_retries=2)
    streams.drain()
    assert len(attempts) == 3  # the first try and two retries
    failures = sqs().receive_message(QueueUrl=sqs().get_queue_url(
        QueueName=queue.stream_failure_queue_name())["QueueUrl"], MaxNumberOfMessages=10
                                     ).get("Messages", [])
    assert len(failures) == 1
    info = json.loads(failures[0]["Body"])["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert deliver_until_empty() == 1
    [seen] = receiver.at("/created")
    assert json.loads(seen.body)["data"]["uuid"] == healthy["id"]
    assert poisoned["id"] not in {json.loads(r.body)["data"]["uuid"] for r in receiver.requests}


def test_a_failing_record_is_retried_until_it_is_too_old_then_goes_to_the_failure_queue(
        api, receiver, no_waiting):
    """The mapping's default: no retry count, so an outage of SQS loses nothing younger
    than the maximum record age; past it the record is described on the failure queue."""
    subscribe(api, "session.created", receiver.url("/created"))
    project = ok(api.post("/projects/", {"name": "Site"}), 201)["id"]
    start_session(api, project, description="during the outage")
    now = [time.time()]
    outage = [True]

    def handler(lambda_event, context):
        def bodies(record, lookups):
            if outage[0]:
                raise fanout.SendFailed("SQS refused 1 webhook deliveries")
            return fanout.bodies_of(record, lookups)
        return fanout.handle_records(lambda_event["Records"], messages_of=bodies)

    streams = StreamPoller(handler, clock=lambda: now[0])
    for _ in range(50):  # far more tries than any retry count would allow
        streams.poll_once()
    failure_url = sqs().get_queue_url(QueueName=queue.stream_failure_queue_name())["QueueUrl"]
    assert sqs().receive_message(QueueUrl=failure_url, MaxNumberOfMessages=10
                                 ).get("Messages", []) == []
    outage[0] = False  # SQS is back: the change is delivered after all
    streams.drain()
    assert deliver_until_empty() == 1 and len(receiver.at("/created")) == 1

    start_session(api, project, description="during a longer outage")
    outage[0] = True
    streams.poll_once()
    now[0] = time.time() + queue.STREAM_MAX_RECORD_AGE_SECONDS + 1
    streams.drain()
    [failure] = sqs().receive_message(QueueUrl=failure_url, MaxNumberOfMessages=10
                                      ).get("Messages", [])
    body = json.loads(failure["Body"])
    assert body["requestContext"] == {"condition": "RecordAgeExceeded",
                                      "approximateInvokeCount": 2}
    outage[0] = False
    assert streams.drain() == 0 and deliver_until_empty() == 0  # given up: the shard moved on


def test_the_streamed_tables_are_the_tables_whose_changes_are_events():
    """Every table declaring a stream (the template streams the same ones) is one the event
    rules know, and each of those has its stream."""
    streamed = {m.Meta.table for m in changes.streamed_models()}
    assert streamed == {rules.SESSIONS, rules.PROJECTS, rules.INVOICES}


def fake_records(count: int) -> list[dict]:
    return [{"eventID": f"r{n}", "dynamodb": {"SequenceNumber": str(100 + n)}}
            for n in range(count)]


class Sent(list):
    """The batches handle_records hands its sender (no SQS); call ``fail_at`` raises."""

    def __init__(self, fail_at: int = 0):
        super().__init__()
        self.fail_at = fail_at

    def __call__(self, batch: list[str]) -> None:
        self.append(list(batch))
        if len(self) == self.fail_at:
            raise fanout.SendFailed("SQS refused")


def three_each(record, lookups):
    if record["eventID"] == "r3" and getattr(three_each, "broken", False):
        raise ValueError("cannot derive")
    return [f"{record['eventID']}-{n}" for n in range(3)]


def test_messages_are_pooled_across_records_in_full_batches():
    sent = Sent()
    assert fanout.handle_records(fake_records(5), three_each, sent) == {"batchItemFailures": []}
    assert [len(b) for b in sent] == [10, 5]
    assert [m for b in sent for m in b] == [f"r{r}-{n}" for r in range(5) for n in range(3)]


def test_a_record_that_fails_is_reported_after_the_records_before_it_are_sent(monkeypatch):
    sent = Sent()
    monkeypatch.setattr(three_each, "broken", True, raising=False)
    answer = fanout.handle_records(fake_records(5), three_each, sent)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "103"}]}
    assert [m for b in sent for m in b] == [f"r{r}-{n}" for r in range(3) for n in range(3)]


@pytest.mark.parametrize("fail_at, reported", [(1, "100"), (2, "103")])
def test_a_failed_send_reports_the_first_record_with_a_message_in_it(fail_at, reported):
    sent = Sent(fail_at)
    answer = fanout.handle_records(fake_records(5), three_each, sent)
    assert answer == {"batchItemFailures": [{"itemIdentifier": reported}]}
    assert len(sent) == fail_at  # nothing is sent after a failure


def test_a_message_sqs_would_refuse_fails_its_record_alone():
    sent = Sent()

    def oversized_third(record, lookups):
        return ["x" * (queue.MAX_MESSAGE_BYTES + 1)] if record["eventID"] == "r2" else ["m"]

    answer = fanout.handle_records(fake_records(4), oversized_third, sent)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "102"}]}
    assert sent == [["m", "m"]]


def test_an_invocation_reads_each_audience_subscribers_and_project_name_once(monkeypatch):
    reads = []
    monkeypatch.setattr(fanout.store, "subscribers",
                        lambda *args: reads.append(("subscribers", args)) or ["s1"])
    monkeypatch.setattr(fanout.project_store, "project_names",
                        lambda ids: reads.append(("names", tuple(ids))) or {ids[0]: "Site"})
    lookups = fanout.Lookups()
    one = rules.Audience(user_ids=frozenset({1}))
    other = rules.Audience(organisation_id=7)
    closed = rules.Event("session.closed", {"project_id": "p"}, one)
    for _ in range(3):
        assert lookups.subscribers_of(closed) == ["s1"]
        assert lookups.project_name("p") == "Site"
    lookups.subscribers_of(rules.Event("session.closed", {"project_id": "p"}, other))
    lookups.subscribers_of(rules.Event("session.created", {"project_id": "p"}, one))
    assert reads == [("subscribers", ("session.closed", frozenset({1}), None)),
                     ("names", ("p",)),
                     ("subscribers", ("session.closed", frozenset(), 7)),
                     ("subscribers", ("session.created", frozenset({1}), None))]


# --- SQS limits: bytes as well as entries ------------------------------------------------

def test_batches_hold_at_most_ten_entries_and_one_mebibyte():
    assert [len(b) for b in fanout.batches(["x"] * 23)] == [10, 10, 3]
    largest = "x" * queue.MAX_MESSAGE_BYTES  # four of them are exactly 1 MiB
    assert [len(b) for b in fanout.batches([largest] * 4)] == [4]
    assert [len(b) for b in fanout.batches([largest] * 4 + ["x"])] == [4, 1]
    just_under = largest[:-1]
    assert [len(b) for b in fanout.batches([just_under] * 4 + ["xxxx"])] == [5]
    assert [len(b) for b in fanout.batches([just_under] * 4 + ["xxxxx"])] == [4, 1]
    assert fanout.batches([largest]) == [[largest]]
    with pytest.raises(ValueError):
        fanout.batches([largest + "x"])


def test_multibyte_bodies_are_measured_in_bytes():
    wide = "é" * (queue.MAX_MESSAGE_BYTES // 2)  # 256 KiB in UTF-8
    assert [len(b) for b in fanout.batches([wide] * 5)] == [4, 1]
    with pytest.raises(ValueError):
        fanout.batches([wide + "é"])


def test_refused_entries_are_sent_again_and_then_their_record_is_reported():
    class Refusing:
        def __init__(self, refusals: int):
            self.refusals, self.calls = refusals, []

        def send_message_batch(self, QueueUrl, Entries):
            self.calls.append([e["Id"] for e in Entries])
            if self.refusals:
                self.refusals -= 1
                return {"Failed": [{"Id": Entries[0]["Id"], "Code": "InternalError",
                                    "SenderFault": False}]}
            return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def handled_with(sqs, waits: list) -> dict:
        return fanout.handle_records(
            fake_records(2), lambda record, lookups: [record["eventID"]],
            lambda batch: fanout.send_batch(batch, sqs=sqs, sleep=waits.append))

    waits = []
    flaky = Refusing(refusals=1)
    assert handled_with(flaky, waits) == {"batchItemFailures": []}
    assert flaky.calls == [["0", "1"], ["0"]]
    assert waits == [0.05]  # a backoff before sending again
    waits = []
    refusing = Refusing(refusals=fanout.SEND_ATTEMPTS)
    assert handled_with(refusing, waits) == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    assert len(refusing.calls) == fanout.SEND_ATTEMPTS == 3
    assert waits == [0.05, 0.1]  # doubling; none after the last refusal


def test_the_largest_valid_event_reaches_25_subscribers(api, receiver, no_waiting):
    """10,000 four-byte characters in a description, a 255-character name: 25 signed posts."""
    subs = [subscribe(api, "session.created", receiver.url(f"/h{n:02d}")) for n in range(25)]
    project = ok(api.post("/projects/", {"name": EMOJI * 255}), 201)["id"]
    session = start_session(api, project, description=EMOJI * 10_000)
    StreamPoller(fan_out_events).drain()
    assert deliver_until_empty() == 25
    assert receiver.paths() == [f"/h{n:02d}" for n in range(25)]
    for sub, seen in zip(subs, sorted(receiver.requests, key=lambda r: r.path)):
        assert verify(sub["secret"], seen.headers["X-Temporalist-Signature"], seen.body)
        data = json.loads(seen.body)["data"]
        assert (data["uuid"], data["description"], data["project_name"]) == (
            session["id"], EMOJI * 10_000, EMOJI * 255)
    body = messages.event_message(subs[0]["id"], "d", "session.created", 0,
                                  json.loads(receiver.requests[0].body)["data"])
    assert len(body.encode()) < queue.MAX_MESSAGE_BYTES  # one message always fits
