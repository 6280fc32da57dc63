"""What an operator gets with the stack: logs, traces, throttling, alarms and a dashboard.

Every alarm and dashboard metric must be one AWS publishes, with the dimensions it
publishes it by, pointing at this stack's resources: a metric with a wrong dimension
exists nowhere and an alarm on it never fires.
"""
from __future__ import annotations

import json

import pytest

from chalicelib import gateway, observability
from chalicelib.deploy import permissions, template
from chalicelib.events import queue
from tests.infra.conftest import STAGE

# The metrics used, with the dimension sets AWS publishes them by (CloudWatch docs:
# "Amazon API Gateway dimensions and metrics" for REST APIs, "Types of metrics for Lambda
# functions", "Available CloudWatch metrics for Amazon SQS").
PUBLISHED = {
    "AWS/ApiGateway": ({"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"},
                       [{"ApiName"}, {"ApiName", "Stage"},
                        {"ApiName", "Method", "Resource", "Stage"}]),
    "AWS/Lambda": ({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions",
                    "IteratorAge"},
                   [{"FunctionName"}, {"FunctionName", "Resource"}]),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
                 "NumberOfMessagesSent"}, [{"QueueName"}]),
}
ACCESS_LOG_FIELDS = {"request_id": "$context.requestId", "ip": "$context.identity.sourceIp",
                     "method": "$context.httpMethod", "path": "$context.path",
                     "status": "$context.status", "latency_ms": "$context.responseLatency",
                     "principal": "$context.authorizer.principalId"}


def assert_published(namespace: str, metric: str, dimensions: set[str]) -> None:
    metrics, dimension_sets = PUBLISHED[namespace]
    assert metric in metrics, (namespace, metric)
    assert dimensions in dimension_sets, (namespace, metric, dimensions)


def api_properties(packaged) -> dict:
    return packaged.resources[template.REST_API]["Properties"]


# --- logs -------------------------------------------------------------------------------

def test_every_function_logs_json_at_the_stages_levels_into_its_group(packaged):
    application, system = template.log_levels(STAGE)
    assert application == observability.stage_log_level(STAGE) == "INFO"
    for name, function in packaged.functions().items():
        config = function["Properties"]["LoggingConfig"]
        assert config["LogFormat"] == "JSON", name
        assert (config["ApplicationLogLevel"], config["SystemLogLevel"]) == (application, system)
        group = packaged.resources[config["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        assert group == f"/aws/lambda/{function['Properties']['FunctionName']}"


def test_stages_set_their_own_system_log_level_and_bad_levels_are_refused(monkeypatch):
    assert template.log_levels("dev") == ("INFO", "INFO")  # Lambda's start and report lines
    assert template.log_levels("prod") == ("INFO", "WARN")  # their cost is left out in prod
    monkeypatch.setattr(template, "stage_config", lambda stage: {"system_log_level": "ERROR"})
    with pytest.raises(template.TemplateError, match="system_log_level"):
        template.log_levels("prod")


def test_lambda_levels_become_pythons():
    assert [observability.python_level(level) for level in template.APPLICATION_LOG_LEVELS] == [
        "DEBUG", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def test_the_stage_access_log_is_json_with_the_fields_an_operator_needs(packaged):
    setting = api_properties(packaged)["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": [template.ACCESS_LOGS, "Arn"]}
    fields = json.loads(setting["Format"])
    assert ACCESS_LOG_FIELDS.items() <= fields.items()
    assert all(value.startswith("$context.") for value in fields.values())
    # the Lambda line carries the same request id under the same name, to join the two
    assert "request_id" in fields and fields["request_id"] == "$context.requestId"
    group = packaged.resources[template.ACCESS_LOGS]["Properties"]
    assert group["RetentionInDays"] == template.LOG_RETENTION_DAYS


def test_the_account_cloudwatch_role_is_opt_in_and_outlives_the_stack(packaged):
    parameter = packaged.sam["Parameters"]["SetApiGatewayAccountRole"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["true", "false"])
    condition = packaged.sam["Conditions"][template.SETS_ACCOUNT_LOG_ROLE]
    assert condition == {"Fn::Equals": [{"Ref": "SetApiGatewayAccountRole"}, "true"]}
    role = packaged.resources[template.ACCOUNT_LOG_ROLE]
    account = packaged.resources[template.ACCOUNT_SETTINGS]
    assert role["Condition"] == account["Condition"] == template.SETS_ACCOUNT_LOG_ROLE
    assert role["DeletionPolicy"] == "Retain"
    assert role["Properties"]["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:"
                                                        "policy/service-role/"
                                                        "AmazonAPIGatewayPushToCloudWatchLogs"}]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [template.ACCOUNT_LOG_ROLE,
                                                                         "Arn"]}
    # the API (so its stage, with access logging) waits for the setting when it is made here
    assert packaged.resources[template.REST_API]["DependsOn"] == [template.ACCOUNT_SETTINGS_READY]
    ready = packaged.resources[template.ACCOUNT_SETTINGS_READY]
    assert ready["Metadata"]["AccountSettings"] == {
        "Fn::If": [template.SETS_ACCOUNT_LOG_ROLE, {"Ref": template.ACCOUNT_SETTINGS}, ""]}


# --- tracing ------------------------------------------------------------------------------

def test_functions_and_the_stage_are_traced_and_may_send_traces(packaged):
    assert api_properties(packaged)["TracingEnabled"] is True
    for name, function in packaged.functions().items():
        assert function["Properties"]["Tracing"] == "Active", name
        statements = packaged.role_of(name)["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"]
        tracing = [s for s in statements if s["Sid"] == "Tracing"]
        assert tracing == [{"Sid": "Tracing", "Effect": "Allow", "Resource": ["*"],
                            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]}]


