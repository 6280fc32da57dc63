"""The merge template: what ``chalice package`` cannot derive from ``app.py``, from its sources.

Each part comes from the one place its truth lives:

- tables: the PynamoDB models (:data:`chalicelib.store.tables.MODELS`), named per stage
  by :class:`chalicelib.config.Settings`;
- queues: the settings constants of :mod:`chalicelib.events.queue`;
- gateway responses: :func:`chalicelib.gateway.cloudformation_resources`;
- each function's role: its entry in :mod:`chalicelib.deploy.permissions`;
- the environment, the runtime and the log level: the stage's settings
  (``.chalice/config.json``); memory per function: its ``lambda_functions`` entry there;
- the functions, their logical ids and the authorizers: Chalice's own application graph
  for the stage, so every function Chalice emits is overridden (log group, logging
  config, tracing, role, alarms, dashboard widgets) and none is invented.

Operations come with the stack: JSON logs with retention, API Gateway access logs,
X-Ray on the stage and the functions, stage throttling (:func:`rest_api_override`,
:func:`api_operations`), alarms to an SNS topic (:func:`alarms`) and a dashboard
(:func:`dashboard_body`).

Chalice merges this template into its SAM template key by key (a list replaces a list).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import gateway, observability
from chalicelib.config import STAGES, Settings, chalice_config, load_settings, stage_config
from chalicelib.deploy import permissions
from chalicelib.events import queue as webhook_queue

PROJECT_DIR = Path(__file__).resolve().parents[2]
# ``local`` runs against the embedded AWS only (and allows insecure webhook targets).
DEPLOYABLE_STAGES = tuple(s for s in STAGES if s != "local")

# The delivery function's timeout; the queue's visibility timeout must be at least six
# times it (AWS's advice for SQS-triggered functions), which build() checks.
DELIVERY_TIMEOUT_SECONDS = 30
LOG_RETENTION_DAYS = 30

QUEUE = "WebhookQueue"
DEAD_LETTER_QUEUE = "WebhookDeadLetterQueue"
STREAM_FAILURE_QUEUE = "StreamFailureQueue"
# Queues by the names permissions.py uses.
QUEUES = {"webhooks": QUEUE, "webhooks-dlq": DEAD_LETTER_QUEUE,
          "events-dlq": STREAM_FAILURE_QUEUE}
REST_API = "RestAPI"  # Chalice's logical id for the API
API_HANDLER = "APIHandler"  # Chalice's logical id for the API's function
CURSOR_SECRET = "CursorSecret"
CUSTOM_DOMAIN = "ApiCustomDomain"
CUSTOM_DOMAIN_MAPPING = "ApiCustomDomainMapping"
HAS_CUSTOM_DOMAIN = "HasCustomDomain"
GATEWAY_RESPONSES_KEY = "x-amazon-apigateway-gateway-responses"
# Chalice writes the trigger's queue as {"Fn::Sub": "arn:...:<placeholder name>"}; the
# merge replaces that string (a GetAtt would be merged beside the Sub, not instead of it).
QUEUE_ARN_SUB = {"Fn::Sub": f"${{{QUEUE}.Arn}}"}

ALARM_TOPIC = "AlarmTopic"
ALARM_EMAIL_SUBSCRIPTION = "AlarmEmailSubscription"
HAS_ALARM_EMAIL = "HasAlarmEmail"
ACCESS_LOGS = "ApiAccessLogs"
DASHBOARD = "Dashboard"
TRACE_SAMPLING_RULE = "ApiTraceSamplingRule"
ACCOUNT_LOG_ROLE = "ApiGatewayCloudWatchRole"
ACCOUNT_SETTINGS = "ApiGatewayAccount"
ACCOUNT_SETTINGS_READY = "ApiGatewayAccountReady"
SETS_ACCOUNT_LOG_ROLE = "SetsApiGatewayAccountRole"
API_5XX_ALARM = "Api5xxAlarm"
QUEUE_AGE_ALARM = "WebhookQueueAgeAlarm"

# Template parameters an operator may set (README "Deploying to AWS"), with defaults.
PARAMETERS: dict[str, dict] = {
    "AlarmEmail": {
        "Type": "String", "Default": "",
        "Description": "An address the alarm topic emails (it must confirm the subscription); "
                       "empty for none.",
        "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"},
    "ApiRateLimit": {
        "Type": "Number", "Default": 100, "MinValue": 1,
        "Description": "Requests per second the API stage accepts (steady state) before "
                       "answering 429."},
    "ApiBurstLimit": {
        "Type": "Number", "Default": 200, "MinValue": 1,
        "Description": "Requests the API stage accepts at once above the rate (token bucket)."},
    "DeliveryMaximumConcurrency": {
        "Type": "Number", "Default": 5, "MinValue": 2, "MaxValue": 1000,
        "Description": "Concurrent webhook delivery functions at most (the SQS trigger's "
                       "MaximumConcurrency), so deliveries cannot take the API's concurrency."},
    "TraceSampleRate": {
        "Type": "Number", "Default": 0.01, "MinValue": 0, "MaxValue": 1,
        "Description": "Share of API requests traced by X-Ray beyond one per second."},
    "SetApiGatewayAccountRole": {
        "Type": "String", "Default": "false", "AllowedValues": ["true", "false"],
        "Description": "true: set this region's API Gateway account CloudWatch role (an "
                       "account-wide setting access logging needs; leave false when the "
                       "account already has one)."},
}

# Alarm thresholds. Any error, throttle, 5xx or dead letter is worth a look in a service
# this size; a message older than this has missed two visibility timeouts.
ALARM_PERIOD_SECONDS = 300
QUEUE_AGE_ALARM_SECONDS = 2 * webhook_queue.VISIBILITY_TIMEOUT_SECONDS + ALARM_PERIOD_SECONDS


@dataclass(frozen=True)
class DeadLetterQueue:
    """A queue where messages end that kept failing: any message in it raises an alarm."""

    logical_id: str
    holds: str


DEAD_LETTER_QUEUES: tuple[DeadLetterQueue, ...] = (
    DeadLetterQueue(DEAD_LETTER_QUEUE, f"webhook deliveries that failed "
                                       f"{webhook_queue.MAX_RECEIVE_COUNT} times"),
    DeadLetterQueue(STREAM_FAILURE_QUEUE, "table changes the fan-out gave up on (their "
                                          "webhooks were not all queued)"),
)


class TemplateError(RuntimeError):
    """The code and the deployment settings disagree; the package would be wrong."""


@dataclass(frozen=True)
class Function:
    """One Lambda function as Chalice emits it for the stage."""

    name: str  # Chalice's (the handler's) name: the key of its permissions and config
    logical_id: str
    function_name: str

    @property
    def log_group_id(self) -> str:
        return self.logical_id + "Logs"

    @property
    def role_id(self) -> str:
        return role_id(self.logical_id)


def role_id(function_logical_id: str) -> str:
    return function_logical_id + "Role"


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS event source of a function, as named in Chalice's template."""

    function: Function
    event_id: str
    queue_name: str


