"""Memory per function, sized by measurement of the deployment package itself.

Each packaged function runs as Lambda would run it (:mod:`chalicelib.deploy.invoke`: the
unzipped package in a fresh interpreter, nothing else importable) on the events of the
documented operations: the authorizer on their tokens, the API on each operation, the
fan-out on the change-stream batches they produced, the delivery function on the
messages those queued. Measured per function: the peak resident memory, the CPU of
the cold start (imports, then the first event) and of warm invocations, and the AWS
calls of each invocation.

Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB (AWS,
"Configuring Lambda function memory"), so CPU measured here on one core stretches by
1769 / MB below that. A size is the smallest that keeps twice the measured memory and
keeps the stretched CPU (with :data:`CPU_MARGIN` for the machine's noise) within the
function's budget (:data:`BUDGETS`).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from chalicelib.deploy import invoke

FULL_VCPU_MB = 1769
SIZES = (128, 192, 256, 384, 512, 768, 1024, 1536, 1769)
MEMORY_HEADROOM = 2.0  # memory at least twice the measured peak
CPU_MARGIN = 1.5  # a function's measured CPU varied by up to a half between runs here
PASSES = 3  # each operation runs this often in one warm API environment
AUTHORIZER_RUNS = 31  # the cold first, then 30 warm for a steady median


@dataclass(frozen=True)
class Budget:
    """Stretched CPU allowed: a cold start's (imports and first event), and the slowest warm."""

    cold_ms: float
    warm_ms: float
    why: str


BUDGETS = {
    # On every request's path (TTL 0): a cold one adds to that request.
    "api_key_authorizer": Budget(1000, 50, "on every request's path"),
    "api_handler": Budget(1000, 250, "the request itself"),
    # Behind a queue or a stream: nobody waits on them.
    "fan_out_events": Budget(3000, 1000, "behind the change streams"),
    "deliver_webhooks": Budget(3000, 1000, "behind the webhook queue"),
}


def stretch(memory_mb: int) -> float:
    """How much longer CPU work takes at ``memory_mb`` than on a full vCPU."""
    return max(1.0, FULL_VCPU_MB / memory_mb)


@dataclass
class Measured:
    """One function's figures from one execution environment."""

    function: str
    memory_mb: int  # configured (.chalice/config.json)
    peak_rss_mb: float
    init_cpu_ms: float
    first_cpu_ms: float
    warm_cpu_ms: list[float]
    slowest: str = ""  # which warm invocation was the slowest (the API's operation)
    per_operation: dict[str, float] = field(default_factory=dict)  # API: median warm CPU
    calls: dict[str, list[str]] = field(default_factory=dict)  # API: AWS operations
    units: int = 1  # records (fan-out) or messages (delivery) behind the warm invocations
    log_bytes_per_invocation: float = 0.0  # its per-invocation lines, as CloudWatch stores them

    @property
    def cold_cpu_ms(self) -> float:
        return self.init_cpu_ms + self.first_cpu_ms

    @property
    def warm_median_ms(self) -> float:
        return statistics.median(self.warm_cpu_ms)

    @property
    def warm_slowest_ms(self) -> float:
        return max(self.per_operation.values()) if self.per_operation else max(self.warm_cpu_ms)

    def fits(self, memory_mb: int) -> bool:
        budget = BUDGETS[self.function]
        return (self.peak_rss_mb * MEMORY_HEADROOM <= memory_mb
                and self.cold_cpu_ms * CPU_MARGIN * stretch(memory_mb) <= budget.cold_ms
                and self.warm_slowest_ms * CPU_MARGIN * stretch(memory_mb) <= budget.warm_ms)

    def recommended_mb(self) -> int:
        return next((size for size in SIZES if self.fits(size)), SIZES[-1])


# The line each function writes per invocation (per message for the delivery function).
LINES = {"api_handler": "request", "api_key_authorizer": "authorizer decision",
         "deliver_webhooks": "webhook delivery"}


def log_bytes(function: str, done: invoke.Invocation, per: int) -> float:
    """Bytes of the function's own lines per invocation (or per message), with the
    ``requestId`` key the runtime adds; start-up chatter of a cold start left out."""
    from bench.costs import RUNTIME_REQUEST_ID_BYTES
    lines = [json.dumps(line, ensure_ascii=False) for line in done.log_lines
             if line.get("message") == LINES.get(function)]
    return sum(len(line.encode()) + 1 + RUNTIME_REQUEST_ID_BYTES for line in lines) / per


