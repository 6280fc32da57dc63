"""``make package``: a lint-clean SAM template whose resources match the code's own definitions."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile

import pytest
from pynamodb.indexes import GlobalSecondaryIndex, LocalSecondaryIndex

from chalicelib import config, gateway
from chalicelib.config import load_settings
from chalicelib.deploy import template
from chalicelib.events import queue
from chalicelib.store.tables import MODELS
from tests.infra.conftest import STAGE

CONTRACT_BODIES = {
    "UNAUTHORIZED": (401, {"detail": "Invalid or missing API key."}),
    "MISSING_AUTHENTICATION_TOKEN": (404, {"detail": "Not found."}),
    "DEFAULT_5XX": (500, {"detail": "Internal server error."}),
    # SPEC section 7 (throttling) and section 1 (a body over the limit)
    "THROTTLED": (429, {"detail": "Request was throttled."}),
    "REQUEST_TOO_LARGE": (413, {"detail": "Request body is too large."}),
}


def table_definition(properties: dict) -> dict:
    """Keys, attribute types, indexes and projections, in a comparable form."""
    def keys(schema):
        return {k["KeyType"]: k["AttributeName"] for k in schema}

    def projection(p):
        return (p["ProjectionType"], sorted(p.get("NonKeyAttributes") or []))

    return {
        "keys": keys(properties["KeySchema"]),
        "attributes": {a["AttributeName"]: a["AttributeType"]
                       for a in properties["AttributeDefinitions"]},
        "indexes": {i["IndexName"]: (keys(i["KeySchema"]), projection(i["Projection"]))
                    for i in properties.get("GlobalSecondaryIndexes") or []},
        "local_indexes": {i["IndexName"]: (keys(i["KeySchema"]), projection(i["Projection"]))
                          for i in properties.get("LocalSecondaryIndexes") or []},
    }


def model_definition(model) -> dict:
    """The same, read from the PynamoDB model's attributes and index classes."""
    attributes = {}
    for attribute in model.get_attributes().values():
        if attribute.is_hash_key or attribute.is_range_key:
            attributes[attribute.attr_name] = attribute.attr_type

    def index_entry(index):
        keys = {}
        for attribute in index.Meta.attributes.values():
            keys["HASH" if attribute.is_hash_key else "RANGE"] = attribute.attr_name
            attributes[attribute.attr_name] = attribute.attr_type
        projection = index.Meta.projection
        return keys, (projection.projection_type, sorted(projection.non_key_attributes or []))

    indexes = {i.Meta.index_name: index_entry(i) for i in model._indexes.values()
               if isinstance(i, GlobalSecondaryIndex)}
    local = {i.Meta.index_name: index_entry(i) for i in model._indexes.values()
             if isinstance(i, LocalSecondaryIndex)}
    keys = {"HASH": model._hash_keyname}
    if model._range_keyname:
        keys["RANGE"] = model._range_keyname
    return {"keys": keys, "attributes": attributes, "indexes": indexes, "local_indexes": local}


def tables_by_name(packaged) -> dict:
    tables = packaged.of_type("AWS::DynamoDB::Table").values()
    return {table["Properties"]["TableName"]: table for table in tables}


# --- the package itself -----------------------------------------------------------------

def test_package_writes_the_template_and_the_lambda_zip(packaged):
    assert (packaged.out_dir / "merge-template.json").is_file()
    with zipfile.ZipFile(packaged.out_dir / "deployment.zip") as archive:
        names = set(archive.namelist())
    assert {"app.py", "chalicelib/config.py", "chalicelib/gateway.py"} <= names
    code = {f["Properties"]["CodeUri"] for f in packaged.functions().values()}
    assert code == {"./deployment.zip"}


