"""``make run`` keeps its data: the real stack, stopped (SIGTERM) or killed (SIGKILL) and
started again on the same data directory, still has every acknowledged write, the keys,
the subscriptions and the queued messages; restoring fires no stream records; the demo
account is made once; ``--fresh`` starts empty."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from tests.conftest import free_port
from tests.e2e.stack import RunningStack, start_stack

TIMEOUT = 10


def start(data_dir: Path, fresh: bool = False) -> RunningStack:
    return start_stack(free_port(), free_port(), data_dir=data_dir, fresh=fresh)


def client(stack: RunningStack, service: str):
    return boto3.client(service, endpoint_url=stack.endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


@dataclass
class Saved:
    """What the first run made through the API before a clean stop."""
    data_dir: Path
    token: str
    project: dict
    session: dict
    webhook: dict
    lines: list[str]
    next_page: str  # a page's Link, handed out before the stop

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def copy(self, to: Path) -> Path:
        """The saved data, for a test that changes it."""
        shutil.copytree(self.data_dir, to, ignore=shutil.ignore_patterns("lock"))
        return to


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Saved:
    data_dir = tmp_path_factory.mktemp("local-data")
    stack = start(data_dir)
    try:
        headers = {"Authorization": f"Bearer {stack.token}"}
        project = requests.post(f"{stack.base_url}/projects/", json={"name": "Kept"},
                                headers=headers, timeout=TIMEOUT)
        assert project.status_code == 201, project.text
        session = requests.post(f"{stack.base_url}/sessions/",
                                json={"project_id": project.json()["id"]},
                                headers=headers, timeout=TIMEOUT)
        assert session.status_code == 201, session.text
        webhook = requests.post(f"{stack.base_url}/webhooks/",
                                json={"event": "invoice.paid",
                                      "target_url": "http://127.0.0.1:9/hook"},
                                headers=headers, timeout=TIMEOUT)
        assert webhook.status_code == 201, webhook.text
        requests.post(f"{stack.base_url}/projects/", json={"name": "Newer"}, headers=headers,
                      timeout=TIMEOUT).raise_for_status()
        first_page = requests.get(f"{stack.base_url}/projects/?page_size=1", headers=headers,
                                  timeout=TIMEOUT)
        next_page = first_page.headers["Link"].split(">")[0].lstrip("<")
    finally:
        assert stack.terminate() == 0
    return Saved(data_dir, stack.token, project.json(), session.json(), webhook.json(),
                 stack.lines, next_page)


def get(stack: RunningStack, saved: Saved, path: str) -> requests.Response:
    return requests.get(f"{stack.base_url}{path}", headers=saved.headers, timeout=TIMEOUT)


def test_a_new_store_says_so_and_shows_the_demo_key_once(saved):
    assert any(line.startswith("Data: new store in ") for line in saved.lines)
    assert any("API key (write scope, shown once): tk_live_" in line for line in saved.lines)


def test_after_a_clean_stop_everything_is_there_and_the_demo_key_is_not_made_again(saved):
    stack = start(saved.data_dir)
    try:
        assert any(line.startswith(f"Data: reused {saved.data_dir}: ") for line in stack.lines)
        assert not any("tk_live_" in line for line in stack.lines)
        assert get(stack, saved, f"/projects/{saved.project['id']}/").json() == saved.project
        assert get(stack, saved, f"/sessions/{saved.session['id']}/").json() == saved.session
        assert get(stack, saved, f"/webhooks/{saved.webhook['id']}/").json() == saved.webhook
        # a cursor handed out before the restart still leads to its page (same port: the
        # Link names the old one)
        path = saved.next_page.split("/api/v1", 1)[1]
        page = get(stack, saved, path)
        assert (page.status_code, page.json()) == (200, [saved.project])
        keys = json.loads(stack.cli("list-keys", "1").stdout)["keys"]
        assert [key["name"] for key in keys] == ["Local demo"]
        # The banner's way to a new key works as printed.
        hint = next(line for line in stack.lines if "chalicelib.admin create-key" in line)
        assert 'create-key 1 --name "Local key" --scope write' in hint
        made = stack.cli("create-key", "1", "--name", "Local key", "--scope", "write")
        assert made.returncode == 0, made.stderr
        me = requests.get(f"{stack.base_url}/me/", timeout=TIMEOUT, headers={
            "Authorization": f"Bearer {json.loads(made.stdout)['token']}"})
        assert (me.status_code, me.json()["api_key_name"]) == (200, "Local key")
        # One stack per data directory: a second one stops at once with one line.
        with pytest.raises(RuntimeError, match="another local stack is using"):
            start(saved.data_dir)
    finally:
        assert stack.terminate() == 0


def test_kill_9_right_after_the_answers_loses_nothing(saved, tmp_path):
    data_dir = saved.copy(tmp_path / "data")
    stack = start(data_dir)
    base = stack.base_url
    renamed = requests.patch(f"{base}/projects/{saved.project['id']}/", json={"name": "Renamed"},
                             headers=saved.headers, timeout=TIMEOUT)
    deleted = requests.delete(f"{base}/webhooks/{saved.webhook['id']}/",
                              headers=saved.headers, timeout=TIMEOUT)
    closed = requests.post(f"{base}/sessions/{saved.session['id']}/close/",
                           headers=saved.headers, timeout=TIMEOUT)
    created = requests.post(f"{base}/sessions/", json={"project_id": saved.project["id"]},
                            headers=saved.headers, timeout=TIMEOUT)
    stack.kill()  # at once after the last answer
    assert (created.status_code, closed.status_code, deleted.status_code,
            renamed.status_code) == (201, 200, 204, 200)

    stack = start(data_dir)
    try:
        assert get(stack, saved, f"/sessions/{created.json()['id']}/").json() == created.json()
        assert get(stack, saved, f"/sessions/{saved.session['id']}/").json() == closed.json()
        assert get(stack, saved, f"/webhooks/{saved.webhook['id']}/").status_code == 404
        assert get(stack, saved, f"/projects/{saved.project['id']}/").json() == renamed.json()
    finally:
        assert stack.terminate() == 0


def test_queued_messages_survive_with_their_receive_counts(saved, tmp_path):
    data_dir = saved.copy(tmp_path / "data")
    stack = start(data_dir)
    sqs = client(stack, "sqs")
    urls = sqs.list_queues()["QueueUrls"]
    dlq = next(url for url in urls if url.endswith("-dlq"))
    queue = next(url for url in urls if url.endswith("-webhooks"))
    sent = sqs.send_message(QueueUrl=dlq, MessageBody='{"delivery_id": "d-1"}',
                            MessageAttributes={"kind": {"DataType": "String",
                                                        "StringValue": "test"}})
    # The poller takes what is visible on the webhook queue; a delayed message stays queued.
    sqs.send_message(QueueUrl=queue, MessageBody='{"delivery_id": "d-2"}', DelaySeconds=900)
    first = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0,
                                AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert first[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    stack.kill()

    stack = start(data_dir)
    try:
        assert any("2 queued messages" in line for line in stack.lines)
        sqs = client(stack, "sqs")
        again = sqs.receive_message(QueueUrl=dlq, AttributeNames=["ApproximateReceiveCount"],
                                    MessageAttributeNames=["All"])["Messages"]
        assert [(m["MessageId"], m["Body"], m["Attributes"]["ApproximateReceiveCount"],
                 m["MessageAttributes"]["kind"]["StringValue"]) for m in again] == [
            (sent["MessageId"], '{"delivery_id": "d-1"}', "2", "test")]
        delayed = sqs.get_queue_attributes(QueueUrl=queue,
                                           AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    finally:
        assert stack.terminate() == 0


def _stream_records(stack: RunningStack, table: str) -> list[dict]:
    stream_arn = client(stack, "dynamodb").describe_table(TableName=table)["Table"][
        "LatestStreamArn"]
    streams = client(stack, "dynamodbstreams")
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return records


def test_restoring_produces_no_stream_records(saved, tmp_path):
    data_dir = saved.copy(tmp_path / "data")
    stack = start(data_dir)
    dynamodb = client(stack, "dynamodb")
    dynamodb.create_table(
        TableName="stream-probe", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    for n in range(3):
        dynamodb.put_item(TableName="stream-probe", Item={"id": {"S": f"item-{n}"}})
    assert len(_stream_records(stack, "stream-probe")) == 3
    stack.kill()  # the probe table and its items are in the journal only

    for new_write in (False, True):  # restored from the journal, then from a snapshot
        stack = start(data_dir)
        try:
            dynamodb = client(stack, "dynamodb")
            assert dynamodb.scan(TableName="stream-probe", Select="COUNT")["Count"] == 3
            assert _stream_records(stack, "stream-probe") == []
            streamed = [t for t in dynamodb.list_tables()["TableNames"]
                        if dynamodb.describe_table(TableName=t)["Table"].get("LatestStreamArn")]
            assert all(_stream_records(stack, t) == [] for t in streamed)
            if new_write:  # the stream still works for new writes
                dynamodb.put_item(TableName="stream-probe", Item={"id": {"S": "new"}})
                records = _stream_records(stack, "stream-probe")
                assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in records] == [
                    ("INSERT", {"id": {"S": "new"}})]
        finally:
            assert stack.terminate() == 0


def test_fresh_starts_empty(saved, tmp_path):
    data_dir = saved.copy(tmp_path / "data")
    stack = start(data_dir, fresh=True)
    try:
        assert any(line.startswith("Data: new store in ") for line in stack.lines)
        assert stack.token != saved.token
        assert requests.get(f"{stack.base_url}/me/", headers=saved.headers,
                            timeout=TIMEOUT).status_code == 401
        projects = requests.get(f"{stack.base_url}/projects/", timeout=TIMEOUT,
                                headers={"Authorization": f"Bearer {stack.token}"})
        assert (projects.status_code, projects.json()) == (200, [])
    finally:
        assert stack.terminate() == 0


def test_data_saved_with_other_indexes_stops_the_start_with_one_message(saved, tmp_path):
    """Items saved before the code re-keyed an index lack its keys: the stack refuses them
    rather than answer lists that silently leave them out."""
    data_dir = saved.copy(tmp_path / "data")
    snapshot = json.loads((data_dir / "snapshot.json").read_text())
    [sessions] = [t for t in snapshot["tables"] if t["table"].endswith("-sessions")]
    sessions["definition"]["GlobalSecondaryIndexes"][0]["IndexName"] = "by_user"
    (data_dir / "snapshot.json").write_text(json.dumps(snapshot))
    with pytest.raises(RuntimeError, match="saved with other keys or indexes.*FRESH=1"):
        start(data_dir)
