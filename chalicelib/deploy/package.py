"""``make package``: write the stage's merge template, run ``chalice package`` with it, trim the zip.

The one function both the Makefile and ``tests/infra`` call. Packaging needs no AWS
credentials: Chalice only asks botocore for a region (to name service principals), so a
default region is supplied when none is configured and the instance-metadata lookup is
turned off.

Chalice takes the functions' runtime from the Python it runs on; here it is the stage's
``lambda_runtime`` setting instead (:mod:`chalicelib.deploy.chalice_for_runtime`: Chalice
then picks the requirements' wheels for that runtime), so any Python can package for the
runtime the stage names, and a zipped wheel built for another fails the packaging. The
zip Chalice writes is then trimmed to what the functions load (see :func:`shipped`) and,
when this Python is the runtime, given compiled bytecode.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from chalicelib.deploy import template

MERGE_TEMPLATE = "merge-template.json"
ZIP_BUDGET_MB = 12  # the deployment zip's size at most (tests/infra, BENCHMARKS.md)
SAM_TEMPLATE = "sam.json"
DEFAULT_REGION = "us-east-1"


class PackageError(RuntimeError):
    """``chalice package`` failed or produced a template the merge did not fully wire."""


# Chalice zips all of chalicelib/, but these are the operator's and the developer's tools
# (the CLI, this package, the local stack): no function imports them.
DEV_ONLY_PACKAGES = ("chalicelib/admin/", "chalicelib/deploy/", "chalicelib/local/")
# The docs page's two Swagger UI files (and the licence) are copied from the pinned
# swagger-ui-py of the packaging environment: the package itself, its editor bundles,
# source maps and template dependencies (Jinja2) are never loaded by a function.
SWAGGER_DIST = "swagger_ui/static/"
BOTOCORE_DATA = "botocore/data/"


LAUNCHER = Path(__file__).with_name("chalice_for_runtime.py")
LAMBDA_MACHINE = "x86_64"  # Chalice's default architecture, which the template keeps


def chalice_command(stage: str, runtime: str, merge_template: Path, out_dir: Path) -> list[str]:
    return [sys.executable, str(LAUNCHER), runtime,
            "package", "--stage", stage, "--pkg-format", "cloudformation",
            "--merge-template", str(merge_template), str(out_dir)]


def this_python() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def shipped(name: str, runtime: str) -> bool:
    """Whether a file Chalice zipped is one the functions can load on ``runtime``.

    Dropped: the dev-only packages; botocore's models of services the functions never
    call (all but :data:`chalicelib.aws.SERVICES`: most of botocore's size); bytecode
    compiled for another Python.
    """
    from chalicelib import aws

    if name.startswith(DEV_ONLY_PACKAGES):
        return False
    if name.startswith(BOTOCORE_DATA):
        service, _, rest = name[len(BOTOCORE_DATA):].partition("/")
        return not rest or service in aws.SERVICES  # the files beside the models stay
    if name.endswith(".pyc"):
        return f".cpython-{runtime.removeprefix('python').replace('.', '')}." in name
    return True


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        env["AWS_DEFAULT_REGION"] = DEFAULT_REGION
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def check_wiring(sam: dict, runtime: str) -> None:
    """Fail when a function kept Chalice's placeholder role, queue or another runtime."""
    for name, resource in sam["Resources"].items():
        if resource.get("Type") is None:
            raise PackageError(f"the merge template names {name}, which Chalice did not emit")
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        if properties.get("Role") != {"Fn::GetAtt": [template.role_id(name), "Arn"]}:
            raise PackageError(f"{name} does not use its own role {template.role_id(name)}")
        if properties.get("Runtime") != runtime:
            raise PackageError(f"{name} runs {properties.get('Runtime')}, not the stage's {runtime}")
        for event in (properties.get("Events") or {}).values():
            if event["Type"] == "SQS" and event["Properties"]["Queue"] != template.QUEUE_ARN_SUB:
                raise PackageError(f"{name}'s SQS trigger is not the webhook queue")


def cpython_tag(runtime: str) -> str:
    return "cp" + runtime.removeprefix("python").replace(".", "")  # python3.12 -> cp312


def wheel_mismatches(root: Path, runtime: str) -> list[str]:
    """Zipped wheels and extension modules that would not load on ``runtime`` (Linux x86_64)."""
    cp = cpython_tag(runtime)
    wrong = []
    for wheel in root.glob("*.dist-info/WHEEL"):
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines()
                if line.startswith("Tag:")]

        def loads(tag: str) -> bool:
            interpreter, abi, platform = tag.split("-")
            python = (interpreter in ("py3", cp) if abi != "abi3"  # cp3X-abi3: 3.X and later
                      else interpreter.startswith("cp3") and int(interpreter[3:]) <= int(cp[3:]))
            return (python and abi in ("none", "abi3", cp)
                    and (platform == "any" or (platform.startswith("manylinux")
                                               and platform.endswith(LAMBDA_MACHINE))))

        if not any(loads(tag) for tag in tags):  # a wheel is good when one of its tags is
            wrong.append(f"{wheel.parent.name}: {', '.join(tags)}")
    suffix = f".cpython-{cp[2:]}-{LAMBDA_MACHINE}-linux-gnu.so"
    wrong += [str(p.relative_to(root)) for p in root.rglob("*.so")
              if not (p.name.endswith(suffix) or p.name.endswith(".abi3.so"))]
    return wrong


