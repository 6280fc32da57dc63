"""BENCHMARKS.md: the measured figures, set against their budgets."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from bench import capacity, costs, restart, sizing
from bench.calls import AUTHORIZER
from bench.operations import AUTHORIZER_BUDGET, OPERATIONS


def _calls(counter) -> str:
    return ", ".join(f"{op.split('.', 1)[1]}×{n}" for op, n in sorted(counter.items())) or "none"


def _units(measured: dict, authorizer: bool = False) -> capacity.Units:
    return capacity.total(measured["capacity"], lambda e: (e.phase == AUTHORIZER) == authorizer)


def _units_cell(small: dict, typical: dict) -> str:
    cells = [f"{u.read:g} / {u.write:g}" for u in (_units(small), _units(typical))]
    return cells[0] if cells[0] == cells[1] else f"{cells[0]} → {cells[1]}"


def _alarms() -> int:
    from chalicelib.deploy import template
    return sum(1 for r in template.build("prod")["Resources"].values()
               if r.get("Type") == "AWS::CloudWatch::Alarm")


def write_report(path: Path, *, machine: str, small: dict, large: dict, typical: dict,
                 cold: dict,
                 invoicing: list[dict], delivery: dict, cost: dict,
                 sized: sizing.Sized, restarts: dict | None = None) -> None:
    from bench.run import HISTORY_PROJECTS, HISTORY_SESSIONS
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {date.today().isoformat()}, {machine}, against an",
        "embedded moto server on 127.0.0.1. Counts are exact; times are medians on a shared",
        "machine, so they are given as ratios or beside counts.",
        "",
        "## 1. AWS calls per request",
        "",
        f"Authorizer: one `GetItem` of the API key on every request (budget {AUTHORIZER_BUDGET}),"
        f" {_units(small[OPERATIONS[0].name], authorizer=True).read:g} read unit.",
        "Handler: DynamoDB calls by operation with a small data set (this organisation's few",
        "resources) and with 2,000 more sessions and 10 more users' projects in the table;",
        "SQS calls separately (the test organisation has an `invoice.paid` subscriber). Units:",
        "the handler's DynamoDB read / write capacity units, AWS's rules applied to the items",
        "each call read and wrote (`bench/capacity.py`; writes include every index entry),",
        "with the small data set → with a typical account's own history (the user's"
        f" {HISTORY_SESSIONS} past sessions in {HISTORY_PROJECTS} more projects: what the cost"
        " in section 5 is priced on).",
        "",
        "| operation | authorizer | handler, small | handler, large | SQS | units, read / write"
        " | budget | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    met = True
    for operation in OPERATIONS:
        s, l, t = small[operation.name], large[operation.name], typical[operation.name]
        counts = [sum(m["dynamodb"].values()) for m in (s, l, t)]
        ok = max(counts) <= operation.budget and sum(s["authorizer"].values()) == 1
        met &= ok
        lines.append(
            f"| `{operation.name}` | {_calls(s['authorizer'])} | {_calls(s['dynamodb'])} |"
            f" {_calls(l['dynamodb'])} | {_calls(s['sqs'])} | {_units_cell(s, t)} |"
            f" {operation.budget} {'✓' if ok else '✗'} | {operation.why} |")
    same = all(small[o.name]["dynamodb"] == large[o.name]["dynamodb"] for o in OPERATIONS)
    differing = [o.name for o in OPERATIONS
                 if small[o.name]["dynamodb"] != large[o.name]["dynamodb"]]
    differing_typical = [o.name for o in OPERATIONS
                         if small[o.name]["dynamodb"] != typical[o.name]["dynamodb"]]
    units_differing = [o.name for o in OPERATIONS
                       if _units(small[o.name]) != _units(large[o.name])]
    lines += [
        "",
        f"Every budget met: **{'yes' if met else 'no'}**. Counts identical with the large data"
        f" set: **{'yes' if same else 'no'}**" + (
            " — no cost depends on data the response does not contain." if same
            else " — these differ: " + ", ".join(f"`{n}`" for n in differing)
            + " (a next page skips an index its first page finished, so it depends on the"
            " user's own sessions the first run left, not on other users' data).")
        + " Units identical too: " + (
            f"**no** ({', '.join(f'`{n}`' for n in units_differing)}: they depend on what"
            " the first run left, not on other users' data)." if units_differing else "**yes**.")
        + " With the typical"
        f" account's history, counts identical: **{'no' if differing_typical else 'yes'}**"
        + (" (" + ", ".join(f"`{n}`" for n in differing_typical) + ")" if differing_typical
           else "") + "; units grow where a response holds more of the user's own data.",
        "",
        "`GET /sessions/{id}/` is the one read by id with two calls: a session shows its",
        "project's *current* name, which lives on the project. Closing a session writes the",
        "project (it records the length bucket that bounds the invoice look-back) and that",
        "write returns the name, so a close needs no read; the first close in a new bucket",
        "changes the project, so its two index entries are rewritten too (2 write units).",
        "",
        "## 2. Cold start",
        "",
        "| measure | value |",
        "|---|---|",
        f"| import of `app` vs `import chalice, boto3, pynamodb.models` (median of 15 fresh"
        f" processes) | **{cold['app'] / cold['baseline']:.2f}×** (budget 1.25×) |",
        f"| first request vs a warm one, same process (median of 5 processes) |"
        f" **{cold['first'] / cold['warm']:.1f}×** |",
        f"| of the first request: importing the route's service and models |"
        f" {cold['modules'] / cold['first']:.0%} |",
        f"| of the first request: creating the one shared DynamoDB client |"
        f" {cold['client'] / cold['first']:.0%} |",
        f"| deployment package, imports and client of a first request: without the shipped"
        f" bytecode vs with it | **{cold['packaged']['without'] / cold['packaged']['with']:.1f}×**"
        f" ({cold['packaged']['with'] * 1000:.0f} ms with) |",
        "",
        "Lambda's code directory is read-only, so Python cannot cache compiled modules there;"
        " `make package` ships unchecked-hash `.pyc` files for every module, compiled by the"
        " functions' runtime version.",
        "",
        "Importing `app` loads the routes and nothing behind them: services and table models",
        "load on first use (`chalicelib/lazy.py`) and the fan-out and delivery functions import",
        "their modules inside their handlers (`app.py`), so a cold start pays only for what its",
        "first request needs. The app uses botocore, not boto3, and every",
        "model shares one botocore client, so the first request creates one client instead",
        "of one per model. The rest of the first request is the two calls themselves",
        "(authorizer and handler) on fresh connections.",
        "",
        "### The deployment package and memory per function",
        "",
        *sizing.report_lines(sized),
        "",
        "## 3. Invoice generation",
        "",
        "| sessions in the period | DynamoDB calls | create_invoice wall time | pure maths alone | maths share |",
        "|---|---|---|---|---|",
    ]
    for row in invoicing:
        lines.append(
            f"| {row['sessions']:,} | {_calls(row['calls'])} | {row['wall'] * 1000:.0f} ms |"
            f" {row['maths'] * 1000:.1f} ms | {row['maths'] / row['wall']:.1%} |")
    lines += [
        "",
        "The sessions are read with a paged Query of the project's start-time index (one call",
        "per 1 MB page); the maths is a small share of the time.",
        "",
        "## 4. Webhook delivery",
        "",
        f"A batch of 10 messages: one receiver answers after {delivery['slowest']:.1f} s, nine",
        f"after 0.5 s (sum {delivery['sum']:.1f} s). The batch took"
        f" **{delivery['elapsed'] / delivery['slowest']:.2f}× the slowest delivery**"
        f" ({delivery['elapsed'] / delivery['sum']:.2f}× the sum); failures reported:"
        f" {len(delivery['failures'])}.",
        "",
        "## 5. Estimated AWS cost per million requests",
        "",
        *costs.report_lines(cost, alarms=_alarms()),
        "",
    ]
    if restarts is not None:
        lines += ["## 6. Restarting `make run`", "", *restart.report_lines(restarts), ""]
    path.write_text("\n".join(lines))