@dataclass(frozen=True)
class StreamTrigger:
    """A DynamoDB stream event source of a function, as named in Chalice's template."""

    function: Function
    event_id: str
    batch_size: int
    starting_position: str
    batching_window_seconds: int


@dataclass(frozen=True)
class ChaliceApp:
    functions: tuple[Function, ...]
    queue_triggers: tuple[QueueTrigger, ...]
    stream_triggers: tuple[StreamTrigger, ...]
    authorizers: dict[str, int | None]  # name -> ttl_seconds declared in the code
    api_stage: str
    endpoint_type: str
    api_prefix: str
    webhook_queue_placeholder: str  # the queue name app.py gives the SQS decorator
    app_name: str
    stage: str

    @property
    def api_name(self) -> str:
        """The REST API's name: AWS/ApiGateway metrics are published by it (and the stage)."""
        return f"{self.app_name}-{self.stage}"


def stage_settings(stage: str) -> Settings:
    """The stage's settings as its functions will see them (the queue URL comes from the stack)."""
    if stage not in DEPLOYABLE_STAGES:
        raise TemplateError(f"stage must be one of {', '.join(DEPLOYABLE_STAGES)}, not {stage!r}")
    return load_settings({"TEMPORALIST_STAGE": stage,
                          "TEMPORALIST_WEBHOOK_QUEUE_URL": "set by the template"})


