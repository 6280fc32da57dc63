"""``make bench``: measure what requests cost and write BENCHMARKS.md.

Everything runs against an embedded moto server on 127.0.0.1 started here; times are
reported as ratios or next to counts, since these machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import costs, restart  # noqa: E402
from bench import sizing  # noqa: E402
from bench.capacity import CapacityMeter, measure_background  # noqa: E402
from bench.calls import AUTHORIZER, HANDLER, CallCounter, CountingGateway, summarise  # noqa: E402
from bench.operations import OPERATIONS, World  # noqa: E402

LARGE_SESSIONS = 2000
# The typical account the cost is priced on: a full-time user's history, 8 sessions a day
# for 63 days (about three months of working days), over a handful of projects.
HISTORY_SESSIONS = 500
HISTORY_PROJECTS = 8
COLD_RUNS = 15


class Client:
    """Calls through a counting local gateway (the same one the tests use)."""

    def __init__(self, gateway, token: str):
        self.gateway, self.token = gateway, token

    def request(self, method: str, path: str, body=None):
        import json
        headers = {"Authorization": f"Bearer {self.token}"}
        raw = None
        if body is not None:
            raw, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        result = self.gateway.handle(method, "/api/v1" + path, headers, raw)

        class Response:
            status_code = result.status_code
            text = result.body.decode()

            def json(self):
                return json.loads(self.text)

            def header(self, name):
                return {k.lower(): v for k, v in result.headers.items()}.get(name.lower())
        return Response()

    def get(self, path, body=None):
        return self.request("GET", path, body)

    def post(self, path, body=None):
        return self.request("POST", path, body)

    def patch(self, path, body=None):
        return self.request("PATCH", path, body)

    def delete(self, path, body=None):
        return self.request("DELETE", path, body)


def start_stack():
    from chalicelib.local import stack
    port = restart.free_port()
    stack.configure_environment(port)
    aws = stack.start_embedded_aws(port)
    stack.bootstrap()
    return aws, f"http://127.0.0.1:{port}"


def new_account(organisation_id=None, organisation="Dunder Mifflin", email="bench@example.com"):
    from chalicelib.services import accounts
    if organisation_id is None:
        organisation_id = int(accounts.create_organisation(organisation).id)
    user = accounts.create_user(email, organisation_id, "pro")
    _, token = accounts.create_key(int(user.id), "bench", "write")
    return organisation_id, int(user.id), token


def seed_other_users(organisation_id: int, sessions: int) -> None:
    """Other users' projects and sessions, in this organisation and another one."""
    from chalicelib.store import projects as project_store
    from chalicelib.store import sessions as session_store
    from chalicelib.store.projects import Project
    from chalicelib.store.sessions import Session
    base = datetime(2026, 6, 1, tzinfo=timezone.utc)
    other_org = new_account(organisation="Vance Refrigeration", email="v@example.com")[0]
    owners = [new_account(org, email=f"u{i}@example.com")[1]
              for i, org in enumerate([organisation_id] * 5 + [other_org] * 5)]
    with Project.batch_write() as projects, Session.batch_write() as batch:
        project_ids = []
        for owner in owners:
            project = project_store.build(owner_id=owner, organisation_id=organisation_id,
                                          name="Other", created=base)
            project.span_buckets = {8}
            project_ids.append((project.id, owner))
            projects.save(project)
        for i in range(sessions):
            pid, owner = project_ids[i % len(project_ids)]
            start = base + timedelta(minutes=37 * i)
            batch.save(session_store.build(user_id=owner, project_id=pid, start_time=start,
                                           end_time=start + timedelta(minutes=30)))


