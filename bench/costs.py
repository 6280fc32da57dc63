"""Estimated AWS cost per million API requests of a stated mix, from what was measured.

Measured by ``make bench``: each operation's DynamoDB and SQS calls and the DynamoDB
capacity units they consume (bench/capacity.py: AWS's rules applied to the items each
call read and wrote), the change-stream records it produces and what the fan-out and
delivery functions spend on them, each packaged function's CPU per invocation
(bench/sizing.py), and the bytes of every log line. Modelled: a Lambda invocation lasts
its measured CPU stretched by the function's memory (:func:`bench.sizing.stretch`) plus
:data:`CALL_LATENCY_MS` per AWS call, billed per millisecond at the memory in
``.chalice/config.json``.

Prices are us-east-1 list prices as published on the AWS pricing pages in November
2024 (DynamoDB on-demand after its 2024-11-01 reduction); check them before relying on
the figures. Every other assumption is a named constant below.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

from bench import capacity
from bench.calls import AUTHORIZER
from bench.sizing import FULL_VCPU_MB, stretch
from chalicelib.events.queue import STREAM_BATCH_SIZE

PRICES_DATE = "November 2024, us-east-1 list prices"
API_GATEWAY_PER_MILLION = 3.50  # REST API, first 333 million requests/month
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_GB_SECOND = 0.0000166667  # x86
DYNAMODB_READ_UNITS_PER_MILLION = 0.125  # on-demand
DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625  # on-demand
SQS_PER_MILLION = 0.40  # standard queue
LOGS_PER_GB = 0.50  # CloudWatch Logs ingestion (standard class; Lambda's vended-log first tier)
XRAY_PER_MILLION_TRACES = 5.00
# Fixed per month, whatever the traffic.
ALARM_PER_MONTH = 0.10
DASHBOARD_PER_MONTH = 3.00  # beyond the account's first three

CALL_LATENCY_MS = 5.0  # one DynamoDB or SQS call from Lambda in the same region
DELIVERY_RECEIVER_MS = 200  # a receiver's answer to a webhook POST
WEBHOOK_SHARE = 0.1  # webhook deliveries per API request
# The fan-out runs per batch of change records: 1 record per invocation when traffic is
# light (each change arrives alone), up to the mapping's batch size when it is heavy.
STREAM_RECORDS_PER_INVOCATION = 1.0
# Lambda's own lines per invocation at system log level INFO (JSON): platform.start and
# platform.report with tracing, as AWS documents them; and the requestId key the runtime
# adds to each application line.
PLATFORM_LOG_BYTES = 700
RUNTIME_REQUEST_ID_BYTES = len(', "requestId": "8f5e2bb2-7f2c-4c1c-9d6c-3f1b5e0a9d21"')
LAMBDA_UNSAMPLED_TRACE_SHARE = 0.05  # Lambda samples 5% of invocations nobody traced upstream

# The mix: what an integration (timer, dashboard, Zapier-style sync) sends, per 100 requests.
MIX = {
    "GET /me/": 5, "GET /projects/": 10, "GET /projects/{id}/": 3, "POST /projects/": 1,
    "GET /sessions/": 20, "GET /sessions/?active=true": 15, "POST /sessions/": 12,
    "GET /sessions/{id}/": 5, "PATCH /sessions/{id}/": 4, "POST /sessions/{id}/close/": 12,
    "GET /clients/": 3, "GET /invoices/": 3, "POST /invoices/": 1, "GET /invoices/{id}/": 2,
    "POST /invoices/{id}/mark_paid/": 1, "GET /webhooks/": 3,
}


@dataclass(frozen=True)
class Invocations:
    """Per API request on average: a function's invocations and what one of them does."""

    count: float
    memory_mb: int
    cpu_ms: float
    calls: float
    wait_ms: float = 0.0

    def billed_ms(self) -> float:
        stretched = self.cpu_ms * stretch(self.memory_mb)
        return math.ceil(stretched + self.calls * CALL_LATENCY_MS + self.wait_ms)

    def gb_seconds(self) -> float:
        return self.count * self.billed_ms() / 1000 * self.memory_mb / 1024