def _route(path: str):
    from chalice.local import RouteMatcher

    from app import app
    return RouteMatcher(list(app.routes)).match_route(urlsplit(path).path)


def api_events(world, caller: dict, operations) -> list[tuple[str, dict]]:
    """(operation name, API Gateway event) for each operation, prepared on ``world``."""
    events = []
    for operation in operations:
        path, body = operation.request(world)
        full = "/api/v1" + path
        match = _route(full)
        events.append((operation.name, invoke.api_event(
            operation.method, urlsplit(full).path, match.route, authorizer=caller, body=body,
            path_parameters=match.captured or None,
            query=parse_qs(urlsplit(full).query) or None)))
    return events


def background(function: str, done: invoke.Invocation, memory: dict[str, int]) -> Measured:
    """A queue- or stream-triggered function's figures: its warm invocations (one record or
    message each) after the cold first."""
    if len(done.cpu_ms) < 2:
        raise RuntimeError(f"{function} needs two events at least to be measured warm")
    return Measured(function, memory[function], done.max_rss_mb, done.init_cpu_ms,
                    done.cpu_ms[0], done.cpu_ms[1:], units=len(done.cpu_ms) - 1,
                    calls={"warm": [c for invocation in done.aws_calls[1:] for c in invocation]},
                    log_bytes_per_invocation=log_bytes(function, done, len(done.cpu_ms)))


def measure(world, token: str, code: Path, sam: dict, env: dict,
            operations) -> dict[str, Measured]:
    """Run the packaged functions on the operations' events; their figures by function."""
    from chalicelib import aws
    from chalicelib.auth.authorizer import authorize
    from chalicelib.config import settings
    from chalicelib.events import queue
    from chalicelib.local import poller
    from chalicelib.local.stream_poller import StreamPoller

    from chalicelib.deploy import template

    by_id = invoke.functions(sam)
    functions = {f.name: by_id[f.logical_id] for f in template.chalice_app("prod").functions}
    memory = {name: f["MemorySize"] for name, f in functions.items()}
    results: dict[str, Measured] = {}

    def run(name: str, events: list[dict]) -> invoke.Invocation:
        return invoke.invoke(code, functions[name], events, env)

    authorizations = [invoke.authorizer_event(token, "GET", "/api/v1/sessions/")] * AUTHORIZER_RUNS
    done = run("api_key_authorizer", authorizations)
    results["api_key_authorizer"] = Measured(
        "api_key_authorizer", memory["api_key_authorizer"], done.max_rss_mb, done.init_cpu_ms,
        done.cpu_ms[0], done.cpu_ms[1:],
        log_bytes_per_invocation=log_bytes("api_key_authorizer", done, len(authorizations)))

    allowed = authorize(f"Bearer {token}", authorizations[0]["methodArn"])
    caller = {**allowed["context"], "principalId": allowed["principalId"]}
    StreamPoller(lambda event, context: {}).drain()  # the world's own changes: not measured
    first = ("GET /sessions/", api_events(world, caller, [o for o in operations
                                                          if o.name == "GET /sessions/"])[0][1])
    prepared = [first] + [pair for _ in range(PASSES) for pair in api_events(world, caller,
                                                                             operations)]
    done = run("api_handler", [event for _, event in prepared])
    per_operation: dict[str, list[float]] = {}
    calls: dict[str, list[str]] = {}
    for (name, _), cpu, aws_calls in zip(prepared[1:], done.cpu_ms[1:], done.aws_calls[1:]):
        per_operation.setdefault(name, []).append(cpu)
        calls.setdefault(name, aws_calls)
    medians = {name: statistics.median(values) for name, values in per_operation.items()}
    results["api_handler"] = Measured(
        "api_handler", memory["api_handler"], done.max_rss_mb, done.init_cpu_ms, done.cpu_ms[0],
        done.cpu_ms[1:], slowest=max(medians, key=medians.get), per_operation=medians,
        calls=calls, log_bytes_per_invocation=log_bytes("api_handler", done, len(prepared)))

    # Light traffic: each change record and each message is an invocation of its own.
    batches: list[dict] = []
    StreamPoller(lambda event, context: batches.append(event) or {}).drain()
    singles = [{**batch, "Records": [record]} for batch in batches for record in batch["Records"]]
    results["fan_out_events"] = background("fan_out_events", run("fan_out_events", singles),
                                           memory)

    sqs = aws.client("sqs")
    conf = settings()
    messages = []
    while received := sqs.receive_message(QueueUrl=conf.webhook_queue_url,
                                          MaxNumberOfMessages=queue.DELIVERY_BATCH_SIZE,
                                          WaitTimeSeconds=0).get("Messages", []):
        messages += received
    done = run("deliver_webhooks", [poller.lambda_event([m]) for m in messages])
    results["deliver_webhooks"] = background("deliver_webhooks", done, memory)
    return results


