"""``make package``: write the stage's merge template, then run ``chalice package`` with it.

The one function both the Makefile and ``tests/infra`` call. Packaging needs no AWS
credentials: Chalice only asks botocore for a region (to name service principals), so a
default region is supplied when none is configured and the instance-metadata lookup is
turned off.
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
SAM_TEMPLATE = "sam.json"
DEFAULT_REGION = "us-east-1"


class PackageError(RuntimeError):
    """``chalice package`` failed or produced a template the merge did not fully wire."""


def chalice_command(stage: str, merge_template: Path, out_dir: Path) -> list[str]:
    return [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
            "package", "--stage", stage, "--pkg-format", "cloudformation",
            "--merge-template", str(merge_template), str(out_dir)]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        env["AWS_DEFAULT_REGION"] = DEFAULT_REGION
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def check_wiring(sam: dict) -> None:
    """Fail when a function kept Chalice's placeholder role or placeholder queue."""
    role = {"Fn::GetAtt": [template.ROLE, "Arn"]}
    for name, resource in sam["Resources"].items():
        if resource.get("Type") is None:
            raise PackageError(f"the merge template names {name}, which Chalice did not emit")
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        if properties.get("Role") != role:
            raise PackageError(f"{name} does not use {template.ROLE}")
        for event in (properties.get("Events") or {}).values():
            if event["Type"] == "SQS" and event["Properties"]["Queue"] != template.QUEUE_ARN_SUB:
                raise PackageError(f"{name}'s SQS trigger is not the webhook queue")


def add_bytecode(zip_path: Path, runtime: str) -> int:
    """Ship compiled modules: Lambda's code directory is read-only, so without them every
    cold start compiles botocore, Chalice and the app again before the first request.

    Unchecked-hash ``.pyc`` files are used whatever the files' timestamps; they are
    compiled by this interpreter, so only when it is the functions' runtime. Returns how
    many modules were compiled (0 when the runtimes differ).
    """
    if runtime != f"python{sys.version_info.major}.{sys.version_info.minor}":
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "code"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root)
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


def _runtime(sam: dict) -> str:
    runtimes = {r["Properties"].get("Runtime") for r in sam["Resources"].values()
                if r.get("Type") == "AWS::Serverless::Function"}
    return runtimes.pop() if len(runtimes) == 1 else ""


def package(stage: str, out_dir: Path | str, *, echo=print) -> Path:
    """Build ``out_dir/sam.json`` and ``out_dir/deployment.zip`` for ``stage``; returns sam.json."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    merge_template = out_dir / MERGE_TEMPLATE
    merge_template.write_text(json.dumps(template.build(stage), indent=2, sort_keys=True) + "\n")
    command = chalice_command(stage, merge_template, out_dir)
    echo(f"chalice package --stage {stage} --pkg-format cloudformation "
         f"--merge-template {merge_template} {out_dir}")
    result = subprocess.run(command, cwd=template.PROJECT_DIR, env=_environment(),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    sam_template = out_dir / SAM_TEMPLATE
    sam = json.loads(sam_template.read_text())
    check_wiring(sam)
    compiled = add_bytecode(out_dir / "deployment.zip", _runtime(sam))
    echo(f"compiled {compiled} modules into the deployment package" if compiled else
         "deployment package left without bytecode: this Python is not the functions' runtime")
    echo(f"wrote {sam_template} and {out_dir / 'deployment.zip'}")
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
