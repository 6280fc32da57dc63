"""The stack packaged once per session, as ``make package`` packages it, and ways to read it."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.deploy import template

# What the template's intrinsic functions resolve to in these tests.
PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"
STREAM_LABEL = "2026-12-01T00:00:00.000"  # a table stream's ARN ends with its creation time
STAGE = "prod"


@dataclass
class Package:
    out_dir: Path
    sam: dict

    @property
    def resources(self) -> dict:
        return self.sam["Resources"]

    def of_type(self, resource_type: str) -> dict:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def functions(self) -> dict:
        return self.of_type("AWS::Serverless::Function")

    def swagger(self) -> dict:
        return self.resources[template.REST_API]["Properties"]["DefinitionBody"]

    def alarms(self) -> dict:
        return self.of_type("AWS::CloudWatch::Alarm")

    def role_of(self, function: str) -> dict:
        """The role resource a function runs with."""
        name, attribute = self.functions()[function]["Properties"]["Role"]["Fn::GetAtt"]
        assert attribute == "Arn"
        return self.resources[name]

    def name_of(self, value) -> str:
        """What ``Ref`` / ``GetAtt …QueueName`` of a function or queue resolves to."""
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return self.resources[value["Ref"]]["Properties"]["FunctionName"]
        name, attribute = value["Fn::GetAtt"]
        assert attribute == "QueueName", value
        return self.resources[name]["Properties"]["QueueName"]

    def sub(self, text: str) -> str:
        """Resolve an ``Fn::Sub`` string's pseudo parameters and resource references."""
        text = text.replace("${AWS::Region}", REGION).replace("${AWS::Partition}", PARTITION)
        while "${" in text:
            start = text.index("${")
            end = text.index("}", start)
            name, _, attribute = text[start + 2:end].partition(".")
            value = (self.name_of({"Fn::GetAtt": [name, attribute]}) if attribute
                     else self.name_of({"Ref": name}))
            text = text[:start] + value + text[end + 1:]
        return text

    def arn(self, value) -> str:
        """Resolve the intrinsic functions the template uses in ARNs."""
        if isinstance(value, str):
            return value
        if "Fn::GetAtt" in value:
            name, attribute = value["Fn::GetAtt"]
            if attribute == "StreamArn":
                return self._arn_of(name) + "/stream/" + STREAM_LABEL
            assert attribute == "Arn", value
            return self._arn_of(name)
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for variable, resolved in (("AWS::Partition", PARTITION), ("AWS::Region", REGION),
                                       ("AWS::AccountId", ACCOUNT)):
                text = text.replace(f"${{{variable}}}", resolved)
            while "${" in text:
                start = text.index("${")
                end = text.index("}", start)
                name, _, attribute = text[start + 2:end].partition(".")
                assert attribute == "Arn", text
                text = text[:start] + self._arn_of(name) + text[end + 1:]
            return text
        raise AssertionError(f"unexpected intrinsic in an ARN: {value}")

    def _arn_of(self, name: str) -> str:
        resource = self.resources[name]
        properties = resource["Properties"]
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{properties['TableName']}"
        if kind == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{properties['QueueName']}"
        if kind == "AWS::Logs::LogGroup":
            name = properties["LogGroupName"]
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        raise AssertionError(f"no ARN for {name} ({kind})")


def run_package(stage: str, out_dir: Path) -> Package:
    """Run what ``make package STAGE=<stage>`` runs, into ``out_dir``."""
    result = subprocess.run([sys.executable, "-m", "chalicelib.deploy", "--stage", stage,
                             str(out_dir)], cwd=template.PROJECT_DIR, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return Package(out_dir, json.loads((out_dir / "sam.json").read_text()))


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> Package:
    """The prod stage packaged into a temporary directory (template and Lambda zip)."""
    return run_package(STAGE, tmp_path_factory.mktemp("package") / STAGE)


@pytest.fixture
def receiver():
    """The events tests' webhook receiver on 127.0.0.1 (the local stage allows http:// and
    loopback targets); it answers 200 and keeps every request."""
    from tests.events.test_delivery import Receiver
    server = Receiver()
    yield server
    server.close()
