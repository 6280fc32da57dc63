"""The deployment zip: small, only what the functions load, built for the stage's runtime, and working.

The functions are run from the unpacked zip in interpreters that see nothing else
(:mod:`chalicelib.deploy.invoke`), against the embedded AWS: if the trimming dropped
something a request, an authorisation, a fan-out or a delivery needs, these fail.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging import tags
from packaging.requirements import Requirement

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.deploy import invoke, package, template
from chalicelib.schema import docs_page
from tests.infra.conftest import STAGE
from tests.log_scan import SCANNER

ROOT = template.PROJECT_DIR
# Modules Chalice's packager writes into the zip itself (its runtime, not the CLI).
CHALICE_RUNTIME = {"chalice", "chalice.app"}
# glibc of Lambda's Python runtimes: Amazon Linux 2 (python3.11), Amazon Linux 2023 (3.12+).
LAMBDA_GLIBC = {"python3.11": 26, "python3.12": 34, "python3.13": 34, "python3.14": 34}


def names(out_dir: Path) -> list[str]:
    with zipfile.ZipFile(out_dir / "deployment.zip") as archive:
        return archive.namelist()


def pinned() -> dict[str, str]:
    """requirements.txt as {normalised distribution name: version}."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line} is not pinned"
            found[normalise(requirement.name)] = specifier.version
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def zipped_distributions(out_dir: Path) -> dict[str, str]:
    found = {}
    for name in names(out_dir):
        if name.endswith(".dist-info/METADATA"):
            dist, version = name.split("/")[0].removesuffix(".dist-info").rsplit("-", 1)
            found[normalise(dist)] = version
    return found


# --- size and contents --------------------------------------------------------------------

def test_the_zip_is_within_its_budget(packaged):
    size = (packaged.out_dir / "deployment.zip").stat().st_size
    assert size <= package.ZIP_BUDGET_MB * 1_000_000, f"{size / 1e6:.1f} MB"


def test_the_zip_holds_exactly_the_pinned_distributions(packaged):
    assert zipped_distributions(packaged.out_dir) == pinned()


def test_no_development_tool_ships(packaged):
    zipped = names(packaged.out_dir)
    tops = {name.split("/")[0] for name in zipped}
    assert not tops & {"pip", "setuptools", "wheel", "boto3", "s3transfer", "requests", "click",
                       "jinja2", "wcwidth", "blessed", "inquirer", "moto", "swagger_ui_py"}
    assert not [n for n in zipped if n.startswith(package.DEV_ONLY_PACKAGES)]
    shipped_sources = {n for n in zipped if n.startswith("chalicelib/") and n.endswith(".py")}
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "chalicelib").rglob("*.py")
                if not p.relative_to(ROOT).as_posix().startswith(package.DEV_ONLY_PACKAGES)}
    assert shipped_sources == expected


def test_only_the_docs_pages_swagger_files_ship_unchanged(packaged):
    with zipfile.ZipFile(packaged.out_dir / "deployment.zip") as archive:
        swagger = {n: archive.read(n) for n in archive.namelist() if n.startswith("swagger_ui/")}
    assert set(swagger) == {f"swagger_ui/static/{n}" for n in (*docs_page.PAGE_ASSETS, "LICENSE")}
    for name, content in swagger.items():
        assert content == (docs_page.dist_dir() / name.rsplit("/", 1)[1]).read_bytes()
    assert set(docs_page.asset_names()) == set(docs_page.PAGE_ASSETS)
    page, _ = docs_page.page("/api/v1")
    assert set(re.findall(r'/docs/([\w.-]+)"', page)) == set(docs_page.PAGE_ASSETS)


def test_botocore_keeps_the_models_of_the_services_the_functions_call(packaged):
    models = {n.split("/")[2] for n in names(packaged.out_dir)
              if n.startswith("botocore/data/") and n.count("/") > 2}
    assert models == set(aws.SERVICES)


# --- requirements are the imports ---------------------------------------------------------

def runtime_imports() -> dict[str, set[str]]:
    """Top-level modules imported by app.py and the shipped chalicelib, with their importers."""
    files = [ROOT / "app.py"] + [p for p in (ROOT / "chalicelib").rglob("*.py")
                                 if not p.relative_to(ROOT).as_posix().startswith(
                                     package.DEV_ONLY_PACKAGES)]
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                       [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                       else [])
            for module in modules:
                found.setdefault(module, set()).add(path.relative_to(ROOT).as_posix())
    return found


def dependency_closure(distributions: set[str], python: str) -> set[str]:
    """The distributions and everything they require (markers evaluated for ``python``)."""
    seen, todo = set(), list(distributions)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            marker_env = {"python_version": python.removeprefix("python"), "extra": ""}
            if requirement.marker is None or requirement.marker.evaluate(marker_env):
                todo.append(normalise(requirement.name))
    return seen


