"""The local stand-in for the change streams' event source mapping: read each streamed table's
stream on the embedded AWS (moto implements DynamoDB Streams) and hand batches to the same
fan-out handler Lambda runs, with the mapping's settings.

As on AWS, records of a shard are handed over in order; a record the handler reports in
``batchItemFailures`` is retried (it and what follows it) until it is older than the
mapping's maximum record age (or, when one is given, after a number of retries), then
described on the failure queue (as Lambda's on-failure destination does:
the batch's shard and sequence numbers, not the data) and skipped, so one poison
record never blocks the rest of its table's changes. While a batch keeps failing, the
background poller waits longer before each retry of that stream (doubling up to a few
seconds; the other streams are read as usual), so a record that fails for hours is not
retried hundreds of times a second. At a clean stop the streams are drained (the
positions live in memory and a restart reads a new shard, so an undrained change would
never be fanned out).

Idle, a poll costs one ListStreams for every table (which also notices a table created
again: its stream's ARN changes) and a GetShardIterator and a GetRecords per table; the
shard id is looked up once per stream (moto keeps one shard per stream, under one id).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.events import queue
from chalicelib.local.poller import run_in_background
from chalicelib.store.changes import epoch_seconds, streamed_models

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.25  # idle: how often the streams are read (Lambda reads 4 times a second)
MAX_BACKOFF_SECONDS = 4.0  # the longest wait before a failing batch is handed over again
DRAIN_SECONDS = 5.0  # at a clean stop, the longest time spent draining the streams


def lambda_record(record: dict, stream_arn: str, region: str) -> dict:
    """A stream record as Lambda hands it to a function (times as unix seconds)."""
    body = dict(record["dynamodb"])
    body["ApproximateCreationDateTime"] = epoch_seconds(body["ApproximateCreationDateTime"])
    return {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": body,
            "eventSourceARN": stream_arn, "awsRegion": region}


def _iso(seconds: float) -> str:
    """A time as Lambda writes it in a failure record: ``2019-11-14T00:38:04.835Z``."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds"
                                                                    ).replace("+00:00", "Z")


@dataclass
class _Position:
    shard_id: str | None = None            # the stream's shard (looked up once)
    after: str | None = None               # last sequence number handed over successfully
    attempts: dict[str, int] = field(default_factory=dict)  # failures per sequence number
    failed_batches: int = 0                # in a row: the background poller's backoff
    retry_at: float = 0.0                  # the background poller skips the stream until


@dataclass
class _Outcome:
    handled: int = 0     # records handed over
    failed: bool = False  # the handler reported a failure


