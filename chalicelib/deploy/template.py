"""The merge template: what ``chalice package`` cannot derive from ``app.py``, from its sources.

Each part comes from the one place its truth lives:

- tables: the PynamoDB models (:data:`chalicelib.store.tables.MODELS`), named per stage
  by :class:`chalicelib.config.Settings`;
- queues: the settings constants of :mod:`chalicelib.events.queue`;
- gateway responses: :func:`chalicelib.gateway.cloudformation_resources`;
- the role: :mod:`chalicelib.deploy.permissions`;
- the environment: the stage's settings (``.chalice/config.json`` via ``chalicelib.config``);
- the functions, their logical ids and the authorizers: Chalice's own application graph
  for the stage, so every function Chalice emits is overridden and none is invented.

Chalice merges this template into its SAM template key by key (a list replaces a list).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import gateway
from chalicelib.config import STAGES, Settings, load_settings
from chalicelib.deploy import permissions
from chalicelib.events import queue as webhook_queue

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHALICE_CONFIG = PROJECT_DIR / ".chalice" / "config.json"
# ``local`` runs against the embedded AWS only (and allows insecure webhook targets).
DEPLOYABLE_STAGES = tuple(s for s in STAGES if s != "local")

# The delivery function's timeout; the queue's visibility timeout must be at least six
# times it (AWS's advice for SQS-triggered functions), which build() checks.
DELIVERY_TIMEOUT_SECONDS = 30
LOG_RETENTION_DAYS = 30

ROLE = "FunctionRole"
QUEUE = "WebhookQueue"
DEAD_LETTER_QUEUE = "WebhookDeadLetterQueue"
REST_API = "RestAPI"  # Chalice's logical id for the API
CUSTOM_DOMAIN = "ApiCustomDomain"
CUSTOM_DOMAIN_MAPPING = "ApiCustomDomainMapping"
HAS_CUSTOM_DOMAIN = "HasCustomDomain"
GATEWAY_RESPONSES_KEY = "x-amazon-apigateway-gateway-responses"
# Chalice writes the trigger's queue as {"Fn::Sub": "arn:...:<placeholder name>"}; the
# merge replaces that string (a GetAtt would be merged beside the Sub, not instead of it).
QUEUE_ARN_SUB = {"Fn::Sub": f"${{{QUEUE}.Arn}}"}


class TemplateError(RuntimeError):
    """The code and the deployment settings disagree; the package would be wrong."""


@dataclass(frozen=True)
class Function:
    """One Lambda function as Chalice emits it for the stage."""

    logical_id: str
    function_name: str
    timeout: int

    @property
    def log_group_id(self) -> str:
        return self.logical_id + "Logs"


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS event source of a function, as named in Chalice's template."""

    function: Function
    event_id: str
    queue_name: str


@dataclass(frozen=True)
class ChaliceApp:
    functions: tuple[Function, ...]
    queue_triggers: tuple[QueueTrigger, ...]
    authorizers: dict[str, int | None]  # name -> ttl_seconds declared in the code
    api_stage: str
    endpoint_type: str
    api_prefix: str
    webhook_queue_placeholder: str  # the queue name app.py gives the SQS decorator


def stage_settings(stage: str) -> Settings:
    """The stage's settings as its functions will see them (the queue URL comes from the stack)."""
    if stage not in DEPLOYABLE_STAGES:
        raise TemplateError(f"stage must be one of {', '.join(DEPLOYABLE_STAGES)}, not {stage!r}")
    return load_settings({"TEMPORALIST_STAGE": stage,
                          "TEMPORALIST_WEBHOOK_QUEUE_URL": "set by the template"})


def logical_id(name: str) -> str:
    from chalice.utils import to_cfn_resource_name
    return to_cfn_resource_name(name)


