"""The local stand-in for the SQS trigger: long-poll the webhook queue, call the same handler.

Messages the handler reports in ``batchItemFailures`` are left on the queue (they come
back after the visibility timeout and end in the dead-letter queue, as on AWS); the
others are deleted.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.events import queue

log = logging.getLogger(__name__)

WAIT_SECONDS = 1


def lambda_event(messages: list[dict]) -> dict:
    """The event AWS Lambda builds for a batch of the webhook queue's messages."""
    conf = settings()
    queue_arn = f"arn:aws:sqs:{conf.region}:000000000000:{conf.webhook_queue_name}"
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {},
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": conf.region} for m in messages]}


def poll_once(handler: Callable[[dict, object], dict]) -> int:
    """Receive one batch (waiting up to a second), hand it to ``handler``, delete the successes."""
    conf = settings()
    sqs = aws.client("sqs")
    received = sqs.receive_message(QueueUrl=conf.webhook_queue_url,
                                   MaxNumberOfMessages=queue.DELIVERY_BATCH_SIZE,
                                   WaitTimeSeconds=WAIT_SECONDS).get("Messages", [])
    if not received:
        return 0
    result = handler(lambda_event(received), None) or {}
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(QueueUrl=conf.webhook_queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
    return len(received)


def run_in_background(name: str, step: Callable[[], float],
                      stop_seconds: float = 5) -> Callable[[], None]:
    """Call ``step`` in a daemon thread, waiting as many seconds as it returns (and a
    second after an error), until the returned function is called."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                wait = step()
            except Exception:
                log.exception("%s error", name)
                wait = 1
            if wait:
                stop.wait(wait)

    thread = threading.Thread(target=run, daemon=True, name=name)
    thread.start()

    def stop_polling() -> None:
        stop.set()
        thread.join(timeout=stop_seconds)

    return stop_polling


def start_poller(handler: Callable[[dict, object], dict] | None = None) -> Callable[[], None]:
    """Poll the webhook queue in a daemon thread until the returned function is called."""
    if handler is None:
        from app import deliver_webhooks as handler

    def step() -> float:
        poll_once(handler)
        return 0  # the receive itself waits for messages (up to WAIT_SECONDS)

    return run_in_background("webhook-poller", step, stop_seconds=WAIT_SECONDS + 5)
