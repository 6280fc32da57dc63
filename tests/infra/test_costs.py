"""The cost model and the sizing rule, on figures given here (``make bench`` feeds them measurements)."""
from __future__ import annotations

from collections import Counter

import pytest

from bench import capacity, costs, sizing
from chalicelib.deploy import template


def measured_function(name: str, memory: int, *, init=20.0, first=120.0, warm=(1.0, 2.0, 3.0),
                      rss=47.0, **extra) -> sizing.Measured:
    return sizing.Measured(name, memory, rss, init, first, list(warm), **extra)


def spent(phase: str, kind: str, units: float, call: str = "Query") -> Counter:
    return Counter({capacity.Spent(phase, kind, call, "table"): units})


def figures(records_per_operation: int = 1):
    """Every operation of the mix: one GetItem by the authorizer (1 read unit), one Query by
    the handler (0.5); a change record's fan-out reads 1 unit, a delivery writes 2."""
    calls = {name: {"authorizer": Counter({"dynamodb.GetItem": 1}),
                    "dynamodb": Counter({"dynamodb.Query": 1}), "sqs": Counter(),
                    "capacity": spent("authorizer", "read", 1.0, "GetItem")
                    + spent("handler", "read", 0.5)}
             for name in costs.MIX}
    functions = {
        "api_handler": measured_function(
            "api_handler", 512, per_operation={name: 2.0 for name in costs.MIX},
            log_bytes_per_invocation=400),
        "api_key_authorizer": measured_function("api_key_authorizer", 384, warm=(1.0,),
                                                log_bytes_per_invocation=300),
        "fan_out_events": measured_function("fan_out_events", 192, warm=(1.0, 1.0), units=2,
                                            calls={"warm": ["dynamodb:Query"] * 4}),
        "deliver_webhooks": measured_function(
            "deliver_webhooks", 192, warm=(4.0,), units=1,
            calls={"warm": ["dynamodb:GetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]},
            log_bytes_per_invocation=350),
    }
    records = {name: records_per_operation for name in costs.MIX}
    total_records = sum(records.values())
    background = capacity.Background(
        records, spent("handler", "read", 1.0 * total_records), 4,
        spent("handler", "write", 2.0 * 4, "PutItem"))
    return calls, functions, background


def test_an_invocation_is_its_stretched_cpu_plus_its_calls_billed_per_ms():
    full = costs.Invocations(1, costs.FULL_VCPU_MB, cpu_ms=2.0, calls=1)
    assert full.billed_ms() == 7  # 2 ms + one 5 ms call
    small = costs.Invocations(1, 256, cpu_ms=2.0, calls=1)
    assert small.billed_ms() == 19  # ceil(2 × 1769/256 + 5)
    assert small.gb_seconds() == pytest.approx(19 / 1000 * 0.25)


def test_every_request_pays_api_gateway_and_two_invocations():
    calls, functions, background = figures(records_per_operation=0)
    estimate = costs.estimate(calls, functions, background)
    per = estimate["per_million"]
    assert per["API Gateway"] == costs.API_GATEWAY_PER_MILLION
    assert estimate["lambda_requests"] == pytest.approx(2 + costs.WEBHOOK_SHARE)
    assert estimate["total"] == pytest.approx(sum(per.values()))


def test_dynamodb_is_priced_on_the_measured_units_of_every_function():
    calls, functions, background = figures(records_per_operation=2)
    estimate = costs.estimate(calls, functions, background)
    # authorizer 1 + handler 0.5 + 2 records × 1 read by the fan-out
    assert estimate["read_units"] == pytest.approx(1.0 + 0.5 + 2 * 1.0)
    assert estimate["write_units"] == pytest.approx(costs.WEBHOOK_SHARE * 2.0)  # deliveries
    per = estimate["per_million"]
    assert per["DynamoDB reads"] == pytest.approx(3.5 * costs.DYNAMODB_READ_UNITS_PER_MILLION)
    assert per["DynamoDB writes"] == pytest.approx(
        0.2 * costs.DYNAMODB_WRITE_UNITS_PER_MILLION)
    by_source = estimate["units_by_source"]
    assert by_source["authorizer"] == capacity.Units(pytest.approx(1.0), 0.0)
    assert by_source["fan_out_events"] == capacity.Units(pytest.approx(2.0), 0.0)
    assert sum(by_source.values(), capacity.Units()) == capacity.Units(
        pytest.approx(3.5), pytest.approx(0.2))
    # the report names every source, dearest first
    lines = costs.capacity_lines(estimate)
    rows = [line for line in lines if line.startswith("| ") and "spent by" not in line]
    assert len(rows) == len(costs.MIX) + 3
    assert "fan_out_events" in rows[0] and "authorizer" in rows[1]


def test_a_write_heavy_operation_costs_its_measured_write_units():
    calls, functions, background = figures()
    base = costs.estimate(calls, functions, background)
    calls["POST /sessions/"]["capacity"] += spent("handler", "write", 10.0, "PutItem")
    heavier = costs.estimate(calls, functions, background)
    share = costs.MIX["POST /sessions/"] / sum(costs.MIX.values())
    assert heavier["write_units"] - base["write_units"] == pytest.approx(10.0 * share)
    assert heavier["read_units"] == pytest.approx(base["read_units"])


def test_the_fan_out_is_one_parameter_away_from_batching(monkeypatch):
    calls, functions, background = figures(records_per_operation=1)
    single = costs.estimate(calls, functions, background)
    monkeypatch.setattr(costs, "STREAM_RECORDS_PER_INVOCATION", 10.0)
    batched = costs.estimate(calls, functions, background)
    assert single["invocations"]["fan_out_events"].count == pytest.approx(1.0)
    assert batched["invocations"]["fan_out_events"].count == pytest.approx(0.1)
    assert batched["per_million"]["Lambda requests"] < single["per_million"]["Lambda requests"]
    # the same subscriber queries whatever the batching
    assert batched["read_units"] == pytest.approx(single["read_units"])


def test_lambdas_own_log_lines_are_paid_for_only_at_system_level_info(monkeypatch):
    calls, functions, background = figures()
    assert template.log_levels("prod")[1] == "WARN"
    quiet = costs.estimate(calls, functions, background, stage="prod")
    loud = costs.estimate(calls, functions, background, stage="dev")
    assert loud["log_bytes"] - quiet["log_bytes"] == pytest.approx(
        costs.PLATFORM_LOG_BYTES * quiet["lambda_requests"])


def test_traces_follow_the_stacks_sample_rate():
    calls, functions, background = figures()
    default = costs.estimate(calls, functions, background)
    assert default["per_million"]["X-Ray"] == pytest.approx(costs.XRAY_PER_MILLION_TRACES * (
        template.PARAMETERS["TraceSampleRate"]["Default"]
        + costs.LAMBDA_UNSAMPLED_TRACE_SHARE * (1 + costs.WEBHOOK_SHARE)))


def test_a_size_fits_memory_twice_over_and_cpu_within_budget():
    authorizer = measured_function("api_key_authorizer", 384, init=20, first=120, warm=(1.0,))
    # cold 140 ms × 1.5 stretched to 1000 ms: 1769 × 210 / 1000 = 372 MB at least
    assert not authorizer.fits(256) and authorizer.fits(384)
    assert authorizer.recommended_mb() == 384
    hungry = measured_function("api_key_authorizer", 384, rss=300, init=1, first=1, warm=(0.1,))
    assert hungry.recommended_mb() == 768  # twice 300 MB
    slow = measured_function("api_handler", 512, per_operation={"POST /invoices/": 100.0})
    assert slow.warm_slowest_ms == 100 and slow.slowest == ""
    assert slow.recommended_mb() == 1536  # 100 × 1.5 × 1769/MB ≤ 250 from 1062 MB