def test_the_api_is_sampled_by_its_own_rule(packaged):
    rule = packaged.resources[template.TRACE_SAMPLING_RULE]["Properties"]["SamplingRule"]
    api = api_properties(packaged)
    assert rule["ServiceName"] == f"{api['Name']}/{api['StageName']}"
    assert rule["ServiceType"] == "AWS::ApiGateway::Stage"
    assert rule["FixedRate"] == {"Ref": "TraceSampleRate"} and rule["ReservoirSize"] == 1
    assert packaged.sub(rule["ResourceARN"]["Fn::Sub"].replace("${RestAPI}", "abc")) == (
        "arn:aws:apigateway:us-east-1::/restapis/abc/stages/api")
    assert len(rule["RuleName"]) <= 32
    rate = packaged.sam["Parameters"]["TraceSampleRate"]
    assert 0 <= rate["Default"] <= 1 and (rate["MinValue"], rate["MaxValue"]) == (0, 1)


# --- throttling ---------------------------------------------------------------------------

def test_the_stage_is_throttled_by_parameters_and_answers_429(packaged):
    (setting,) = api_properties(packaged)["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    parameters = packaged.sam["Parameters"]
    assert 0 < parameters["ApiRateLimit"]["Default"] <= parameters["ApiBurstLimit"]["Default"]
    status, headers, body = gateway.render("THROTTLED")
    assert (status, json.loads(body), headers["Retry-After"]) == (
        429, {"detail": "Request was throttled."}, "1")
    status, _, body = gateway.render("REQUEST_TOO_LARGE")
    assert (status, json.loads(body)) == (413, {"detail": "Request body is too large."})


# --- alarms -------------------------------------------------------------------------------

def alarm_metrics(packaged) -> dict[str, tuple[str, str, dict]]:
    return {name: (a["Properties"]["Namespace"], a["Properties"]["MetricName"],
                   {d["Name"]: d["Value"] for d in a["Properties"]["Dimensions"]})
            for name, a in packaged.alarms().items()}


def test_every_alarm_watches_a_published_metric_of_this_stack(packaged):
    api = api_properties(packaged)
    functions = {f["Properties"]["FunctionName"] for f in packaged.functions().values()}
    queues = {q["Properties"]["QueueName"] for q in packaged.of_type("AWS::SQS::Queue").values()}
    for name, (namespace, metric, dimensions) in alarm_metrics(packaged).items():
        assert_published(namespace, metric, set(dimensions))
        resolved = {k: packaged.name_of(v) for k, v in dimensions.items()}
        if namespace == "AWS/ApiGateway":
            assert resolved == {"ApiName": api["Name"], "Stage": api["StageName"]}, name
        elif namespace == "AWS/Lambda":
            assert resolved["FunctionName"] in functions, name
        else:
            assert resolved["QueueName"] in queues, name


def test_alarms_cover_each_function_each_dead_letter_queue_the_queue_and_the_api(packaged):
    watched = {(m, tuple(sorted((k, json.dumps(v)) for k, v in d.items())))
               for _, m, d in alarm_metrics(packaged).values()}
    app = template.chalice_app(STAGE)
    authorizers = {f.logical_id for f in app.functions if f.name in app.authorizers}
    assert authorizers == {"ApiKeyAuthorizer"}
    for name in packaged.functions():
        by_function = (("FunctionName", json.dumps({"Ref": name})),)
        assert ("Throttles", by_function) in watched, name
        # every bad key is an authorizer "error" (Unauthorized); its real failures are
        # API Gateway 500s, which the 5XXError alarm watches
        assert (("Errors", by_function) in watched) == (name not in authorizers), name
    for dead in template.DEAD_LETTER_QUEUES:
        queue_name = json.dumps({"Fn::GetAtt": [dead.logical_id, "QueueName"]})
        assert ("ApproximateNumberOfMessagesVisible", (("QueueName", queue_name),)) in watched
    age = json.dumps({"Fn::GetAtt": [template.QUEUE, "QueueName"]})
    assert ("ApproximateAgeOfOldestMessage", (("QueueName", age),)) in watched
    assert any(m == "5XXError" for m, _ in watched)
    fan_out = json.dumps({"Ref": "FanOutEvents"})  # the one stream-triggered function
    assert ("IteratorAge", (("FunctionName", fan_out),)) in watched
    assert len(watched) == (2 * len(packaged.functions()) - len(authorizers)
                            + len(template.DEAD_LETTER_QUEUES) + 3)


def test_alarms_fire_on_the_first_error_and_notify_the_topic(packaged):
    for name, alarm in packaged.alarms().items():
        p = alarm["Properties"]
        assert p["AlarmActions"] == p["OKActions"] == [{"Ref": template.ALARM_TOPIC}], name
        assert p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert p["TreatMissingData"] == "notBreaching"  # a quiet queue is a healthy one
        if p["MetricName"] == "ApproximateAgeOfOldestMessage":
            assert p["Statistic"] == "Maximum"
            # older than two visibility timeouts: a message retried twice and still there
            assert p["Threshold"] > 2 * queue.VISIBILITY_TIMEOUT_SECONDS
        elif p["MetricName"] == "IteratorAge":  # milliseconds; well before records expire
            assert p["Statistic"] == "Maximum"
            assert 0 < p["Threshold"] < queue.STREAM_MAX_RECORD_AGE_SECONDS * 1000 / 4
        elif p["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert (p["Statistic"], p["Threshold"]) == ("Maximum", 1)  # any dead letter
        else:
            assert (p["Statistic"], p["Threshold"]) == ("Sum", 1)


def test_the_topic_emails_the_optional_alarm_address(packaged):
    assert packaged.resources[template.ALARM_TOPIC]["Type"] == "AWS::SNS::Topic"
    parameter = packaged.sam["Parameters"]["AlarmEmail"]
    assert parameter["Default"] == ""
    subscription = packaged.resources[template.ALARM_EMAIL_SUBSCRIPTION]
    assert subscription["Condition"] == template.HAS_ALARM_EMAIL
    assert packaged.sam["Conditions"][template.HAS_ALARM_EMAIL] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert subscription["Properties"] == {"TopicArn": {"Ref": template.ALARM_TOPIC},
                                          "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}
    import re
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("ops@example.com")
    assert not pattern.fullmatch("not an address")


def test_a_new_dead_letter_queue_is_one_entry(monkeypatch):
    monkeypatch.setattr(template, "DEAD_LETTER_QUEUES", template.DEAD_LETTER_QUEUES + (
        template.DeadLetterQueue(template.QUEUE, "a test"),))
    built = template.build(STAGE)["Resources"]
    assert built[template.QUEUE + "Alarm"]["Properties"]["MetricName"] == \
        "ApproximateNumberOfMessagesVisible"
    body = built[template.DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert body.count(f"${{{template.QUEUE}.QueueName}}") == 4  # depth and age, listed twice


# --- the dashboard ------------------------------------------------------------------------

def dashboard(packaged) -> list[dict]:
    body = packaged.resources[template.DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(packaged.sub(body))["widgets"]


def test_the_dashboard_shows_requests_errors_latency_functions_and_queues(packaged):
    api = api_properties(packaged)
    shown = set()
    for widget in dashboard(packaged):
        assert widget["properties"]["region"] == "us-east-1"
        for metric in widget["properties"]["metrics"]:
            namespace, name, *pairs, options = metric
            dimensions = dict(zip(pairs[::2], pairs[1::2]))
            assert_published(namespace, name, set(dimensions))
            shown.add((name, options["stat"], tuple(sorted(dimensions.items()))))
    by_api = (("ApiName", api["Name"]), ("Stage", api["StageName"]))
    assert {("Count", "Sum", by_api), ("4XXError", "Sum", by_api), ("5XXError", "Sum", by_api),
            ("Latency", "p50", by_api), ("Latency", "p99", by_api)} <= shown
    for function in packaged.functions().values():
        by_function = (("FunctionName", function["Properties"]["FunctionName"]),)
        assert {("Duration", "p50", by_function), ("Duration", "p99", by_function),
                ("Errors", "Sum", by_function),
                ("ConcurrentExecutions", "Maximum", by_function)} <= shown
    for q in packaged.of_type("AWS::SQS::Queue").values():
        by_queue = (("QueueName", q["Properties"]["QueueName"]),)
        assert {("ApproximateNumberOfMessagesVisible", "Maximum", by_queue),
                ("ApproximateAgeOfOldestMessage", "Maximum", by_queue)} <= shown


def test_the_api_is_named_per_stage_so_stages_metrics_never_mix(packaged):
    api = api_properties(packaged)
    assert api["Name"] == f"temporalist-{STAGE}" == api["DefinitionBody"]["info"]["title"]
    dev = template.build("dev")["Resources"][template.REST_API]["Properties"]
    assert dev["Name"] == "temporalist-dev"


# --- what a new function gets ---------------------------------------------------------------

def test_a_new_function_gets_logs_tracing_alarms_widgets_and_a_role_from_one_entry(monkeypatch):
    """Chalice's graph names the functions; only the permissions entry is per function."""
    app = template.chalice_app(STAGE)
    extra = template.Function("nightly_report", "NightlyReport", "temporalist-prod-nightly_report")
    monkeypatch.setattr(template, "chalice_app", lambda stage: template.ChaliceApp(
        **{**app.__dict__, "functions": app.functions + (extra,)}))
    monkeypatch.setitem(permissions.FUNCTIONS, "nightly_report", permissions.FunctionAccess(
        tables=(permissions.TableAccess("invoices", (permissions.GET,)),)))
    resources = template.build(STAGE)["Resources"]
    function = resources["NightlyReport"]["Properties"]
    assert function["LoggingConfig"]["LogFormat"] == "JSON" and function["Tracing"] == "Active"
    assert resources["NightlyReportLogs"]["Type"] == "AWS::Logs::LogGroup"
    assert {"NightlyReportErrorsAlarm", "NightlyReportThrottlesAlarm"} <= set(resources)
    assert "${NightlyReport}" in resources[template.DASHBOARD]["Properties"]["DashboardBody"][
        "Fn::Sub"]
    statements = resources["NightlyReportRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    assert [s["Sid"] for s in statements] == ["InvoicesTableItems", "Logs", "Tracing"]


@pytest.mark.parametrize("access, message", [
    (permissions.FunctionAccess(tables=(permissions.TableAccess("nope", (permissions.GET,)),)),
     "nope"),
    (permissions.FunctionAccess(tables=(permissions.TableAccess("invoices", (), ("by_x",)),)),
     "by_x"),
    (permissions.FunctionAccess(sends_to=("elsewhere",)), "elsewhere"),
])
def test_permissions_naming_what_the_stack_lacks_are_refused(monkeypatch, access, message):
    monkeypatch.setitem(permissions.FUNCTIONS, "api_key_authorizer", access)
    with pytest.raises(template.TemplateError, match=message):
        template.build(STAGE)