def stage_runtime(stage: str) -> str:
    """The Lambda runtime the stage deploys (``lambda_runtime`` in .chalice/config.json)."""
    from chalice.deploy.packager import BaseLambdaDeploymentPackager

    runtime = stage_config(stage).get("lambda_runtime")
    # The runtimes Chalice can pick wheels for.
    known = BaseLambdaDeploymentPackager._RUNTIME_TO_ABI
    if runtime not in known:
        raise TemplateError(f"stage {stage!r} must set lambda_runtime in .chalice/config.json "
                            f"to one of {', '.join(known)} (not {runtime!r})")
    return runtime


APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")  # Lambda's
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")


def log_levels(stage: str) -> tuple[str, str]:
    """The stage's application and system log levels (``log_level``, ``system_log_level``).

    The system level decides whether Lambda writes its start and report lines (INFO) or
    only its warnings (WARN): about 700 bytes an invocation (BENCHMARKS.md, cost).
    """
    application = observability.stage_log_level(stage).upper()
    system = str(stage_config(stage).get("system_log_level", "INFO")).upper()
    if application not in APPLICATION_LOG_LEVELS or system not in SYSTEM_LOG_LEVELS:
        raise TemplateError(f"stage {stage!r}: log_level must be one of "
                            f"{', '.join(APPLICATION_LOG_LEVELS)} and system_log_level one of "
                            f"{', '.join(SYSTEM_LOG_LEVELS)}")
    return application, system


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
        config_from_disk=chalice_config(),
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
                resource.resource_name,
                API_HANDLER if is_handler else logical_id(resource.resource_name),
                resource.function_name)
    triggers, streams = [], []
    for resource in resources:
        if isinstance(resource, models.SQSEventSource):
            name = (resource.queue.queue_name if isinstance(resource.queue, models.QueueARN)
                    else resource.queue)
            triggers.append(QueueTrigger(functions[resource.lambda_function.resource_name],
                                         logical_id(resource.resource_name), name))
        elif isinstance(resource, models.DynamoDBEventSource):
            streams.append(StreamTrigger(
                functions[resource.lambda_function.resource_name],
                logical_id(resource.resource_name), resource.batch_size,
                resource.starting_position, resource.maximum_batching_window_in_seconds))
        elif isinstance(resource, models.ManagedModel) and not isinstance(
                resource, (models.LambdaFunction, models.RestAPI)):
            raise TemplateError(f"Chalice emits {type(resource).__name__} "
                                f"{resource.resource_name!r}, which the merge template does not "
                                "wire (is manage_iam_role still false in .chalice/config.json?)")
    return ChaliceApp(
        functions=tuple(functions.values()),
        queue_triggers=tuple(triggers),
        stream_triggers=tuple(streams),
        authorizers={a.name: a.ttl_seconds for a in app_module.app.builtin_auth_handlers},
        api_stage=config.api_gateway_stage,
        endpoint_type=config.api_gateway_endpoint_type,
        api_prefix=app_module.API_PREFIX,
        webhook_queue_placeholder=app_module.WEBHOOK_QUEUE,
        app_name=config.app_name,
        stage=stage,
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
    if stream_view_type(model):
        properties["StreamSpecification"] = {"StreamViewType": stream_view_type(model)}
    # Data outlives the stack: deleting or replacing the stack never drops a table.
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain", "Properties": properties}


def stream_view_type(model) -> str | None:
    """The model's change stream (``Meta.stream_view_type``), if it has one."""
    return getattr(model.Meta, "stream_view_type", None)


def index_names(model) -> list[str]:
    schema = model._get_schema()
    return sorted(index["index_name"]
                  for key in ("global_secondary_indexes", "local_secondary_indexes")
                  for index in schema.get(key) or [])


# --- queues ---------------------------------------------------------------------------

# Queued deliveries and logs are transient: they go with the stack (said explicitly).
TRANSIENT = {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}


def queue_resources(settings: Settings) -> dict:
    """The webhook queue, its dead-letter queue and the streams' failure queue, set as
    :mod:`chalicelib.events.queue` says."""
    return {
        STREAM_FAILURE_QUEUE: {"Type": "AWS::SQS::Queue", **TRANSIENT, "Properties": {
            "QueueName": webhook_queue.stream_failure_queue_name(settings),
            "MessageRetentionPeriod": webhook_queue.DLQ_RETENTION_SECONDS,
            "SqsManagedSseEnabled": True,
        }},
        DEAD_LETTER_QUEUE: {"Type": "AWS::SQS::Queue", **TRANSIENT, "Properties": {
            "QueueName": webhook_queue.dead_letter_queue_name(settings),
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


ACCESS_LOG_FORMAT = {
    # API Gateway's own line per request, whatever answered it (the authorizer's 401/403,
    # a throttle, a route). request_id is the one the API function's line carries.
    "request_id": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latency_ms": "$context.responseLatency",
    "principal": "$context.authorizer.principalId",
    "key_id": "$context.authorizer.key_id",
    "error": "$context.error.responseType",
    "time": "$context.requestTime",
}


def rest_api_override(app: ChaliceApp) -> dict:
    """The API: gateway responses, the authorizer's TTL, its name, and its stage's operations."""
    for name, ttl in app.authorizers.items():
        if ttl not in (0, None):
            raise TemplateError(f"authorizer {name!r} caches for {ttl}s; a revoked key must "
                                "fail on the next request (TTL 0)")
    return {
        # Access logging needs the account's CloudWatch role first (when this stack sets it).
        "DependsOn": [ACCOUNT_SETTINGS_READY],
        "Properties": {
            # Named per stage, so two stages' metrics (published by API name) never mix.
            "Name": app.api_name,
            "DefinitionBody": {
                "info": {"title": app.api_name},
                GATEWAY_RESPONSES_KEY: gateway_responses(),
                "securityDefinitions": {
                    name: {"x-amazon-apigateway-authorizer": {"authorizerResultTtlInSeconds": 0}}
                    for name in app.authorizers},
            },
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": [ACCESS_LOGS, "Arn"]},
                "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
            },
            "MethodSettings": [{
                "ResourcePath": "/*", "HttpMethod": "*",
                "ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
                "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"},
            }],
        },
    }


def api_operations(app: ChaliceApp) -> tuple[dict, dict]:
    """Access log group, X-Ray sampling rule and the optional account CloudWatch role.

    API Gateway writes access logs with a role set once per account and region (not per
    API); a stack cannot tell whether one is set, so setting it is opt-in
    (``SetApiGatewayAccountRole=true``). The role is retained when the stack goes: the
    account setting outlives it and would otherwise point at nothing.
    """
    conditions = {SETS_ACCOUNT_LOG_ROLE: {
        "Fn::Equals": [{"Ref": "SetApiGatewayAccountRole"}, "true"]}}
    resources = {
        ACCESS_LOGS: {"Type": "AWS::Logs::LogGroup", **TRANSIENT, "Properties": {
            "LogGroupName": f"/aws/apigateway/{app.api_name}/access",
            "RetentionInDays": LOG_RETENTION_DAYS}},
        TRACE_SAMPLING_RULE: {"Type": "AWS::XRay::SamplingRule", "Properties": {
            "SamplingRule": {
                "RuleName": app.api_name[:32],
                "Priority": 1000,
                "ReservoirSize": 1,  # one trace a second, then the rate
                "FixedRate": {"Ref": "TraceSampleRate"},
                "ServiceName": f"{app.api_name}/{app.api_stage}",
                "ServiceType": "AWS::ApiGateway::Stage",
                "ResourceARN": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::"
                                           f"/restapis/${{{REST_API}}}/stages/{app.api_stage}"},
                "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1,
            }}},
        ACCOUNT_LOG_ROLE: {
            "Type": "AWS::IAM::Role", "Condition": SETS_ACCOUNT_LOG_ROLE,
            "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]},
                "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/"
                                                  "service-role/AmazonAPIGatewayPushToCloudWatchLogs"}],
            }},
        ACCOUNT_SETTINGS: {
            "Type": "AWS::ApiGateway::Account", "Condition": SETS_ACCOUNT_LOG_ROLE,
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": [ACCOUNT_LOG_ROLE, "Arn"]}}},
        # Depends on the account settings only when they are created here: the API's
        # DependsOn cannot name a resource whose condition may be false.
        ACCOUNT_SETTINGS_READY: {"Type": "AWS::CloudFormation::WaitConditionHandle", "Metadata": {
            "AccountSettings": {"Fn::If": [SETS_ACCOUNT_LOG_ROLE, {"Ref": ACCOUNT_SETTINGS},
                                           ""]}}},
    }
    return conditions, resources


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