def access_log_bytes() -> int:
    """API Gateway's access log line, with values of a typical request."""
    from chalicelib.deploy.template import ACCESS_LOG_FORMAT
    typical = {"request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "ip": "203.0.113.7",
               "method": "GET", "path": "/api/api/v1/sessions/", "status": "200",
               "latency_ms": "48", "principal": "user/1042", "key_id": "ab12cd34",
               "error": "-", "time": "01/Dec/2026:10:00:00 +0000"}
    return len(json.dumps({k: typical.get(k, "-") for k in ACCESS_LOG_FORMAT},
                          separators=(",", ":")))


def estimate(measured: dict[str, dict], sizing: dict, background: capacity.Background,
             trace_sample_rate: float | None = None, stage: str = "prod") -> dict:
    """Dollars per million requests of :data:`MIX`, by service.

    ``measured``: each operation's calls (``authorizer``/``dynamodb``/``sqs`` Counters) and
    the capacity they consumed (``capacity``: bench/capacity.py's entries); ``sizing``:
    bench/sizing.py's figures per function; ``background``: the change records each
    operation produces and what the fan-out and delivery functions spend on them; the
    stage's system log level decides whether Lambda's own lines are paid for.
    """
    weight = sum(MIX.values())
    share = {name: n / weight for name, n in MIX.items()}
    api, auth = sizing["api_handler"], sizing["api_key_authorizer"]
    fan, delivery = sizing["fan_out_events"], sizing["deliver_webhooks"]

    calls = Counter()
    api_cpu = api_calls = auth_calls = 0.0
    for name, s in share.items():
        op = measured[name]
        for counter in (op["dynamodb"], op["authorizer"], op["sqs"]):
            calls.update({k: v * s for k, v in counter.items()})
        api_cpu += s * api.per_operation[name]
        api_calls += s * (sum(op["dynamodb"].values()) + sum(op["sqs"].values()))
        auth_calls += s * sum(op["authorizer"].values())
    records = sum(s * background.records[name] for name, s in share.items())
    # DynamoDB units per request, by where they are spent (the authorizer on every request).
    spent = {"authorizer": sum((capacity.total(measured[name]["capacity"],
                                               lambda e: e.phase == AUTHORIZER) * s
                                for name, s in share.items()), capacity.Units())}
    spent.update({name: capacity.total(measured[name]["capacity"],
                                       lambda e: e.phase != AUTHORIZER) * s
                  for name, s in share.items()})
    spent["fan_out_events"] = background.per_record * records
    spent["deliver_webhooks"] = background.per_delivery * WEBHOOK_SHARE
    dynamodb = sum(spent.values(), capacity.Units())

    fan_calls = Counter(fan.calls["warm"])
    per_record = {k: v / fan.units for k, v in fan_calls.items()}
    calls.update({k: v * records for k, v in per_record.items()})
    delivery_calls = Counter(delivery.calls["warm"])
    per_delivery = {k: v / delivery.units for k, v in delivery_calls.items()}
    calls.update({k: v * WEBHOOK_SHARE for k, v in per_delivery.items()})

    fan_invocations = records / STREAM_RECORDS_PER_INVOCATION
    invocations = {
        "api_handler": Invocations(1.0, api.memory_mb, api_cpu, api_calls),
        "api_key_authorizer": Invocations(1.0, auth.memory_mb, auth.warm_median_ms, auth_calls),
        "fan_out_events": Invocations(
            fan_invocations, fan.memory_mb,
            sum(fan.warm_cpu_ms) / max(1, fan.units) * STREAM_RECORDS_PER_INVOCATION,
            sum(per_record.values()) * STREAM_RECORDS_PER_INVOCATION),
        "deliver_webhooks": Invocations(
            WEBHOOK_SHARE, delivery.memory_mb, sum(delivery.warm_cpu_ms) / delivery.units,
            sum(per_delivery.values()), DELIVERY_RECEIVER_MS),
    }
    reads, writes = dynamodb.read, dynamodb.write
    sqs = sum(v for k, v in calls.items() if k.startswith("sqs")) + WEBHOOK_SHARE * 2  # + the
    # SQS trigger's receive and delete of each delivery

    from chalicelib.deploy import template
    platform_bytes = PLATFORM_LOG_BYTES if template.log_levels(stage)[1] == "INFO" else 0
    if trace_sample_rate is None:  # the stack's default
        trace_sample_rate = template.PARAMETERS["TraceSampleRate"]["Default"]
    log_bytes = (access_log_bytes()
                 + api.log_bytes_per_invocation + auth.log_bytes_per_invocation
                 + fan_invocations * fan.log_bytes_per_invocation
                 + WEBHOOK_SHARE * delivery.log_bytes_per_invocation
                 + (2 + fan_invocations + WEBHOOK_SHARE) * platform_bytes)
    traces = trace_sample_rate + LAMBDA_UNSAMPLED_TRACE_SHARE * (fan_invocations + WEBHOOK_SHARE)
    lambda_requests = sum(i.count for i in invocations.values())
    cost = {
        "API Gateway": API_GATEWAY_PER_MILLION,
        "Lambda requests": LAMBDA_REQUESTS_PER_MILLION * lambda_requests,
        "Lambda duration": 1e6 * sum(i.gb_seconds() for i in invocations.values())
        * LAMBDA_GB_SECOND,
        "DynamoDB reads": reads * DYNAMODB_READ_UNITS_PER_MILLION,
        "DynamoDB writes": writes * DYNAMODB_WRITE_UNITS_PER_MILLION,
        "SQS": sqs * SQS_PER_MILLION,
        "CloudWatch Logs": log_bytes * 1e6 / 1e9 * LOGS_PER_GB,
        "X-Ray": traces * XRAY_PER_MILLION_TRACES,
    }
    return {"per_million": cost, "total": sum(cost.values()), "read_units": reads,
            "write_units": writes, "sqs_requests": sqs, "log_bytes": log_bytes,
            "lambda_requests": lambda_requests, "stream_records": records,
            "invocations": invocations, "traces": traces,
            "trace_sample_rate": trace_sample_rate, "units_by_source": spent}


