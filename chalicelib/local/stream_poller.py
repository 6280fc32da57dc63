"""The local stand-in for the change streams' event source mapping: read each streamed table's
stream on the embedded AWS (moto implements DynamoDB Streams) and hand batches to the same
fan-out handler Lambda runs, with the mapping's settings.

As on AWS, records of a shard are handed over in order; a record the handler reports in
``batchItemFailures`` is retried (it and what follows it) until it is older than the
mapping's maximum record age (or, when one is given, after a number of retries), then
described on the failure queue (as Lambda's on-failure destination does:
the batch's shard and sequence numbers, not the data) and skipped, so one poison
record never blocks the rest of its table's changes.
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

INTERVAL_SECONDS = 0.25


def lambda_record(record: dict, stream_arn: str, region: str) -> dict:
    """A stream record as Lambda hands it to a function (times as unix seconds)."""
    body = dict(record["dynamodb"])
    body["ApproximateCreationDateTime"] = epoch_seconds(body["ApproximateCreationDateTime"])
    return {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": body,
            "eventSourceARN": stream_arn, "awsRegion": region}


@dataclass
class _Position:
    after: str | None = None               # last sequence number handed over successfully
    attempts: dict[str, int] = field(default_factory=dict)  # failures per sequence number


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
        """Hand each table's new records to the handler (one batch per table); how many."""
        handled = 0
        for table in self.tables:
            handled += self._poll_table(settings().table_name(table))
        return handled

    def drain(self, limit: int = 100) -> int:
        """Poll until no stream has new records; how many records were handed over."""
        total = 0
        for _ in range(limit):
            count = self.poll_once()
            if count == 0:
                return total
            total += count
        raise RuntimeError("the change streams did not run dry")

    def _poll_table(self, table_name: str) -> int:
        dynamodb, streams = aws.client("dynamodb"), aws.client("dynamodbstreams")
        stream_arn = dynamodb.describe_table(TableName=table_name)["Table"].get("LatestStreamArn")
        if not stream_arn:
            return 0
        position = self._positions.setdefault(stream_arn, _Position())
        shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        if not shards:
            return 0
        shard_id = shards[0]["ShardId"]
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
            return 0
        region = settings().region
        event = {"Records": [lambda_record(r, stream_arn, region) for r in records]}
        result = self.handler(event, None) or {}
        failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        if not failed:
            position.after = records[-1]["dynamodb"]["SequenceNumber"]
            return len(records)
        first = min(failed, key=int)
        done = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
        if done:
            position.after = done[-1]["dynamodb"]["SequenceNumber"]
        position.attempts[first] = position.attempts.get(first, 0) + 1
        failing = next(r for r in records if r["dynamodb"]["SequenceNumber"] == first)
        condition = self._gives_up(position.attempts[first], failing)
        if condition:  # give up on it, as the mapping does
            self._record_failure(stream_arn, shard_id, first, condition,
                                 position.attempts.pop(first))
            position.after = first
        return len(records)

    def _gives_up(self, attempts: int, record: dict) -> str | None:
        """The mapping's reason to give up on a record that failed ``attempts`` times."""
        age = self.clock() - epoch_seconds(record["dynamodb"]["ApproximateCreationDateTime"])
        if age > self.max_age_seconds:
            return "RecordAgeExceeded"
        if self.max_retries is not None and attempts > self.max_retries:
            return "RetryAttemptsExhausted"
        return None

    def _record_failure(self, stream_arn: str, shard_id: str, sequence: str, condition: str,
                        invocations: int) -> None:
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=queue.stream_failure_queue_name())["QueueUrl"]
        now = datetime.now(timezone.utc).isoformat()
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({
            "requestContext": {"condition": condition, "approximateInvokeCount": invocations},
            "DDBStreamBatchInfo": {"shardId": shard_id, "startSequenceNumber": sequence,
                                   "endSequenceNumber": sequence, "batchSize": 1,
                                   "streamArn": stream_arn, "approximateArrivalOfFirstRecord": now,
                                   "approximateArrivalOfLastRecord": now},
        }))
        log.error("stream record %s of %s sent to the failure queue", sequence, stream_arn)


def start_stream_poller(handler: Callable[[dict, object], dict] | None = None
                        ) -> Callable[[], None]:
    """Poll the change streams in a daemon thread until the returned function is called."""
    return run_in_background("stream-poller", StreamPoller(handler).poll_once,
                             idle_seconds=INTERVAL_SECONDS)