# --- functions and their roles -------------------------------------------------------

def function_resources(app: ChaliceApp, settings: Settings, runtime: str,
                       tables: dict[str, Any]) -> dict:
    """Overrides of Chalice's functions and their log groups.

    Each function gets its name, role, environment, runtime, tracing and JSON logging
    at the stage's level, into its own log group with retention.
    """
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
    log_level, system_log_level = log_levels(app.stage)
    resources: dict[str, Any] = {}
    for function in app.functions:
        log_group = {"LogGroupName": f"/aws/lambda/{function.function_name}",
                     "RetentionInDays": LOG_RETENTION_DAYS}
        resources[function.log_group_id] = {"Type": "AWS::Logs::LogGroup", **TRANSIENT,
                                            "Properties": log_group}
        resources[function.logical_id] = {"Properties": {
            # Named as `chalice deploy` names them, so their log groups are known here.
            "FunctionName": function.function_name,
            "Role": {"Fn::GetAtt": [function.role_id, "Arn"]},
            "Runtime": runtime,
            "Environment": {"Variables": dict(environment)},
            "Tracing": "Active",
            "LoggingConfig": {
                "LogFormat": "JSON",
                "ApplicationLogLevel": log_level,
                "SystemLogLevel": system_log_level,
                "LogGroup": {"Ref": function.log_group_id},
            },
        }}
    # Page cursors are signed with a key only the API function has: generated with the
    # stack (Secrets Manager) and resolved into that function's environment at deployment.
    api = next((f for f in app.functions if f.logical_id == API_HANDLER), None)
    if api is not None:
        resources[CURSOR_SECRET] = {"Type": "AWS::SecretsManager::Secret", **TRANSIENT,
                                    "Properties": {
            "Description": "Signs the API's page cursors (TEMPORALIST_CURSOR_SECRET).",
            "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}}
        resources[api.logical_id]["Properties"]["Environment"]["Variables"][
            "TEMPORALIST_CURSOR_SECRET"] = {
                "Fn::Sub": f"{{{{resolve:secretsmanager:${{{CURSOR_SECRET}}}:SecretString}}}}"}
    for trigger in app.queue_triggers:
        if trigger.queue_name != app.webhook_queue_placeholder:
            raise TemplateError(f"{trigger.function.logical_id} listens to "
                                f"{trigger.queue_name!r}, which the template does not create")
        properties = resources[trigger.function.logical_id]["Properties"]
        properties["Timeout"] = DELIVERY_TIMEOUT_SECONDS
        properties["Events"] = {trigger.event_id: {"Type": "SQS", "Properties": {
            "Queue": QUEUE_ARN_SUB,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": {"Ref": "DeliveryMaximumConcurrency"}},
        }}}
    streamed = [table_id for table_id, model in tables.items() if stream_view_type(model)]
    if len(app.stream_triggers) > 1:
        raise TemplateError("more than one function reads the tables' streams; the template "
                            "wires every streamed table to one")
    for trigger in app.stream_triggers:
        if not streamed:
            raise TemplateError(f"{trigger.function.logical_id} reads a stream, but no model "
                                "sets Meta.stream_view_type")
        # Chalice's one event (with app.py's placeholder ARN) becomes the first table's;
        # each other streamed table gets its own mapping to the same function.
        event_ids = [trigger.event_id] + [f"{table_id}Stream" for table_id in streamed[1:]]
        resources[trigger.function.logical_id]["Properties"]["Events"] = {
            event_id: {"Type": "DynamoDB", "Properties": {
                "Stream": {"Fn::GetAtt": [table_id, "StreamArn"]},
                "StartingPosition": trigger.starting_position,
                "BatchSize": trigger.batch_size,
                "MaximumBatchingWindowInSeconds": trigger.batching_window_seconds,
                "MaximumRetryAttempts": webhook_queue.STREAM_MAX_RETRY_ATTEMPTS,
                "MaximumRecordAgeInSeconds": webhook_queue.STREAM_MAX_RECORD_AGE_SECONDS,
                "BisectBatchOnFunctionError": True,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": {"OnFailure": {
                    "Type": "SQS", "Destination": {"Fn::GetAtt": [STREAM_FAILURE_QUEUE, "Arn"]}}},
            }} for event_id, table_id in zip(event_ids, streamed)}
    return resources


