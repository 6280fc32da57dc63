"""Run by :mod:`chalicelib.deploy.invoke` as ``python -I -S lambda_child.py <code dir> <handler>``.

A stand-in for the Lambda Python runtime: only the unzipped package and the standard
library are importable (no site-packages), the root logger prints the runtime's JSON
shape at the configured level, and the handler is loaded by its template ``Handler``
string and called once per event read from stdin (a JSON list), as one warm execution
environment would. It prints one JSON object on stdout: what each call returned and the
AWS calls it made, the CPU time, and the process's peak memory. Standard
library and the package only.
"""
import importlib
import json
import logging
import os
import sys
import time
import uuid


class Context:
    """The attributes of Lambda's context object that handlers read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: int):
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def peak_rss_kb() -> int:
    """This process image's peak resident memory (VmHWM: unlike ru_maxrss, it starts
    afresh at exec, so the parent's size before the fork does not count)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def count_calls(made: list) -> None:
    """Note each call of the package's shared clients in ``made``."""
    from chalicelib import aws

    create = aws.client
    hooked = set()

    def note(model, **_):
        made.append(f"{model.service_model.service_name}:{model.name}")

    def client(service):
        found = create(service)
        if service not in hooked:
            found.meta.events.register("before-call", note, unique_id="lambda-child-calls")
            hooked.add(service)
        return found

    aws.client = client


def main() -> int:
    code_dir, handler_name = sys.argv[1], sys.argv[2]
    events = json.loads(sys.stdin.read())
    sys.path.insert(0, code_dir)
    cpu = time.process_time()
    from chalicelib.observability import JsonFormatter  # from the package, as the code uses it
    handler_out = logging.StreamHandler(sys.stderr)
    handler_out.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler_out)
    from chalicelib.observability import python_level
    logging.getLogger().setLevel(python_level(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO")))
    module_name, _, attribute = handler_name.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    init = {"cpu_ms": (time.process_time() - cpu) * 1000}
    made: list[str] = []  # every AWS call, from any thread (a delivery batch uses several)
    count_calls(made)
    calls = []
    for event in events:
        context = Context(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", attribute),
                          int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")), 30)
        cpu, before = time.process_time(), len(made)
        try:
            result, error = handler(event, context), None
        except Exception as exc:  # the runtime reports it as the invocation's error
            result, error = None, f"{type(exc).__name__}: {exc}"
        calls.append({"result": result, "error": error, "aws": made[before:],
                      "cpu_ms": (time.process_time() - cpu) * 1000})
    json.dump({"init": init, "calls": calls, "modules": sorted(sys.modules),
               "max_rss_kb": peak_rss_kb()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