class StreamPoller:
    """Polls every streamed table once per :meth:`poll_once`; keeps each stream's position."""

    def __init__(self, handler: Callable[[dict, object], dict] | None = None,
                 tables: tuple[str, ...] | None = None,
                 max_retries: int | None = None,
                 max_age_seconds: int = queue.STREAM_MAX_RECORD_AGE_SECONDS,
                 batch_size: int = queue.STREAM_BATCH_SIZE,
                 clock: Callable[[], float] = time.time):
        """``max_retries`` None retries until the record is ``max_age_seconds`` old, as the
        mapping's ``MaximumRetryAttempts`` of -1 does."""
        if handler is None:
            from app import fan_out_events as handler
        if tables is None:
            tables = tuple(m.Meta.table for m in streamed_models())
        self.handler = handler
        self.tables = tables
        self.max_retries = max_retries
        self.max_age_seconds = max_age_seconds
        self.batch_size = batch_size
        self.clock = clock
        self._positions: dict[str, _Position] = {}

    def poll_once(self) -> int:
        """Hand each table's new records to the handler (one batch per table); how many.

        A failed batch is handed over again at the next call, at once (tests call this).
        """
        return sum(outcome.handled for outcome in self._poll(due_only=False))

    def drain(self, limit: int = 100) -> int:
        """Poll until no stream has new records; how many records were handed over."""
        total = 0
        for _ in range(limit):
            count = self.poll_once()
            if count == 0:
                return total
            total += count
        raise RuntimeError("the change streams did not run dry")

    def finish(self, seconds: float = DRAIN_SECONDS) -> bool:
        """At a stop: hand over what the streams hold until they are dry (True), or a batch
        fails or ``seconds`` pass (False: the rest is not fanned out)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            outcomes = self._poll(due_only=False)
            if any(o.failed for o in outcomes):
                return False
            if not any(o.handled for o in outcomes):
                return True
        return False

    def poll_due(self) -> float:
        """The background poller's step: read the streams that are not backing off after a
        failure; returns how long to wait before the next step (none while records flow)."""
        outcomes = self._poll(due_only=True)
        if any(o.handled and not o.failed for o in outcomes):
            return 0.0
        return INTERVAL_SECONDS

    def _poll(self, due_only: bool) -> list[_Outcome]:
        arns = self._stream_arns()
        now = self.clock()
        outcomes = []
        for table in self.tables:
            arn = arns.get(settings().table_name(table))
            if arn is None:
                continue
            position = self._positions.setdefault(arn, _Position())
            if due_only and position.retry_at > now:
                continue
            outcome = self._poll_stream(arn, position)
            if outcome.failed:
                position.failed_batches += 1
                position.retry_at = now + min(
                    INTERVAL_SECONDS * 2 ** (position.failed_batches - 1), MAX_BACKOFF_SECONDS)
            elif outcome.handled:
                position.failed_batches, position.retry_at = 0, 0.0
            outcomes.append(outcome)
        return outcomes

    def _stream_arns(self) -> dict[str, str]:
        """Each streamed table's current stream (one call for all: a table made again has a
        new stream, whose records are numbered from the start again)."""
        streams, found, start = aws.client("dynamodbstreams"), {}, {}
        while True:
            page = streams.list_streams(**start)
            for stream in page.get("Streams", []):
                found[stream["TableName"]] = stream["StreamArn"]
            if not page.get("LastEvaluatedStreamArn"):
                return found
            start = {"ExclusiveStartStreamArn": page["LastEvaluatedStreamArn"]}

    def _poll_stream(self, stream_arn: str, position: _Position) -> _Outcome:
        streams = aws.client("dynamodbstreams")
        if position.shard_id is None:
            shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
            if not shards:
                return _Outcome()
            position.shard_id = shards[0]["ShardId"]
        shard_id = position.shard_id
        # A fresh iterator each time: moto replaces a table's shard object when it rolls
        # back a failed transaction, so an old iterator could read a stale copy.
        if position.after is None:
            iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id,
                                                  ShardIteratorType="TRIM_HORIZON")
        else:
            iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id,
                                                  ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                                  SequenceNumber=position.after)
        records = streams.get_records(ShardIterator=iterator["ShardIterator"],
                                      Limit=self.batch_size)["Records"]
        if not records:
            return _Outcome()
        region = settings().region
        event = {"Records": [lambda_record(r, stream_arn, region) for r in records]}
        result = self.handler(event, None) or {}
        failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        if not failed:
            position.after = records[-1]["dynamodb"]["SequenceNumber"]
            return _Outcome(len(records))
        first = min(failed, key=int)
        done = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
        if done:
            position.after = done[-1]["dynamodb"]["SequenceNumber"]
        position.attempts[first] = position.attempts.get(first, 0) + 1
        failing = next(r for r in records if r["dynamodb"]["SequenceNumber"] == first)
        condition = self._gives_up(position.attempts[first], failing)
        if condition:  # give up on it, as the mapping does
            self._record_failure(stream_arn, shard_id, failing, condition,
                                 position.attempts.pop(first))
            position.after = first
        return _Outcome(len(records), failed=True)

    def _gives_up(self, attempts: int, record: dict) -> str | None:
        """The mapping's reason to give up on a record that failed ``attempts`` times."""
        age = self.clock() - epoch_seconds(record["dynamodb"]["ApproximateCreationDateTime"])
        if age > self.max_age_seconds:
            return "RecordAgeExceeded"
        if self.max_retries is not None and attempts > self.max_retries:
            return "RetryAttemptsExhausted"
        return None

    def _record_failure(self, stream_arn: str, shard_id: str, record: dict, condition: str,
                        invocations: int) -> None:
        """Describe a record given up on, as Lambda's on-failure destination does."""
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=queue.stream_failure_queue_name())["QueueUrl"]
        sequence = record["dynamodb"]["SequenceNumber"]
        arrived = _iso(epoch_seconds(record["dynamodb"]["ApproximateCreationDateTime"]))
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({
            "requestContext": {"condition": condition, "approximateInvokeCount": invocations},
            "version": "1.0", "timestamp": _iso(self.clock()),
            "DDBStreamBatchInfo": {"shardId": shard_id, "startSequenceNumber": sequence,
                                   "endSequenceNumber": sequence, "batchSize": 1,
                                   "streamArn": stream_arn,
                                   "approximateArrivalOfFirstRecord": arrived,
                                   "approximateArrivalOfLastRecord": arrived},
        }))
        log.error("stream record %s of %s sent to the failure queue", sequence, stream_arn)


def start_stream_poller(handler: Callable[[dict, object], dict] | None = None
                        ) -> Callable[[], None]:
    """Poll the change streams in a daemon thread until the returned function is called;
    that function stops the thread, then hands over what the streams still hold."""
    poller = StreamPoller(handler)
    stop_thread = run_in_background("stream-poller", poller.poll_due)

    def stop() -> None:
        stop_thread()
        try:
            drained = poller.finish()
        except Exception:  # AWS gone, say
            log.exception("the change streams could not be drained at the stop")
        else:
            if not drained:  # lost: the next start reads a new shard (README says so)
                log.warning("changes left in the streams at the stop are not fanned out")

    return stop