def _table_ids(tables: dict[str, Any]) -> dict[str, str]:
    """Table logical ids by the models' short names (``Meta.table``)."""
    return {model.Meta.table: table_id for table_id, model in tables.items()}


def _queue_arn(name: str, function: Function) -> dict:
    if name not in QUEUES:
        raise TemplateError(f"permissions for {function.name} name queue {name!r}, which the "
                            "template does not create")
    return {"Fn::GetAtt": [QUEUES[name], "Arn"]}


def policy_document(function: Function, access: permissions.FunctionAccess,
                    tables: dict[str, Any]) -> dict:
    """The statements of one function's role: its entry in permissions.FUNCTIONS, and no more."""
    table_ids = _table_ids(tables)
    statements = []

    def table(name: str) -> str:
        if name not in table_ids:
            raise TemplateError(f"permissions for {function.name} name table {name!r}, "
                                "which no model defines")
        return table_ids[name]

    for grant in access.tables:
        table_id = table(grant.table)
        known_indexes = index_names(tables[table_id])
        if grant.items:
            statements.append({"Sid": f"{table_id}Items", "Effect": "Allow",
                               "Action": sorted(grant.items),
                               "Resource": [{"Fn::GetAtt": [table_id, "Arn"]}]})
        if grant.indexes:
            unknown = set(grant.indexes) - set(known_indexes)
            if unknown:
                raise TemplateError(f"{grant.table} has no index {sorted(unknown)}")
            statements.append({"Sid": f"{table_id}Indexes", "Effect": "Allow",
                               "Action": [permissions.QUERY],
                               "Resource": [{"Fn::Sub": f"${{{table_id}.Arn}}/index/{index}"}
                                            for index in sorted(grant.indexes)]})
    if access.sends_to:
        statements.append({"Sid": "QueueSend", "Effect": "Allow", "Action": [permissions.SEND],
                           "Resource": [_queue_arn(q, function) for q in access.sends_to]})
    if access.consumes:
        statements.append({"Sid": "QueueEventSource", "Effect": "Allow",
                           "Action": list(permissions.SQS_EVENT_SOURCE_ACTIONS),
                           "Resource": [_queue_arn(q, function) for q in access.consumes]})
    if access.streams:
        statements.append({"Sid": "StreamEventSource", "Effect": "Allow",
                           "Action": list(permissions.STREAM_EVENT_SOURCE_ACTIONS),
                           "Resource": [{"Fn::GetAtt": [table(t), "StreamArn"]}
                                        for t in access.streams]})
        statements.append({"Sid": "StreamList", "Effect": "Allow",
                           "Action": list(permissions.STREAM_LIST_ACTIONS), "Resource": ["*"]})
    if access.on_failure:
        statements.append({"Sid": "StreamOnFailure", "Effect": "Allow",
                           "Action": [permissions.SEND],
                           "Resource": [_queue_arn(q, function) for q in access.on_failure]})
    statements.append({"Sid": "Logs", "Effect": "Allow", "Action": list(permissions.LOG_ACTIONS),
                       "Resource": [{"Fn::GetAtt": [function.log_group_id, "Arn"]}]})
    statements.append({"Sid": "Tracing", "Effect": "Allow",
                       "Action": list(permissions.TRACING_ACTIONS), "Resource": ["*"]})
    return {"Version": "2012-10-17", "Statement": statements}