def fixed_per_month(alarms: int, dashboards: int = 1) -> float:
    """What the operations cost per month whatever the traffic (X-Ray's reservoir aside)."""
    return alarms * ALARM_PER_MONTH + dashboards * DASHBOARD_PER_MONTH


TARGET_PER_MILLION = 5.00


def capacity_lines(cost: dict) -> list[str]:
    """Where the DynamoDB units of an average request are spent, dearest first."""
    weight = sum(MIX.values())
    share = {"authorizer": 1.0, "fan_out_events": cost["stream_records"],
             "deliver_webhooks": WEBHOOK_SHARE, **{k: v / weight for k, v in MIX.items()}}
    what = {"authorizer": "the authorizer's key `GetItem` (every request)",
            "fan_out_events": "`fan_out_events` (per change record)",
            "deliver_webhooks": "`deliver_webhooks` (per delivery)"}

    def dollars(units: capacity.Units) -> float:
        return (units.read * DYNAMODB_READ_UNITS_PER_MILLION
                + units.write * DYNAMODB_WRITE_UNITS_PER_MILLION)

    spent = sorted(cost["units_by_source"].items(), key=lambda kv: -dollars(kv[1]))
    lines = [
        "DynamoDB units per request on average, by where they are spent: the operation's"
        " own units (section 1, AWS's capacity rules applied to the items each call read"
        " and wrote: `bench/capacity.py`) times its share of requests. The fan-out's and"
        " the delivery function's were measured the same way, in this process, on the"
        " change records and messages the operations produced.",
        "",
        "| spent by | per request | read units | write units | $ per million requests |",
        "|---|---|---|---|---|",
    ]
    for name, units in spent:
        each = units / share[name]
        lines.append(f"| {what.get(name, f'`{name}`')} | {share[name]:.2f} ×"
                     f" {each.read:.2f} R / {each.write:.2f} W | {units.read:.3f} |"
                     f" {units.write:.3f} | {dollars(units):.3f} |")
    return lines