def chalice_app(stage: str) -> ChaliceApp:
    """The functions, triggers and authorizers Chalice will package for ``stage``.

    Built with Chalice's own application graph from the already-imported app object,
    so the stage's environment variables are not pushed into ``os.environ`` (Chalice's
    CLI loader does that) and nothing calls AWS.
    """
    from chalice.config import Config
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder

    import app as app_module

    config = Config(
        chalice_stage=stage,
        user_provided_params={"chalice_app": app_module.app, "project_dir": str(PROJECT_DIR)},
        config_from_disk=json.loads(CHALICE_CONFIG.read_text()),
        default_params={"api_gateway_stage": "api", "api_gateway_endpoint_type": "EDGE",
                        "autogen_policy": True},
    )
    graph = ApplicationGraphBuilder().build(config, stage)
    resources = DependencyBuilder().build_dependencies(graph)
    rest_api = next((r for r in resources if isinstance(r, models.RestAPI)), None)
    functions: dict[str, Function] = {}
    for resource in resources:
        if isinstance(resource, models.LambdaFunction):
            # Chalice renames the API's handler to APIHandler in its SAM template.
            is_handler = rest_api is not None and resource is rest_api.lambda_function
            functions[resource.resource_name] = Function(
                "APIHandler" if is_handler else logical_id(resource.resource_name),
                resource.function_name, resource.timeout)
    triggers = []
    for resource in resources:
        if isinstance(resource, models.SQSEventSource):
            name = (resource.queue.queue_name if isinstance(resource.queue, models.QueueARN)
                    else resource.queue)
            triggers.append(QueueTrigger(functions[resource.lambda_function.resource_name],
                                         logical_id(resource.resource_name), name))
        elif isinstance(resource, models.ManagedModel) and not isinstance(
                resource, (models.LambdaFunction, models.RestAPI)):
            raise TemplateError(f"Chalice emits {type(resource).__name__} "
                                f"{resource.resource_name!r}, which the merge template does not "
                                "wire (is manage_iam_role still false in .chalice/config.json?)")
    return ChaliceApp(
        functions=tuple(functions.values()),
        queue_triggers=tuple(triggers),
        authorizers={a.name: a.ttl_seconds for a in app_module.app.builtin_auth_handlers},
        api_stage=config.api_gateway_stage,
        endpoint_type=config.api_gateway_endpoint_type,
        api_prefix=app_module.API_PREFIX,
        webhook_queue_placeholder=app_module.WEBHOOK_QUEUE,
    )


# --- tables ---------------------------------------------------------------------------

def _key_schema(elements: list[dict]) -> list[dict]:
    # CloudFormation wants HASH before RANGE; PynamoDB lists them in attribute order.
    order = {"HASH": 0, "RANGE": 1}
    return [{"AttributeName": e["AttributeName"], "KeyType": e["KeyType"]}
            for e in sorted(elements, key=lambda e: order[e["KeyType"]])]


def _projection(projection: dict) -> dict:
    rendered = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        rendered["NonKeyAttributes"] = sorted(projection["NonKeyAttributes"])
    return rendered


def table_logical_id(model) -> str:
    return logical_id(model.Meta.table) + "Table"


def table_resource(model, settings: Settings) -> dict:
    """An ``AWS::DynamoDB::Table`` with the model's keys, attributes and indexes."""
    schema = model._get_schema()
    attributes = {a["AttributeName"]: a["AttributeType"]
                  for a in schema["attribute_definitions"]}
    properties: dict[str, Any] = {
        "TableName": settings.table_name(model.Meta.table),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind}
                                 for name, kind in sorted(attributes.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    for key, cfn_key in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                         ("local_secondary_indexes", "LocalSecondaryIndexes")):
        indexes = sorted(schema.get(key) or [], key=lambda i: i["index_name"])
        if indexes:
            properties[cfn_key] = [{"IndexName": i["index_name"],
                                    "KeySchema": _key_schema(i["key_schema"]),
                                    "Projection": _projection(i["projection"])}
                                   for i in indexes]
    ttl = model._ttl_attribute()
    if ttl is not None:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl.attr_name, "Enabled": True}
    # Data outlives the stack: deleting or replacing the stack never drops a table.
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain", "Properties": properties}


def index_names(model) -> list[str]:
    schema = model._get_schema()
    return sorted(index["index_name"]
                  for key in ("global_secondary_indexes", "local_secondary_indexes")
                  for index in schema.get(key) or [])


# --- queues ---------------------------------------------------------------------------

# Queued deliveries and logs are transient: they go with the stack (said explicitly).
TRANSIENT = {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}


def queue_resources(settings: Settings) -> dict:
    """The webhook queue and its dead-letter queue, set as :mod:`chalicelib.events.queue` says."""
    return {
        DEAD_LETTER_QUEUE: {"Type": "AWS::SQS::Queue", **TRANSIENT, "Properties": {
            "QueueName": dead_letter_queue_name(settings),
            "MessageRetentionPeriod": webhook_queue.DLQ_RETENTION_SECONDS,
            "SqsManagedSseEnabled": True,
        }},
        QUEUE: {"Type": "AWS::SQS::Queue", **TRANSIENT, "Properties": {
            "QueueName": settings.webhook_queue_name,
            "MessageRetentionPeriod": webhook_queue.QUEUE_RETENTION_SECONDS,
            "VisibilityTimeout": webhook_queue.VISIBILITY_TIMEOUT_SECONDS,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [DEAD_LETTER_QUEUE, "Arn"]},
                "maxReceiveCount": webhook_queue.MAX_RECEIVE_COUNT,
            },
        }},
    }