def role_resources(app: ChaliceApp, tables: dict[str, Any]) -> dict:
    """One role per function, each with only its own permissions."""
    missing = [f.name for f in app.functions if f.name not in permissions.FUNCTIONS]
    if missing:
        raise TemplateError(f"no entry in chalicelib/deploy/permissions.py FUNCTIONS for "
                            f"{', '.join(missing)}: every function needs its own role")
    return {function.role_id: {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": function.function_name, "PolicyDocument": policy_document(
            function, permissions.FUNCTIONS[function.name], tables)}],
    }} for function in app.functions}


# --- alarms and the dashboard ---------------------------------------------------------

def alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], *,
          statistic: str = "Sum", threshold: float = 1) -> dict:
    """Alarm to the topic when ``metric`` reaches ``threshold`` in one period (absent = fine)."""
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Statistic": statistic, "Period": ALARM_PERIOD_SECONDS,
        "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        "Threshold": threshold, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}],
    }}


def _queue_name(logical: str) -> dict:
    return {"Fn::GetAtt": [logical, "QueueName"]}


def alarms(app: ChaliceApp) -> dict:
    """Per function errors (not the authorizer's, see below) and throttles, the fan-out's
    oldest unhandled change (IteratorAge, milliseconds), per dead-letter queue any message,
    the webhook queue's oldest message, the API's 5xx: each on the metric and dimensions
    AWS publishes."""
    resources = {
        API_5XX_ALARM: alarm(
            "The API answered 5xx (its own 500s, or API Gateway's when a function failed).",
            "AWS/ApiGateway", "5XXError", {"ApiName": app.api_name, "Stage": app.api_stage}),
        QUEUE_AGE_ALARM: alarm(
            "A webhook message has waited for delivery longer than two retries take.",
            "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": _queue_name(QUEUE)},
            statistic="Maximum", threshold=QUEUE_AGE_ALARM_SECONDS),
    }
    for dead in DEAD_LETTER_QUEUES:
        resources[dead.logical_id + "Alarm"] = alarm(
            f"A message reached the dead-letter queue: {dead.holds}.",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            {"QueueName": _queue_name(dead.logical_id)}, statistic="Maximum")
    for function in dict.fromkeys(trigger.function for trigger in app.stream_triggers):
        resources[function.logical_id + "IteratorAgeAlarm"] = alarm(
            f"{function.function_name} has left a table change unhandled for "
            f"{webhook_queue.STREAM_STUCK_ALARM_SECONDS // 60} minutes (its events wait; "
            f"it is given up after {webhook_queue.STREAM_MAX_RECORD_AGE_SECONDS // 3600} hours).",
            "AWS/Lambda", "IteratorAge", {"FunctionName": {"Ref": function.logical_id}},
            statistic="Maximum", threshold=webhook_queue.STREAM_STUCK_ALARM_SECONDS * 1000)
    for function in app.functions:
        name = {"FunctionName": {"Ref": function.logical_id}}
        # Not the authorizer's Errors: it raises Unauthorized for every bad, unknown or
        # revoked key (that is how API Gateway answers 401) and Lambda counts each as an
        # error, so one integrator with a revoked key would page all day. Its real
        # failures (a crash, a timeout) are API Gateway 500s, which API_5XX_ALARM watches.
        if function.name not in app.authorizers:
            resources[function.logical_id + "ErrorsAlarm"] = alarm(
                f"{function.function_name} failed (an exception, a timeout or out of memory).",
                "AWS/Lambda", "Errors", name)
        resources[function.logical_id + "ThrottlesAlarm"] = alarm(
            f"{function.function_name} was throttled (no concurrency left).",
            "AWS/Lambda", "Throttles", name)
    return resources