def add_docs_assets(root: Path) -> None:
    """The files the docs page serves, where ``docs_page.dist_dir()`` finds them on Lambda."""
    from chalicelib.schema import docs_page

    target = root / SWAGGER_DIST
    target.mkdir(parents=True, exist_ok=True)
    for name in (*docs_page.PAGE_ASSETS, "LICENSE"):
        shutil.copyfile(docs_page.dist_dir() / name, target / name)


def trim(zip_path: Path, runtime: str) -> int:
    """Rewrite the zip with only what :func:`shipped` keeps, the docs page's assets, and
    bytecode when possible.

    Lambda's code directory is read-only, so without shipped bytecode every cold start
    compiles botocore, Chalice and the app again before the first request. Unchecked-hash
    ``.pyc`` files are used whatever the files' timestamps; they are compiled by this
    interpreter, so only when it is the functions' runtime. Returns how many modules were
    compiled (0 when the runtimes differ).
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "code"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root, [n for n in archive.namelist() if shipped(n, runtime)])
        wrong = wheel_mismatches(root, runtime)
        if wrong:
            raise PackageError(f"not built for {runtime}: {', '.join(sorted(wrong))}")
        add_docs_assets(root)
        compiled = 0
        if runtime == this_python():
            compileall.compile_dir(root, quiet=1, workers=1,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            compiled = sum(1 for _ in root.rglob("*.pyc"))
        rebuilt = zip_path.with_suffix(".tmp")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
        shutil.move(rebuilt, zip_path)
    return compiled


def package(stage: str, out_dir: Path | str, *, runtime: str | None = None, echo=print) -> Path:
    """Build ``out_dir/sam.json`` and ``out_dir/deployment.zip`` for ``stage``; returns sam.json.

    ``runtime`` overrides the stage's ``lambda_runtime`` setting.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    runtime = runtime or template.stage_runtime(stage)
    merge_template = out_dir / MERGE_TEMPLATE
    merge_template.write_text(json.dumps(template.build(stage, runtime), indent=2,
                                         sort_keys=True) + "\n")
    command = chalice_command(stage, runtime, merge_template, out_dir)
    echo(f"chalice package --stage {stage} --pkg-format cloudformation "
         f"--merge-template {merge_template} {out_dir}  (runtime {runtime})")
    result = subprocess.run(command, cwd=template.PROJECT_DIR, env=_environment(),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    sam_template = out_dir / SAM_TEMPLATE
    check_wiring(json.loads(sam_template.read_text()), runtime)
    zip_path = out_dir / "deployment.zip"
    compiled = trim(zip_path, runtime)
    echo(f"compiled {compiled} modules into the deployment package" if compiled else
         f"deployment package left without bytecode: this Python is not {runtime}")
    echo(f"wrote {sam_template} and {zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB)")
    return sam_template


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.deploy", description=__doc__)
    parser.add_argument("--stage", default="prod", choices=template.DEPLOYABLE_STAGES)
    parser.add_argument("out_dir", nargs="?", help="default: build/<stage>")
    args = parser.parse_args(argv)
    out_dir = args.out_dir or template.PROJECT_DIR / "build" / args.stage
    try:
        package(args.stage, out_dir)
    except (template.TemplateError, PackageError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0