@dataclass
class Sized:
    """The deployment package's size and its functions' figures."""

    zip_mb: float
    unzipped_mb: float
    runtime: str
    functions: dict[str, Measured]


def measure_package(world, token: str, endpoint: str, operations) -> Sized:
    """Build the prod package as ``make package`` does and measure its functions."""
    import tempfile
    import zipfile

    from chalicelib.deploy.package import package

    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        package("prod", build, echo=lambda *_: None)
        sam = json.loads((build / "sam.json").read_text())
        with zipfile.ZipFile(build / "deployment.zip") as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        code = invoke.unpack(build / "deployment.zip", Path(tmp) / "code")
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local",
               "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
               "TEMPORALIST_STAGE": "local", "TEMPORALIST_ALLOW_INSECURE_WEBHOOKS": "true"}
        functions = measure(world, token, code, sam, env, operations)
        runtime = next(iter(invoke.functions(sam).values()))["Runtime"]
        return Sized((build / "deployment.zip").stat().st_size / 1e6, unzipped / 1e6, runtime,
                     functions)


def report_lines(sized: Sized) -> list[str]:
    """BENCHMARKS.md's section on the package and the functions' memory."""
    from chalicelib.deploy.package import ZIP_BUDGET_MB

    lines = [
        f"`make package` for prod ({sized.runtime}): the zip is **{sized.zip_mb:.1f} MB**"
        f" (budget {ZIP_BUDGET_MB} MB {'✓' if sized.zip_mb <= ZIP_BUDGET_MB else '✗'}),"
        f" {sized.unzipped_mb:.1f} MB unzipped: the pinned runtime requirements, the docs"
        " page's two Swagger UI files, botocore's models for DynamoDB and SQS only, and"
        " bytecode for every module.",
        "",
        "Each function below ran from that zip in a fresh interpreter that sees nothing else"
        " (`chalicelib/deploy/invoke.py`), on the documented operations' events: the authorizer"
        f" {AUTHORIZER_RUNS} times, the API on every operation {PASSES} times, the fan-out on"
        " each change record they made, the delivery function on each message that queued."
        " CPU is measured on one core here; Lambda gives a function one vCPU at"
        f" {FULL_VCPU_MB:,} MB and a share below, so the *modelled* figures stretch it by"
        f" {FULL_VCPU_MB}/MB. A size is the smallest that holds {MEMORY_HEADROOM:g}× the"
        f" peak memory and keeps the stretched CPU (×{CPU_MARGIN} for this machine's noise)"
        " within the budget.",
        "",
        "| function | peak memory | cold: imports + first event (CPU) | warm CPU, median / slowest |"
        " budget: cold / slowest warm | size that fits | configured | modelled at configured:"
        " cold / slowest warm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in sized.functions.items():
        budget = BUDGETS[name]
        s = stretch(m.memory_mb)
        slowest = f" ({m.slowest})" if m.slowest else ""
        fits = "✓" if m.fits(m.memory_mb) else "✗"
        lines.append(
            f"| `{name}` | {m.peak_rss_mb:.0f} MB | {m.init_cpu_ms:.0f} + {m.first_cpu_ms:.0f} ms |"
            f" {m.warm_median_ms:.1f} / {m.warm_slowest_ms:.1f} ms{slowest} |"
            f" {budget.cold_ms:.0f} / {budget.warm_ms:.0f} ms ({budget.why}) |"
            f" {m.recommended_mb()} MB | **{m.memory_mb} MB** {fits} |"
            f" {m.cold_cpu_ms * s:.0f} / {m.warm_slowest_ms * s:.0f} ms |")
    lines += [
        "",
        "Sizes live in `.chalice/config.json` (`lambda_functions`); Lambda's start and report"
        " lines (system log level INFO, the dev stage) show each invocation's real memory use.",
    ]
    return lines