def alarm_topic() -> tuple[dict, dict]:
    """The topic every alarm notifies, and an optional email subscription to it.

    Not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS-managed SNS
    key, and alarm notifications carry no data of the service's users.
    """
    conditions = {HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}}
    resources = {
        ALARM_TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {
            "DisplayName": "Temporal.ist alarms"}},
        ALARM_EMAIL_SUBSCRIPTION: {"Type": "AWS::SNS::Subscription", "Condition": HAS_ALARM_EMAIL,
                                   "Properties": {"TopicArn": {"Ref": ALARM_TOPIC},
                                                  "Protocol": "email",
                                                  "Endpoint": {"Ref": "AlarmEmail"}}},
    }
    return conditions, resources


def dashboard_body(app: ChaliceApp) -> dict:
    """The dashboard: the API's traffic, errors and latency; each function; the queues.

    Names are ``Fn::Sub`` references (``${Queue.QueueName}``), resolved by CloudFormation.
    """
    api = ["ApiName", app.api_name, "Stage", app.api_stage]
    queues = [QUEUE, *(dead.logical_id for dead in DEAD_LETTER_QUEUES)]
    widgets: list[tuple[str, list]] = [
        ("Requests", [["AWS/ApiGateway", "Count", *api, {"stat": "Sum"}]]),
        ("4XX and 5XX", [["AWS/ApiGateway", "4XXError", *api, {"stat": "Sum"}],
                         ["AWS/ApiGateway", "5XXError", *api, {"stat": "Sum"}]]),
        ("Latency (ms)", [["AWS/ApiGateway", "Latency", *api, {"stat": "p50"}],
                          ["AWS/ApiGateway", "Latency", *api, {"stat": "p99"}]]),
    ]
    for function in app.functions:
        name = ["FunctionName", f"${{{function.logical_id}}}"]
        widgets.append((f"{function.name}: duration (ms), errors, concurrency", [
            ["AWS/Lambda", "Duration", *name, {"stat": "p50"}],
            ["AWS/Lambda", "Duration", *name, {"stat": "p99"}],
            ["AWS/Lambda", "Errors", *name, {"stat": "Sum", "yAxis": "right"}],
            ["AWS/Lambda", "ConcurrentExecutions", *name, {"stat": "Maximum", "yAxis": "right"}],
        ]))
    widgets.append(("Table changes: oldest unhandled (ms)", [
        ["AWS/Lambda", "IteratorAge", "FunctionName", f"${{{function.logical_id}}}",
         {"stat": "Maximum"}]
        for function in dict.fromkeys(t.function for t in app.stream_triggers)]))
    widgets.append(("Queues: messages waiting", [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
         f"${{{queue}.QueueName}}", {"stat": "Maximum"}] for queue in queues]))
    widgets.append(("Queues: oldest message (s)", [
        ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName",
         f"${{{queue}.QueueName}}", {"stat": "Maximum"}] for queue in queues]))
    return {"widgets": [
        {"type": "metric", "width": 8, "height": 6, "x": 8 * (i % 3), "y": 6 * (i // 3),
         "properties": {"title": title, "metrics": metrics, "region": "${AWS::Region}",
                        "view": "timeSeries", "period": 60}}
        for i, (title, metrics) in enumerate(widgets)]}


# --- everything -----------------------------------------------------------------------

def build(stage: str, runtime: str | None = None) -> dict:
    """The merge template for ``chalice package --stage <stage>``.

    ``runtime`` overrides the stage's ``lambda_runtime`` (to try a newer one).
    """
    from chalicelib.store.tables import MODELS

    settings = stage_settings(stage)
    app = chalice_app(stage)
    tables = {table_logical_id(model): model for model in MODELS}
    if len(tables) != len(MODELS):
        raise TemplateError("two models share a table name")
    parameters, rules, conditions, domain_resources, domain_outputs = custom_domain(app)
    api_conditions, api_resources = api_operations(app)
    topic_conditions, topic_resources = alarm_topic()
    resources = {
        **{table_id: table_resource(model, settings) for table_id, model in tables.items()},
        **queue_resources(settings),
        **function_resources(app, settings, runtime or stage_runtime(stage), tables),
        **role_resources(app, tables),
        REST_API: rest_api_override(app),
        **api_resources,
        **topic_resources,
        **alarms(app),
        DASHBOARD: {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
            "DashboardName": app.api_name,
            "DashboardBody": {"Fn::Sub": json.dumps(dashboard_body(app))}}},
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
        "AlarmTopicArn": {"Description": "Subscribe to it for alarm notifications.",
                          "Value": {"Ref": ALARM_TOPIC}},
        "DashboardURL": {"Value": {"Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/"
                                              "cloudwatch/home?region=${AWS::Region}#dashboards:"
                                              f"name={app.api_name}"}},
        "ApiAccessLogGroup": {"Value": {"Ref": ACCESS_LOGS}},
        **domain_outputs,
    }
    return {"Parameters": {**PARAMETERS, **parameters}, "Rules": rules,
            "Conditions": {**conditions, **api_conditions, **topic_conditions},
            "Resources": resources, "Outputs": outputs}