def test_template_passes_cfn_lint_without_errors(packaged):
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
         "--format", "json", "--include-checks", "I", "--", str(packaged.out_dir / "sam.json")],
        capture_output=True, text=True, timeout=600, check=False)
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    for finding in findings:
        if finding["Level"] != "Error":
            warnings.warn(f"cfn-lint {finding['Level']} {finding['Rule']['Id']}: "
                          f"{finding['Message']} at {finding['Location']['Path']}")
    assert result.returncode in (0, 4, 8, 12), result.stderr  # bit 2 = errors
    assert errors == []


def test_only_deployable_stages_are_packaged():
    with pytest.raises(template.TemplateError):
        template.build("local")


# --- tables -----------------------------------------------------------------------------

def test_every_model_is_a_table_named_for_the_stage(packaged):
    assert set(tables_by_name(packaged)) == {f"temporalist-{STAGE}-{m.Meta.table}" for m in MODELS}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.Meta.table)
def test_table_has_the_models_keys_indexes_and_projections(packaged, model):
    table = tables_by_name(packaged)[f"temporalist-{STAGE}-{model.Meta.table}"]
    assert table_definition(table["Properties"]) == model_definition(model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.Meta.table)
def test_table_has_production_settings(packaged, model):
    table = tables_by_name(packaged)[f"temporalist-{STAGE}-{model.Meta.table}"]
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    ttl = model._ttl_attribute()
    expected_ttl = None if ttl is None else {"AttributeName": ttl.attr_name, "Enabled": True}
    assert properties.get("TimeToLiveSpecification") == expected_ttl


def test_tables_equal_those_the_local_stack_creates(packaged, aws):
    """``bootstrap`` creates the tables through PynamoDB; the template must describe the same."""
    from chalicelib import aws as shared
    dynamodb = shared.client("dynamodb")
    for model in MODELS:
        described = dynamodb.describe_table(TableName=model.Meta.table_name)["Table"]
        table = tables_by_name(packaged)[f"temporalist-{STAGE}-{model.Meta.table}"]
        assert table_definition(table["Properties"]) == table_definition(described), model


# --- queues and the delivery function ---------------------------------------------------

def test_webhook_queue_and_dead_letter_queues(packaged):
    queues = {queue["Properties"]["QueueName"]: queue
              for queue in packaged.of_type("AWS::SQS::Queue").values()}
    assert set(queues) == {f"temporalist-{STAGE}-webhooks", f"temporalist-{STAGE}-webhooks-dlq",
                           f"temporalist-{STAGE}-events-dlq"}
    main = queues[f"temporalist-{STAGE}-webhooks"]["Properties"]
    dead = queues[f"temporalist-{STAGE}-webhooks-dlq"]["Properties"]
    assert main["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [template.DEAD_LETTER_QUEUE, "Arn"]},
        "maxReceiveCount": 5}
    assert dead["MessageRetentionPeriod"] > main["MessageRetentionPeriod"]
    assert (main["MessageRetentionPeriod"], dead["MessageRetentionPeriod"]) == (
        queue.QUEUE_RETENTION_SECONDS, queue.DLQ_RETENTION_SECONDS)
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues.values())
    delivery = packaged.resources["DeliverWebhooks"]["Properties"]
    assert delivery["Handler"] == "app.deliver_webhooks"
    assert main["VisibilityTimeout"] >= 6 * delivery["Timeout"]


def events_of(packaged, kind: str) -> dict:
    return {(name, event_id): event["Properties"]
            for name, function in packaged.functions().items()
            for event_id, event in (function["Properties"].get("Events") or {}).items()
            if event["Type"] == kind}


