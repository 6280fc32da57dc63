"""The call budget: no documented operation makes more AWS calls than ``bench.operations`` allows.

Counts, not timings: a regression that adds a DynamoDB call to a request fails here.
"""
from collections import Counter

import pytest

from bench.calls import AUTHORIZER, HANDLER, CallCounter, CountingGateway, summarise
from bench.operations import AUTHORIZER_BUDGET, OPERATIONS, World
from tests.conftest import ApiClient


@pytest.fixture(scope="module")
def counter(aws_endpoint):
    """A call counter hooked into the shared clients for this module."""
    counter = CallCounter().install()
    yield counter
    counter.uninstall()


@pytest.fixture
def counted(counter, account):
    """(world, client, counter): an organisation with one of each resource, behind a counting gateway."""
    from app import app
    client = ApiClient(CountingGateway(app, counter), account.token)
    return World.build(client), client, counter


def _count(counted, operation) -> dict[str, Counter]:
    world, client, counter = counted
    path, body = operation.request(world)
    with counter.counting() as calls:
        response = client.request(operation.method, path, body)
    assert response.status_code < 300, (operation.name, response.text)
    return summarise(calls)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_operation_stays_within_its_budget(counted, operation):
    phases = _count(counted, operation)
    assert phases[AUTHORIZER] == Counter({"dynamodb.GetItem": AUTHORIZER_BUDGET})
    dynamodb = sum(n for op, n in phases[HANDLER].items() if op.startswith("dynamodb."))
    assert dynamodb <= operation.budget, dict(phases[HANDLER])


def test_me_is_answered_from_the_authorizer_alone(counted):
    phases = _count(counted, OPERATIONS[0])
    assert phases[HANDLER] == Counter()


def test_the_request_path_never_calls_sqs(counted):
    world, client, counter = counted
    for _ in range(11):
        world.subscription("invoice.paid")
    with counter.counting() as calls:
        client.post(f"/invoices/{world.fresh_invoice()}/mark_paid/")
    assert not [op for op in summarise(calls)[HANDLER] if not op.startswith("dynamodb.")]


def test_paying_a_paid_invoice_reads_it_once(counted):
    world, client, counter = counted
    invoice = world.fresh_invoice()
    assert client.post(f"/invoices/{invoice}/mark_paid/").status_code == 200
    with counter.counting() as calls:
        again = client.post(f"/invoices/{invoice}/mark_paid/")
    assert (again.status_code, again.json()["status"]) == (200, "paid")
    assert summarise(calls)[HANDLER] == Counter({"dynamodb.UpdateItem": 1, "dynamodb.GetItem": 1})


def test_a_fanned_out_event_costs_its_query_and_one_sqs_call_per_ten_subscribers(counted):
    """The fan-out function's cost of one event: the subscribers Query, then the sends."""
    from chalicelib.events import fanout
    from chalicelib.local.stream_poller import StreamPoller
    world, client, counter = counted
    for _ in range(11):
        world.subscription("invoice.paid")  # 12 subscribers with the world's own
    costs: list[Counter] = []

    def handler(event, _context):
        for record in event["Records"]:
            with counter.counting() as calls:
                assert fanout.handle_records([record]) == {"batchItemFailures": []}
            costs.append(summarise(calls)[HANDLER])
        return {"batchItemFailures": []}

    streams = StreamPoller(handler)
    streams.drain()  # the world's own changes
    costs.clear()
    client.post(f"/invoices/{world.fresh_invoice()}/mark_paid/")
    streams.drain()
    paid = [c for c in costs if c["sqs.SendMessageBatch"]]
    # invoice events reach an organisation: one Query of the (event, organisation) index
    assert paid == [Counter({"dynamodb.Query": 1, "sqs.SendMessageBatch": 2})]
    # the invoice's creation (no subscriber): the Query alone
    assert [c for c in costs if c not in paid] == [Counter({"dynamodb.Query": 1})]


def test_lists_do_not_grow_with_other_users_data(counted, make_account, gateway):
    world, client, counter = counted
    other = ApiClient(gateway, make_account(email="other@example.com").token)
    project = other.post("/projects/", {"name": "Theirs"}).json()["id"]
    listing = next(o for o in OPERATIONS if o.name == "GET /sessions/")
    before = _count(counted, listing)
    for _ in range(30):
        other.post("/sessions/", {"project_id": project})
    assert _count(counted, listing) == before
