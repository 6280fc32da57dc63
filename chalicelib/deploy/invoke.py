"""Invoke the packaged functions as Lambda would, outside AWS: the package, and nothing else.

``make package``'s zip is unpacked and each function's ``Handler`` (from the packaged
template) runs in a fresh interpreter that sees only the zip's contents and the
standard library (:mod:`chalicelib.deploy.lambda_child`), with the events API Gateway
and SQS would send. ``tests/infra`` uses it to prove the lean package still serves
requests and deliveries; ``make bench`` to measure each function's memory and CPU.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("lambda_child.py")


@dataclass
class Invocation:
    """What one execution environment did with a list of events."""

    results: list[Any]
    errors: list[str | None]
    aws_calls: list[list[str]]  # each invocation's AWS operations, in order
    init_cpu_ms: float
    cpu_ms: list[float]
    max_rss_mb: float
    modules: list[str]
    log_lines: list[dict] = field(default_factory=list)


def unpack(zip_path: Path, target: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    return target


def functions(sam: dict) -> dict[str, dict]:
    """The packaged functions' properties by logical id."""
    return {name: resource["Properties"] for name, resource in sam["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"}


def invoke(code_dir: Path, function: dict, events: list[dict], env: dict[str, str], *,
           python: str = sys.executable, timeout: float = 120) -> Invocation:
    """Run ``function`` (its template properties) once per event in one fresh process."""
    environment = {**env, "AWS_LAMBDA_FUNCTION_NAME": function["FunctionName"],
                   "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function["MemorySize"]),
                   "AWS_LAMBDA_LOG_LEVEL": function["LoggingConfig"]["ApplicationLogLevel"]}
    result = subprocess.run([python, "-I", "-S", "-B", str(CHILD), str(code_dir),
                             function["Handler"]], input=json.dumps(events), env=environment,
                            cwd=code_dir, capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{function['Handler']} failed:\n{result.stderr}")
    out = json.loads(result.stdout)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return Invocation(
        results=[c["result"] for c in out["calls"]], errors=[c["error"] for c in out["calls"]],
        aws_calls=[c["aws"] for c in out["calls"]],
        init_cpu_ms=out["init"]["cpu_ms"], cpu_ms=[c["cpu_ms"] for c in out["calls"]],
        max_rss_mb=out["max_rss_kb"] / 1024, modules=out["modules"],
        log_lines=[json.loads(line) for line in lines])


# --- the events API Gateway and SQS send ----------------------------------------------

def authorizer_event(token: str, method: str, path: str, *, api_stage: str = "api") -> dict:
    """A TOKEN authorizer's event for ``method path``."""
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
            "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/{api_stage}/"
                         f"{method}{path}"}


def api_event(method: str, path: str, route: str, *, authorizer: dict | None = None,
              body: Any = None, headers: dict[str, str] | None = None,
              path_parameters: dict[str, str] | None = None,
              query: dict[str, list[str]] | None = None, api_stage: str = "api") -> dict:
    """The proxy event API Gateway sends for ``method path`` matched to ``route``."""
    sent = {"Host": "abcdef1234.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    raw = None if body is None else json.dumps(body)
    return {
        "resource": route, "path": path, "httpMethod": method,
        "headers": sent, "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters, "stageVariables": None,
        "requestContext": {
            "resourcePath": route, "httpMethod": method, "path": f"/{api_stage}{path}",
            "stage": api_stage, "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7"},
            "authorizer": authorizer,
        },
        "body": raw, "isBase64Encoded": False,
    }