def dead_letter_queue_name(settings: Settings) -> str:
    # chalicelib.events.queue.dead_letter_queue_name() for these settings (it reads the
    # process's settings; a test checks the two agree).
    return settings.webhook_queue_name + "-dlq"


# --- the API --------------------------------------------------------------------------

def gateway_responses() -> dict:
    """:func:`chalicelib.gateway.cloudformation_resources` as the API definition's extension.

    The responses go into the API definition rather than standalone
    ``AWS::ApiGateway::GatewayResponse`` resources: those are not part of the deployment
    SAM creates, so a later deployment of the stage drops them (SAM issues #390, #623,
    #3482). In the definition they are deployed with every change of the API.
    """
    rendered = {}
    for resource in gateway.cloudformation_resources({"Ref": REST_API}).values():
        properties = resource["Properties"]
        response = {"responseParameters": properties["ResponseParameters"],
                    "responseTemplates": properties["ResponseTemplates"]}
        if "StatusCode" in properties:
            response["statusCode"] = properties["StatusCode"]
        rendered[properties["ResponseType"]] = response
    return rendered


def rest_api_override(app: ChaliceApp) -> dict:
    for name, ttl in app.authorizers.items():
        if ttl not in (0, None):
            raise TemplateError(f"authorizer {name!r} caches for {ttl}s; a revoked key must "
                                "fail on the next request (TTL 0)")
    return {"Properties": {"DefinitionBody": {
        GATEWAY_RESPONSES_KEY: gateway_responses(),
        "securityDefinitions": {
            name: {"x-amazon-apigateway-authorizer": {"authorizerResultTtlInSeconds": 0}}
            for name in app.authorizers},
    }}}