def test_sqs_trigger_reports_batch_item_failures_from_the_created_queue(packaged):
    (trigger,) = events_of(packaged, "SQS").values()
    assert trigger["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert packaged.arn(trigger["Queue"]) == packaged.arn(
        {"Fn::GetAtt": [template.QUEUE, "Arn"]})
    assert trigger["BatchSize"] == 10
    assert trigger["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "DeliveryMaximumConcurrency"}}
    parameter = packaged.sam["Parameters"]["DeliveryMaximumConcurrency"]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (2, 1000)  # what Lambda accepts
    assert 2 <= parameter["Default"] <= 1000


def test_every_streamed_table_feeds_the_fan_out_with_retries_and_a_failure_queue(packaged):
    streamed = {table_id: model for model in MODELS
                if (table_id := template.table_logical_id(model))
                and template.stream_view_type(model)}
    assert streamed, "some table must stream its changes"
    for table_id, model in streamed.items():
        assert packaged.resources[table_id]["Properties"]["StreamSpecification"] == {
            "StreamViewType": model.Meta.stream_view_type}
    triggers = events_of(packaged, "DynamoDB")
    assert {name for name, _ in triggers} == {"FanOutEvents"}
    assert sorted(t["Stream"]["Fn::GetAtt"][0] for t in triggers.values()) == sorted(streamed)
    failure_queue = {"Fn::GetAtt": [template.STREAM_FAILURE_QUEUE, "Arn"]}
    for trigger in triggers.values():
        assert trigger["Stream"]["Fn::GetAtt"][1] == "StreamArn"
        assert trigger["DestinationConfig"] == {"OnFailure": {"Type": "SQS",
                                                              "Destination": failure_queue}}
        assert trigger["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert trigger["BisectBatchOnFunctionError"] is True
        assert (trigger["MaximumRetryAttempts"], trigger["MaximumRecordAgeInSeconds"],
                trigger["BatchSize"]) == (queue.STREAM_MAX_RETRY_ATTEMPTS,
                                          queue.STREAM_MAX_RECORD_AGE_SECONDS,
                                          queue.STREAM_BATCH_SIZE)
    unstreamed = set(tables_by_name(packaged)) - {
        packaged.resources[t]["Properties"]["TableName"] for t in streamed}
    assert all("StreamSpecification" not in tables_by_name(packaged)[n]["Properties"]
               for n in unstreamed)


# --- functions --------------------------------------------------------------------------

def test_every_function_has_its_own_role_and_the_stages_environment(packaged):
    functions = packaged.functions()
    assert set(functions) == {f.logical_id for f in template.chalice_app(STAGE).functions}
    assert {"APIHandler", "ApiKeyAuthorizer", "DeliverWebhooks"} <= set(functions)
    # one role each (the other role is API Gateway's optional account role)
    assert set(packaged.of_type("AWS::IAM::Role")) == {f"{n}Role" for n in functions} | {
        template.ACCOUNT_LOG_ROLE}
    for name, function in functions.items():
        properties = function["Properties"]
        assert properties["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name
        variables = dict(properties["Environment"]["Variables"])
        cursor_secret = variables.pop("TEMPORALIST_CURSOR_SECRET", None)
        assert variables == {
            "TEMPORALIST_STAGE": STAGE,
            "TEMPORALIST_TABLE_PREFIX": f"temporalist-{STAGE}",
            "TEMPORALIST_WEBHOOK_QUEUE": f"temporalist-{STAGE}-webhooks",
            "TEMPORALIST_WEBHOOK_QUEUE_URL": {"Ref": template.QUEUE},
            "TEMPORALIST_ALLOW_INSECURE_WEBHOOKS": "false",
        }, name
        # only the API signs page cursors, with a key the stack generates
        assert (cursor_secret is not None) == (name == template.API_HANDLER), name


def test_the_cursor_key_is_generated_by_the_stack_and_reaches_only_the_api(packaged):
    secret = packaged.resources[template.CURSOR_SECRET]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and generated["ExcludePunctuation"] is True
    reference = packaged.functions()[template.API_HANDLER]["Properties"]["Environment"][
        "Variables"]["TEMPORALIST_CURSOR_SECRET"]
    assert reference == {"Fn::Sub": "{{resolve:secretsmanager:${CursorSecret}:SecretString}}"}


def test_outside_the_local_stage_a_page_needs_the_stages_cursor_key():
    """Without it a paged request would fail (500): the template must always provide it."""
    from chalicelib.config import load_settings
    prod = {"TEMPORALIST_STAGE": "prod", "TEMPORALIST_WEBHOOK_QUEUE_URL": "https://q"}
    assert load_settings(prod).cursor_secret is None
    assert load_settings({**prod, "TEMPORALIST_CURSOR_SECRET": "k" * 64}).cursor_secret == \
        b"k" * 64
    assert load_settings({"TEMPORALIST_STAGE": "local"}).cursor_secret  # made up locally


def test_stage_config_reads_the_chalice_config_as_chalice_does(tmp_path, monkeypatch):
    """A stage's key overrides the top-level one; environment variables are merged."""
    from chalice.config import Config
    path = tmp_path / "config.json"
    written = {"app_name": "x", "lambda_runtime": "python3.12", "log_level": "WARN",
               "environment_variables": {"A": "top", "B": "top"},
               "stages": {"dev": {"lambda_runtime": "python3.13", "log_level": None,
                                  "environment_variables": {"B": "dev", "C": "dev"}},
                          "prod": {}}}
    path.write_text(json.dumps(written))
    monkeypatch.setattr(config, "CHALICE_CONFIG", path)
    for stage in ("dev", "prod"):
        ours = config.stage_config(stage)
        chalice = Config(chalice_stage=stage, config_from_disk=written)
        assert ours["environment_variables"] == chalice.environment_variables, stage
        for key in ("lambda_runtime", "log_level", "app_name"):  # Chalice's lookup of a key
            assert ours[key] == chalice._chain_lookup(key, varies_per_chalice_stage=True), key
        assert "stages" not in ours
    assert (config.stage_config("dev")["lambda_runtime"], config.stage_config("dev")["log_level"]) \
        == ("python3.13", "WARN")  # a null stage key does not override
    assert config.stage_config("dev")["environment_variables"] == {"A": "top", "B": "dev",
                                                                   "C": "dev"}
    monkeypatch.setattr(config, "CHALICE_CONFIG", tmp_path / "absent.json")  # as on Lambda
    assert config.stage_config("prod") == {}


def test_a_function_without_permissions_is_refused(monkeypatch):
    from chalicelib.deploy import permissions
    monkeypatch.delitem(permissions.FUNCTIONS, "deliver_webhooks")
    with pytest.raises(template.TemplateError, match="deliver_webhooks"):
        template.build(STAGE)


def test_environment_names_the_created_tables_and_queue(packaged):
    """What config.py makes of a function's environment points at the template's resources."""
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/" + \
        packaged.resources[template.QUEUE]["Properties"]["QueueName"]
    for function in packaged.functions().values():
        variables = dict(function["Properties"]["Environment"]["Variables"],
                         TEMPORALIST_WEBHOOK_QUEUE_URL=url)
        if "TEMPORALIST_CURSOR_SECRET" in variables:  # what the dynamic reference resolves to
            variables["TEMPORALIST_CURSOR_SECRET"] = "g" * 64
        seen = load_settings(variables)
        assert {seen.table_name(m.Meta.table) for m in MODELS} == set(tables_by_name(packaged))
        assert seen.webhook_queue_name == url.rsplit("/", 1)[1]
        assert not seen.allow_insecure_webhooks and seen.endpoint_url is None


def test_every_function_and_the_api_log_to_a_group_with_retention(packaged):
    groups = {r["Properties"]["LogGroupName"]: r["Properties"]
              for r in packaged.of_type("AWS::Logs::LogGroup").values()}
    names = {"/aws/lambda/" + function["Properties"]["FunctionName"]
             for function in packaged.functions().values()}
    access = packaged.resources[template.ACCESS_LOGS]["Properties"]["LogGroupName"]
    assert set(groups) == names | {access}
    assert all(g["RetentionInDays"] == template.LOG_RETENTION_DAYS for g in groups.values())


# --- the API ----------------------------------------------------------------------------

def test_gateway_responses_render_the_contract_bodies(packaged):
    responses = packaged.swagger()[template.GATEWAY_RESPONSES_KEY]
    assert set(responses) == set(gateway.GATEWAY_RESPONSES)
    for response_type, (status, body) in CONTRACT_BODIES.items():
        response = responses[response_type]
        assert response["statusCode"] == str(status)
        assert json.loads(response["responseTemplates"]["application/json"]) == body
        assert response["responseParameters"]["gatewayresponse.header.Content-Type"] == \
            "'application/json'"
    assert responses["UNAUTHORIZED"]["responseParameters"][
        "gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    assert responses["THROTTLED"]["responseParameters"][
        "gatewayresponse.header.Retry-After"] == "'1'"
    denied = responses["ACCESS_DENIED"]
    assert denied["statusCode"] == "403"
    detail = "This API key is read-only."
    rendered = denied["responseTemplates"]["application/json"].replace(
        "$context.authorizer.detail", detail)
    assert json.loads(rendered) == {"detail": detail}
    # the same bodies the local gateway serves
    for response_type, response in responses.items():
        assert response["responseTemplates"]["application/json"] == \
            gateway.GATEWAY_RESPONSES[response_type].template


def test_gateway_responses_are_deployed_with_the_api_definition(packaged):
    """Standalone GatewayResponse resources are dropped by SAM's next deployment of the stage."""
    assert packaged.of_type("AWS::ApiGateway::GatewayResponse") == {}


def test_authorizer_result_is_never_cached(packaged):
    definitions = packaged.swagger()["securityDefinitions"]
    assert set(definitions) == {"api_key_authorizer"}
    authorizer = definitions["api_key_authorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert authorizer["authorizerResultTtlInSeconds"] == 0


def test_routes_are_served_under_api_v1_of_the_api_stage(packaged):
    api = packaged.resources[template.REST_API]["Properties"]
    assert api["StageName"] == "api"
    assert all(path.startswith("/api/v1/") for path in packaged.swagger()["paths"])


def test_optional_custom_domain_maps_the_stage_at_the_root(packaged):
    parameters = packaged.sam["Parameters"]
    assert parameters["DomainName"]["Default"] == parameters["CertificateArn"]["Default"] == ""
    condition = packaged.sam["Conditions"][template.HAS_CUSTOM_DOMAIN]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    domain = packaged.resources[template.CUSTOM_DOMAIN]
    mapping = packaged.resources[template.CUSTOM_DOMAIN_MAPPING]
    assert domain["Type"] == "AWS::ApiGateway::DomainName"
    assert mapping["Type"] == "AWS::ApiGateway::BasePathMapping"
    assert domain["Condition"] == mapping["Condition"] == template.HAS_CUSTOM_DOMAIN
    assert domain["Properties"]["DomainName"] == {"Ref": "DomainName"}
    assert domain["Properties"]["CertificateArn"] == {"Ref": "CertificateArn"}
    assert mapping["Properties"] == {"DomainName": {"Ref": template.CUSTOM_DOMAIN},
                                     "RestApiId": {"Ref": template.REST_API}, "BasePath": "",
                                     "Stage": {"Ref": "RestAPI.Stage"}}
    outputs = packaged.sam["Outputs"]
    assert outputs["CustomDomainApiURL"]["Value"] == {"Fn::Sub": "https://${DomainName}/api/v1/"}
    assert outputs["ApiURL"]["Value"]["Fn::Sub"].endswith("/api/api/v1/")


# --- another stage ----------------------------------------------------------------------

def test_dev_stage_names_its_own_resources():
    built = template.build("dev")
    resources = built["Resources"]
    names = {r["Properties"]["TableName"] for r in resources.values()
             if r.get("Type") == "AWS::DynamoDB::Table"}
    assert names == {f"temporalist-dev-{m.Meta.table}" for m in MODELS}
    assert resources[template.QUEUE]["Properties"]["QueueName"] == "temporalist-dev-webhooks"
    assert resources["APIHandler"]["Properties"]["Environment"]["Variables"][
        "TEMPORALIST_STAGE"] == "dev"