def seed_history(organisation_id: int, user_id: int, sessions: int = HISTORY_SESSIONS,
                 projects: int = HISTORY_PROJECTS) -> None:
    """The user's own past: closed sessions from March 2026 on, in projects of their own (no
    client, so the June invoice the operations create is the same)."""
    from chalicelib.store import projects as project_store
    from chalicelib.store import sessions as session_store
    from chalicelib.store.projects import Project
    from chalicelib.store.sessions import Session
    base = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    with Project.batch_write() as project_batch, Session.batch_write() as batch:
        project_ids = []
        for i in range(projects):
            project = project_store.build(owner_id=user_id, organisation_id=organisation_id,
                                          name=f"Retainer {i + 1}", created=base,
                                          hourly_rate="95.00")
            project.span_buckets = {4}
            project_ids.append(project.id)
            project_batch.save(project)
        for i in range(sessions):
            start = base + timedelta(days=i // 8, hours=i % 8)
            batch.save(session_store.build(
                user_id=user_id, project_id=project_ids[i % projects], start_time=start,
                end_time=start + timedelta(minutes=50),
                description=f"Sprint work and review, ticket #{1000 + i}"))


def measure_operations(counter: CallCounter, meter: CapacityMeter,
                       world: World) -> dict[str, dict]:
    results = {}
    for operation in OPERATIONS:
        path, body = operation.request(world)
        with counter.counting() as calls, meter.counting() as spent:
            response = world.api.request(operation.method, path, body)
        assert response.status_code < 300, (operation.name, response.text)
        phases = summarise(calls)
        results[operation.name] = {
            "authorizer": phases[AUTHORIZER],
            "dynamodb": Counter({k: v for k, v in phases[HANDLER].items() if k.startswith("dynamodb.")}),
            "sqs": Counter({k: v for k, v in phases[HANDLER].items() if k.startswith("sqs.")}),
            "capacity": spent,
        }
    return results


def _median_subprocess(code: str, env: dict, runs: int = COLD_RUNS) -> float:
    values = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout
        values.append(float(out.strip().splitlines()[-1]))
    return statistics.median(values)


BASELINE_IMPORT = ("import time; t=time.perf_counter(); import chalice, boto3, pynamodb.models; "
                   "print(time.perf_counter()-t)")
APP_IMPORT = "import time; t=time.perf_counter(); import app; print(time.perf_counter()-t)"


def import_times(env: dict, runs: int = COLD_RUNS) -> tuple[float, float]:
    """Median import times (baseline, app), the two alternated so drift hits both alike."""
    baseline, app = [], []
    for _ in range(runs):
        baseline.append(_median_subprocess(BASELINE_IMPORT, env, runs=1))
        app.append(_median_subprocess(APP_IMPORT, env, runs=1))
    return statistics.median(baseline), statistics.median(app)


def cold_start(endpoint: str, token: str) -> dict:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    baseline, app_import = import_times(env)
    first_request = (
        "import time, statistics\n"
        "from app import app\n"
        "from chalicelib.local.gateway import LocalGateway\n"
        "gateway = LocalGateway(app)\n"
        f"headers = {{'Authorization': 'Bearer {token}'}}\n"
        "t = time.perf_counter(); gateway.handle('GET', '/api/v1/projects/', headers, None); "
        "first = time.perf_counter() - t\n"
        "warm = []\n"
        "for _ in range(20):\n"
        "    t = time.perf_counter(); gateway.handle('GET', '/api/v1/projects/', headers, None); "
        "warm.append(time.perf_counter() - t)\n"
        "print(first, statistics.median(warm))\n")
    # What the first request spends, part by part, each in a fresh process.
    parts = (
        "import time, app; t = time.perf_counter(); "
        "import chalicelib.store.accounts, chalicelib.services.projects; "
        "print(time.perf_counter() - t)",
        "import time, app; from chalicelib import aws; t = time.perf_counter(); "
        "aws.client('dynamodb'); print(time.perf_counter() - t)",
    )
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", first_request], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        runs.append(tuple(float(x) for x in out[-2:]))
    first = statistics.median(r[0] for r in runs)
    warm = statistics.median(r[1] for r in runs)
    modules, client = (_median_subprocess(code, env, runs=5) for code in parts)
    return {"baseline": baseline, "app": app_import, "first": first, "warm": warm,
            "client": client, "modules": modules}


PACKAGED_COLD_START = (
    "import sys, time; sys.path.insert(0, '.'); t = time.perf_counter(); import app; "
    "import chalicelib.services.projects, chalicelib.store.accounts; from chalicelib import aws; "
    "aws.client('dynamodb'); print(time.perf_counter() - t)")


def packaged_bytecode(runs: int = 5) -> dict:
    """Cold-start imports from the deployment package, with its shipped .pyc and without."""
    import tempfile
    import zipfile
    from chalicelib.deploy.package import package
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        package("prod", Path(tmp) / "build", echo=lambda *_: None)
        for variant in ("with", "without"):
            root = Path(tmp) / variant
            with zipfile.ZipFile(Path(tmp) / "build" / "deployment.zip") as archive:
                archive.extractall(root)
            if variant == "without":
                for pyc in root.rglob("*.pyc"):
                    pyc.unlink()
            values = [float(subprocess.run(
                [sys.executable, "-I", "-S", "-B", "-c", PACKAGED_COLD_START], cwd=root, env=env,
                check=True, capture_output=True, text=True).stdout.split()[-1])
                for _ in range(runs)]
            times[variant] = statistics.median(values)
    return times


def invoice_generation(sizes=(1000, 10000)) -> list[dict]:
    from chalicelib.auth.authorizer import caller_context
    from chalicelib.auth.caller import Caller
    from chalicelib.domain import invoicing
    from chalicelib.services import invoices
    from chalicelib.store import accounts
    from chalicelib.store import clients as client_store
    from chalicelib.store import projects as project_store
    from chalicelib.store import sessions as session_store
    from chalicelib.store.sessions import Session

    counter = CallCounter().install()
    rows = []
    for size in sizes:
        org, user, token = new_account(organisation=f"Invoicing {size}", email=f"i{size}@example.com")
        caller = Caller.from_context(caller_context(accounts.load_key(token.split("_")[2])))
        now = datetime.now(timezone.utc)
        client_id = client_store.create(organisation_id=org, name="Globex", company="", email="",
                                        hourly_rate="150.00", currency="USD", created=now).id
        project = project_store.build(owner_id=user, organisation_id=org, name="Site",
                                      client_id=client_id, hourly_rate="120.00", created=now)
        project.span_buckets = {1}
        project.save()
        project_id = project.id
        window = invoicing.billing_window(date(2026, 6, 1), date(2026, 6, 30))
        step = (window.end - window.start) / size
        spans = []
        with Session.batch_write() as batch:
            for i in range(size):
                start = window.start + step * i
                end = start + min(step, timedelta(minutes=50))
                start, end = start.replace(microsecond=0), end.replace(microsecond=0)
                spans.append(invoicing.TrackedSpan(project_id, start, end))
                batch.save(session_store.build(user_id=user, project_id=project_id,
                                               start_time=start, end_time=end))
        body = {"client_id": client_id, "period_start": "2026-06-01", "period_end": "2026-06-30",
                "tax_rate": "21.00"}
        with counter.counting() as calls:
            t = time.perf_counter()
            invoice = invoices.create_invoice(caller, body)
            wall = time.perf_counter() - t
        rates = [invoicing.ProjectRate(project_id, "Site", Decimal("120.00"), None)]
        t = time.perf_counter()
        lines = invoicing.build_line_items(spans, rates, window, "add")
        invoicing.compute_totals(lines, Decimal("21.00"))
        maths = time.perf_counter() - t
        rows.append({"sessions": size, "calls": summarise(calls)[HANDLER], "wall": wall,
                     "maths": maths, "total": invoice.total})
    counter.uninstall()
    return rows


class _Receiver(BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def webhook_batch(world: World) -> dict:
    import json
    from chalicelib.events.delivery import Deliverer
    servers = []
    delays = (2.0,) + (0.5,) * 9
    for delay in delays:
        handler = type("Receiver", (_Receiver,), {"delay": delay})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    records = []
    for i, server in enumerate(servers):
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        sid = world.api.post("/webhooks/", {"event": "session.closed", "target_url": url}).json()["id"]
        records.append((f"m{i}", json.dumps({"subscription_id": sid, "delivery_id": str(uuid.uuid4()),
                                            "event": "session.closed", "occurred_at": 0, "data": {}})))
    t = time.perf_counter()
    result = Deliverer().deliver_batch(records)
    elapsed = time.perf_counter() - t
    for server in servers:
        server.shutdown()
        server.server_close()
    return {"elapsed": elapsed, "slowest": max(delays), "sum": sum(delays),
            "failures": result["batchItemFailures"]}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    aws, endpoint = start_stack()
    try:
        from app import app
        from bench.report import write_report
        counter = CallCounter().install()
        meter = CapacityMeter(phase=lambda: counter.phase).install()
        org, user, token = new_account()
        world = World.build(Client(CountingGateway(app, counter), token))
        print("calls per request (small data set)...", flush=True)
        small = measure_operations(counter, meter, world)
        print(f"seeding {LARGE_SESSIONS} sessions of other users...", flush=True)
        seed_other_users(org, LARGE_SESSIONS)
        print("calls per request (large data set)...", flush=True)
        large = measure_operations(counter, meter, world)
        print("cold start...", flush=True)
        cold = cold_start(endpoint, token)
        cold["packaged"] = packaged_bytecode()
        print("the deployment package's functions: memory and CPU...", flush=True)
        sized = sizing.measure_package(world, token, endpoint, OPERATIONS)
        print(f"seeding a typical account's history ({HISTORY_SESSIONS} sessions)...", flush=True)
        seed_history(org, user)
        print("calls and capacity per request (typical account)...", flush=True)
        typical = measure_operations(counter, meter, world)
        print("DynamoDB capacity of the fan-out and the deliveries...", flush=True)
        background = measure_background(world, OPERATIONS, meter)
        assert not meter.unmetered, f"calls the capacity model does not price: {meter.unmetered}"
        print("invoice generation...", flush=True)
        invoicing_rows = invoice_generation()
        print("webhook delivery...", flush=True)
        delivery = webhook_batch(world)
        print(f"make run restart with {restart.SESSIONS:,} sessions stored...", flush=True)
        restarts = restart.measure()
        write_report(Path(args.output), machine=machine(), small=small, large=large,
                     typical=typical, cold=cold,
                     invoicing=invoicing_rows, delivery=delivery,
                     cost=costs.estimate(typical, sized.functions, background), sized=sized,
                     restarts=restarts)
        print(f"wrote {args.output}", flush=True)
    finally:
        aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