def custom_domain(app: ChaliceApp) -> tuple[dict, dict, dict, dict, dict]:
    """Parameters, rules, conditions, resources and outputs of the optional custom domain.

    The base path mapping is empty, so ``https://<domain>/api/v1/...`` reaches the
    stage's ``/api/v1/...`` routes.
    """
    parameters = {
        "DomainName": {"Type": "String", "Default": "",
                       "Description": "Custom domain for the API (e.g. api.example.com); "
                                      "empty for none.",
                       "AllowedPattern": r"^$|^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+"
                                         r"[a-zA-Z]{2,}$"},
        "CertificateArn": {"Type": "String", "Default": "",
                           "Description": "ACM certificate for DomainName (in us-east-1 for "
                                          "an EDGE API); required with DomainName."},
    }
    conditions = {HAS_CUSTOM_DOMAIN: {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}}
    rules = {"CustomDomainNeedsCertificate": {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]},
        "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]},
                        "AssertDescription": "CertificateArn is required with DomainName."}]}}
    edge = app.endpoint_type == "EDGE"
    domain_properties: dict[str, Any] = {
        "DomainName": {"Ref": "DomainName"},
        "EndpointConfiguration": {"Types": [app.endpoint_type]},
        "SecurityPolicy": "TLS_1_2",
        ("CertificateArn" if edge else "RegionalCertificateArn"): {"Ref": "CertificateArn"},
    }
    resources = {
        CUSTOM_DOMAIN: {"Type": "AWS::ApiGateway::DomainName", "Condition": HAS_CUSTOM_DOMAIN,
                        "Properties": domain_properties,
                        # cfn-lint checks the empty default; the rule above rejects it
                        # whenever this resource exists.
                        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W1030"]}}}},
        CUSTOM_DOMAIN_MAPPING: {
            "Type": "AWS::ApiGateway::BasePathMapping", "Condition": HAS_CUSTOM_DOMAIN,
            "Properties": {
                "DomainName": {"Ref": CUSTOM_DOMAIN},
                "RestApiId": {"Ref": REST_API},
                "BasePath": "",
                # SAM's reference to the stage it creates: the mapping waits for it.
                "Stage": {"Ref": f"{REST_API}.Stage"},
            }},
    }
    outputs = {
        "CustomDomainTarget": {
            "Condition": HAS_CUSTOM_DOMAIN,
            "Description": "Point the custom domain's DNS (CNAME or alias) at this name.",
            "Value": {"Fn::GetAtt": [CUSTOM_DOMAIN, "DistributionDomainName" if edge
                                     else "RegionalDomainName"]}},
        "CustomDomainApiURL": {
            "Condition": HAS_CUSTOM_DOMAIN,
            "Value": {"Fn::Sub": "https://${DomainName}" + app.api_prefix + "/"}},
    }
    return parameters, rules, conditions, resources, outputs


# --- functions and their role ---------------------------------------------------------

def function_resources(app: ChaliceApp, settings: Settings) -> dict:
    """Overrides of Chalice's functions (role, name, environment, trigger) and their log groups."""
    if webhook_queue.VISIBILITY_TIMEOUT_SECONDS < 6 * DELIVERY_TIMEOUT_SECONDS:
        raise TemplateError("the webhook queue's visibility timeout must be at least six "
                            "times the delivery function's timeout")
    environment = {
        "TEMPORALIST_STAGE": settings.stage,
        "TEMPORALIST_TABLE_PREFIX": settings.table_prefix,
        "TEMPORALIST_WEBHOOK_QUEUE": settings.webhook_queue_name,
        "TEMPORALIST_WEBHOOK_QUEUE_URL": {"Ref": QUEUE},
        "TEMPORALIST_ALLOW_INSECURE_WEBHOOKS": "false",
    }
    resources: dict[str, Any] = {}
    for function in app.functions:
        log_group = {"LogGroupName": f"/aws/lambda/{function.function_name}",
                     "RetentionInDays": LOG_RETENTION_DAYS}
        resources[function.log_group_id] = {"Type": "AWS::Logs::LogGroup", **TRANSIENT,
                                            "Properties": log_group}
        resources[function.logical_id] = {"Properties": {
            # Named as `chalice deploy` names them, so their log groups are known here.
            "FunctionName": function.function_name,
            "Role": {"Fn::GetAtt": [ROLE, "Arn"]},
            "Environment": {"Variables": dict(environment)},
        }}
    for trigger in app.queue_triggers:
        if trigger.queue_name != app.webhook_queue_placeholder:
            raise TemplateError(f"{trigger.function.logical_id} listens to "
                                f"{trigger.queue_name!r}, which the template does not create")
        properties = resources[trigger.function.logical_id]["Properties"]
        properties["Timeout"] = DELIVERY_TIMEOUT_SECONDS
        properties["Events"] = {trigger.event_id: {"Type": "SQS", "Properties": {
            "Queue": QUEUE_ARN_SUB,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }}}
    return resources


def role_resource(tables: dict[str, Any], app: ChaliceApp) -> dict:
    """The one role of every function, with :mod:`chalicelib.deploy.permissions`' policy."""
    document = permissions.policy_document(
        table_arns=[{"Fn::GetAtt": [table_id, "Arn"]} for table_id in tables],
        index_arns=[{"Fn::Sub": f"${{{table_id}.Arn}}/index/{name}"}
                    for table_id, model in tables.items() for name in index_names(model)],
        queue_arn={"Fn::GetAtt": [QUEUE, "Arn"]},
        log_group_arns=[{"Fn::GetAtt": [f.log_group_id, "Arn"]} for f in app.functions])
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": "temporalist-functions", "PolicyDocument": document}],
    }}


# --- everything -----------------------------------------------------------------------

def build(stage: str) -> dict:
    """The merge template for ``chalice package --stage <stage>``."""
    from chalicelib.store.tables import MODELS

    settings = stage_settings(stage)
    app = chalice_app(stage)
    tables = {table_logical_id(model): model for model in MODELS}
    if len(tables) != len(MODELS):
        raise TemplateError("two models share a table name")
    parameters, rules, conditions, domain_resources, domain_outputs = custom_domain(app)
    resources = {
        **{table_id: table_resource(model, settings) for table_id, model in tables.items()},
        **queue_resources(settings),
        **function_resources(app, settings),
        ROLE: role_resource(tables, app),
        REST_API: rest_api_override(app),
        **domain_resources,
    }
    api_url = (f"https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
               f"/{app.api_stage}{app.api_prefix}/")
    outputs = {
        "ApiURL": {"Description": "The API's base URL on API Gateway's own domain.",
                   "Value": {"Fn::Sub": api_url}},
        "TablePrefix": {"Value": settings.table_prefix},
        "WebhookQueueURL": {"Value": {"Ref": QUEUE}},
        "WebhookDeadLetterQueueURL": {"Value": {"Ref": DEAD_LETTER_QUEUE}},
        **domain_outputs,
    }
    return {"Parameters": parameters, "Rules": rules, "Conditions": conditions,
            "Resources": resources, "Outputs": outputs}