def report_lines(cost: dict, alarms: int) -> list[str]:
    """BENCHMARKS.md's cost section."""
    from chalicelib.deploy import template

    per = cost["per_million"]
    observing = per["CloudWatch Logs"] + per["X-Ray"]
    request_path = cost["total"] - observing
    system = template.log_levels("prod")[1]
    platform_dollars = PLATFORM_LOG_BYTES * cost["lambda_requests"] / 1e3 * LOGS_PER_GB
    if system == "INFO":
        platform = "Lambda's own start and report lines are included (system log level INFO)."
    else:
        platform = (f"Lambda's own start and report lines are not written in prod (system log"
                    f" level {system}); at INFO they would add {PLATFORM_LOG_BYTES} bytes an"
                    f" invocation, ${platform_dollars:.2f} per million requests.")
    two_invocations = 2 * LAMBDA_REQUESTS_PER_MILLION
    met = cost["total"] <= TARGET_PER_MILLION
    reservoir = 86400 * 30 / 1e6 * XRAY_PER_MILLION_TRACES
    lines = [
        f"Prices: {PRICES_DATE} — API Gateway REST ${API_GATEWAY_PER_MILLION}/M, Lambda"
        f" ${LAMBDA_REQUESTS_PER_MILLION}/M requests and ${LAMBDA_GB_SECOND}/GB-s (x86),"
        f" DynamoDB on-demand ${DYNAMODB_READ_UNITS_PER_MILLION}/M read units and"
        f" ${DYNAMODB_WRITE_UNITS_PER_MILLION}/M write units, SQS ${SQS_PER_MILLION}/M"
        f" requests, CloudWatch Logs ${LOGS_PER_GB}/GB ingested, X-Ray"
        f" ${XRAY_PER_MILLION_TRACES}/M traces.",
        "",
        "Mix per 100 requests: " + ", ".join(f"`{k}` {v}" for k, v in MIX.items()) + ".",
        "",
        "Measured: each operation's calls and DynamoDB capacity units on the typical"
        " account (section 1), change-stream records"
        f" ({cost['stream_records']:.2f} per request), each packaged function's CPU per"
        " invocation (section 2), the bytes of its log lines. Modelled: an invocation lasts"
        f" its CPU stretched by its memory (a full vCPU at {FULL_VCPU_MB:,} MB) plus"
        f" {CALL_LATENCY_MS:.0f} ms per AWS call, billed per ms:",
        "",
        "| function | invocations per request | memory | billed ms each |",
        "|---|---|---|---|",
    ]
    for name, invocation in cost["invocations"].items():
        lines.append(f"| `{name}` | {invocation.count:.2f} | {invocation.memory_mb} MB |"
                     f" {invocation.billed_ms():.0f} |")
    lines += [
        "",
        f"Assumed: {WEBHOOK_SHARE:.0%} of requests cause one webhook delivery, whose receiver"
        f" answers in {DELIVERY_RECEIVER_MS} ms; the fan-out gets"
        f" {STREAM_RECORDS_PER_INVOCATION:g} change record per invocation"
        f" (`STREAM_RECORDS_PER_INVOCATION`: light traffic; a busy stream batches up to"
        f" {STREAM_BATCH_SIZE})."
        " DynamoDB units are measured, not assumed (below). Logs: API Gateway's access line"
        " and each function's own"
        f" lines with the runtime's requestId, {cost['log_bytes']:.0f} bytes per request."
        f" {platform} X-Ray: the stage's sampling rule traces"
        f" {cost['trace_sample_rate'] * 100:g}% of requests beyond one a second"
        f" (`TraceSampleRate`); Lambda traces"
        f" {LAMBDA_UNSAMPLED_TRACE_SHARE:.0%} of the background functions' invocations.",
        "",
        "| service | $ per million requests |",
        "|---|---|",
        *(f"| {service} | {dollars:.2f} |" for service, dollars in per.items()),
        f"| **total** | **{cost['total']:.2f}** |",
        "",
        f"Target ≤ ${TARGET_PER_MILLION:.2f}: **{'met' if met else 'not met'}**. The services"
        f" the previous estimate counted (requests, functions, tables, queue) come to"
        f" ${request_path:.2f}; logs and traces add ${observing:.2f}. API Gateway alone is"
        f" ${API_GATEWAY_PER_MILLION:.2f}, and the two invocations every request needs (the"
        f" authorizer runs each time: TTL 0) ${two_invocations:.2f} before any work.",
        "",
        f"Per request on average: {cost['read_units']:.2f} read units,"
        f" {cost['write_units']:.2f} write units, {cost['sqs_requests']:.2f} SQS requests,"
        f" {cost['lambda_requests']:.2f} Lambda invocations, {cost['traces']:.3f} traces.",
        "",
        *capacity_lines(cost),
        "",
        f"Fixed per month, whatever the traffic: {alarms} alarms and a dashboard"
        f" ${fixed_per_month(alarms):.2f}; X-Ray's first trace of each second (the stage's"
        f" rule, and Lambda's default for each background function) at most ${reservoir:.2f}"
        " each (less 100,000 free traces a month).",
    ]
    return lines