def test_runtime_imports_resolve_to_the_pinned_distributions_or_the_standard_library():
    top_level = importlib.metadata.packages_distributions()
    direct, unresolved = set(), {}
    for module, importers in runtime_imports().items():
        root = module.split(".")[0]
        if root in sys.stdlib_module_names or root in ("app", "chalicelib"):
            continue
        if root == "chalice":
            assert module in CHALICE_RUNTIME, (module, importers)  # only what Chalice ships
            continue
        dists = top_level.get(root)
        if not dists:
            unresolved[module] = importers
            continue
        direct.update(normalise(d) for d in dists)
    assert unresolved == {}
    assert direct <= set(pinned()), "imported but not pinned: " + str(direct - set(pinned()))
    closure = dependency_closure(direct, template.stage_runtime(STAGE))
    assert set(pinned()) == closure, ("pinned but not needed: ", set(pinned()) - closure,
                                      "needed but not pinned: ", closure - set(pinned()))
    assert {"botocore", "certifi", "pynamodb", "pyyaml"} <= direct


def test_installed_versions_are_the_pinned_ones():
    for name, version in pinned().items():
        assert importlib.metadata.version(name) == version, name


# --- the runtime --------------------------------------------------------------------------

def lambda_tags(runtime: str) -> set[tags.Tag]:
    version = tuple(int(p) for p in runtime.removeprefix("python").split("."))
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(LAMBDA_GLIBC[runtime], 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    return set(tags.cpython_tags(version, platforms=platforms)) | set(
        tags.compatible_tags(version, platforms=platforms))


def check_runtime(out_dir: Path, runtime: str, *, bytecode: bool) -> None:
    sam = json.loads((out_dir / "sam.json").read_text())
    assert {f["Runtime"] for f in invoke.functions(sam).values()} == {runtime}
    allowed = lambda_tags(runtime)
    cp = runtime.removeprefix("python").replace(".", "")
    with zipfile.ZipFile(out_dir / "deployment.zip") as archive:
        zipped = archive.namelist()
        for wheel in (n for n in zipped if n.endswith(".dist-info/WHEEL")):
            wheel_tags = {t for line in archive.read(wheel).decode().splitlines()
                          if line.startswith("Tag:")
                          for t in tags.parse_tag(line.split(":", 1)[1].strip())}
            assert wheel_tags & allowed, (wheel, wheel_tags)
    extensions = [n for n in zipped if n.endswith(".so")]
    assert all(n.endswith((f".cpython-{cp}-x86_64-linux-gnu.so", ".abi3.so")) for n in extensions)
    compiled = [n for n in zipped if n.endswith(".pyc")]
    if not bytecode:
        assert compiled == []
        return
    assert compiled and all(f".cpython-{cp}." in n for n in compiled)
    sources = {n for n in zipped if n.endswith(".py")}
    missing = [s for s in sources if not any(c.startswith(
        f"{s.rpartition('/')[0] + '/' if '/' in s else ''}__pycache__/"
        f"{s.rpartition('/')[2][:-3]}.cpython-{cp}") for c in compiled)]
    assert missing == []


def test_template_wheels_and_bytecode_agree_with_the_stages_runtime(packaged):
    runtime = template.stage_runtime(STAGE)
    this_python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    check_runtime(packaged.out_dir, runtime, bytecode=runtime == this_python)
    if runtime == this_python:  # its bytecode, unchecked-hash, for the read-only code directory
        import importlib.util
        with zipfile.ZipFile(packaged.out_dir / "deployment.zip") as archive:
            header = archive.read(f"app.{sys.implementation.cache_tag}.pyc".join(
                ("__pycache__/", "")))[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01


def test_every_deployable_stage_names_a_runtime_chalice_can_package():
    for stage in template.DEPLOYABLE_STAGES:
        assert re.fullmatch(r"python3\.\d+", template.stage_runtime(stage))


def test_packaging_for_a_newer_runtime_ships_its_wheels_and_no_foreign_bytecode(tmp_path):
    """Another Python's runtime: Chalice fetches that runtime's wheels; no .pyc can be made."""
    newer = "python3.12" if sys.version_info[:2] != (3, 12) else "python3.13"
    out_dir = tmp_path / "newer"
    package.package(STAGE, out_dir, runtime=newer, echo=lambda *_: None)
    check_runtime(out_dir, newer, bytecode=False)
    cp = newer.removeprefix("python").replace(".", "")
    assert any(n.endswith(f".cpython-{cp}-x86_64-linux-gnu.so") for n in names(out_dir))


def test_a_wheel_for_another_python_fails_the_packaging(tmp_path):
    wheel = tmp_path / "yaml-6.0.dist-info"
    wheel.mkdir()
    (wheel / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n")
    (tmp_path / "_yaml.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert package.wheel_mismatches(tmp_path, "python3.11") == [
        "yaml-6.0.dist-info: cp311-cp311-linux_x86_64"]  # built here: not a manylinux wheel
    assert len(package.wheel_mismatches(tmp_path, "python3.12")) == 2


# --- the functions, from the package --------------------------------------------------------

@pytest.fixture(scope="module")
def code(packaged, tmp_path_factory) -> Path:
    """The deployment zip, unpacked."""
    return invoke.unpack(packaged.out_dir / "deployment.zip", tmp_path_factory.mktemp("code"))


def run(code: Path, packaged, function: str, events: list[dict],
        errors: list[str | None] | None = None) -> invoke.Invocation:
    conf = settings()
    env = {"AWS_ENDPOINT_URL": conf.endpoint_url, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": conf.region,
           "TEMPORALIST_STAGE": "local", "TEMPORALIST_ALLOW_INSECURE_WEBHOOKS": "true"}
    result = invoke.invoke(code, invoke.functions(packaged.sam)[function], events, env)
    SCANNER.check_lines((json.dumps(line) for line in result.log_lines), f"packaged {function}")
    assert result.errors == (errors or [None] * len(events)), result.errors
    loaded = set(result.modules)
    assert not [m for m in loaded if m.startswith(("chalicelib.local", "chalicelib.deploy",
                                                   "chalicelib.admin", "boto3", "jinja2"))]
    return result


def test_the_packaged_functions_authorise_serve_fan_out_and_deliver(code, packaged, account,
                                                                     receiver):
    from chalicelib.local import poller
    from chalicelib.local.stream_poller import StreamPoller

    authorized = run(code, packaged, "ApiKeyAuthorizer", [
        invoke.authorizer_event(account.token, "GET", "/api/v1/me/"),
        invoke.authorizer_event(account.token[:-4] + "zzzz", "GET", "/api/v1/me/")],
        errors=[None, "Unauthorized: Unauthorized"])  # API Gateway's 401
    allowed = authorized.results[0]
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    decisions = [line for line in authorized.log_lines if line["message"] == "authorizer decision"]
    assert [(d["decision"], d.get("reason")) for d in decisions] == [
        ("allow", None), ("unauthorized", "wrong secret")]
    caller = {**allowed["context"], "principalId": allowed["principalId"]}

    served = run(code, packaged, "APIHandler", [
        invoke.api_event("GET", "/api/v1/me/", "/api/v1/me", authorizer=caller),
        invoke.api_event("POST", "/api/v1/webhooks/", "/api/v1/webhooks", authorizer=caller,
                         body={"event": "project.created", "target_url": receiver.url("/hook")}),
        invoke.api_event("POST", "/api/v1/projects/", "/api/v1/projects", authorizer=caller,
                         body={"name": "From the package"}),
        invoke.api_event("GET", "/api/v1/docs/swagger-ui-bundle.js", "/api/v1/docs/{asset}",
                         authorizer=None, path_parameters={"asset": "swagger-ui-bundle.js"}),
        invoke.api_event("GET", "/api/v1/openapi.json", "/api/v1/openapi.json"),
    ])
    assert [r["statusCode"] for r in served.results] == [200, 201, 201, 200, 200]
    assert json.loads(served.results[0]["body"])["email"]
    requests_logged = [line for line in served.log_lines if line["message"] == "request"]
    assert [line["status"] for line in requests_logged] == [200, 201, 201, 200, 200]
    assert all(line["key_id"] == account.key_id for line in requests_logged[:3])

    batches = []
    StreamPoller(lambda event, _context: batches.append(event) or {}).drain()
    fanned = run(code, packaged, "FanOutEvents", batches)
    assert all(r["batchItemFailures"] == [] for r in fanned.results)

    sqs = aws.client("sqs")
    messages = sqs.receive_message(QueueUrl=settings().webhook_queue_url,
                                   MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    delivered = run(code, packaged, "DeliverWebhooks", [poller.lambda_event(messages)])
    assert delivered.results == [{"batchItemFailures": []}]
    [seen] = receiver.at("/hook")
    assert json.loads(seen.body)["event"] == "project.created"
    (attempt,) = [line for line in delivered.log_lines if line["message"] == "webhook delivery"]
    assert (attempt["status"], attempt["outcome"]) == (200, "delivered")


def test_the_package_runs_without_the_development_environment(code):
    """The unpacked zip alone (no site-packages) imports every function's module."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import sys; sys.path.insert(0, '.'); import app, "
         "chalicelib.auth.authorizer, chalicelib.events.delivery, chalicelib.events.fanout, "
         "yaml, certifi; print(sorted(m for m in sys.modules if m.split('.')[0] in "
         "('boto3', 'jinja2', 'swagger_ui', 'requests')))"],
        cwd=code, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

