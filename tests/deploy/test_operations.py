"""Production operations in template.yaml, on the offline translation (aws-sam-translator) and with checkov:
gradual deployments with the pre-traffic hook and alarm rollback, alarms, the dashboard, access logs and limits."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from predict_service.logs import configure_logging
from predict_service.telemetry import Telemetry

from deploy.translate import IntrinsicResolver, load_template, sam_to_cfn

from .conftest import REPO_ROOT, SamBuild

pytestmark = pytest.mark.deploy

TEMPLATE = REPO_ROOT / "template.yaml"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
BUCKET = "sklambda-artifacts"
ROLLBACK_ALARMS = ["NewVersionErrorsAlarm", "NewVersionLatencyAlarm", "InternalErrorsAlarm"]


def translated(**parameters: Any) -> tuple[dict[str, Any], IntrinsicResolver]:
    cfn = sam_to_cfn(TEMPLATE, BUCKET, parameters)
    return cfn, IntrinsicResolver(cfn, parameters)


def of_type(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in cfn["Resources"].items() if spec["Type"] == resource_type}


def one(cfn: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = of_type(cfn, resource_type)
    assert len(found) == 1, f"{resource_type}: {list(found)}"
    return next(iter(found.items()))


def statements(resolver: IntrinsicResolver, role: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    policies = resolver.resolve(role["Properties"]["Policies"])
    return {policy["PolicyName"]: policy["PolicyDocument"]["Statement"] for policy in policies}


@pytest.mark.parametrize("deployment_type", ["AllAtOnce", "Canary10Percent5Minutes", "Linear10PercentEvery1Minute"])
def test_codedeploy_shifts_the_live_alias_as_deployment_type_says_and_rolls_back_on_alarms(
    deployment_type: str,
) -> None:
    cfn, _ = translated(DeploymentType=deployment_type)
    application_id, _ = one(cfn, "AWS::CodeDeploy::Application")
    group_id, group = one(cfn, "AWS::CodeDeploy::DeploymentGroup")
    _, alias = one(cfn, "AWS::Lambda::Alias")
    properties = group["Properties"]

    assert properties["ApplicationName"] == {"Ref": application_id}
    assert properties["DeploymentConfigName"] == {
        "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": deployment_type}]
    }
    assert properties["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert properties["AutoRollbackConfiguration"]["Enabled"] is True
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(properties["AutoRollbackConfiguration"]["Events"])
    assert properties["AlarmConfiguration"] == {
        "Enabled": True,
        "Alarms": [{"Name": {"Ref": alarm}} for alarm in ROLLBACK_ALARMS],
    }
    # The alias moves only through CodeDeploy, and only after the hook has passed.
    assert alias["Properties"]["Name"] == "live"
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"] == {
        "ApplicationName": {"Ref": application_id},
        "DeploymentGroupName": {"Ref": group_id},
        "BeforeAllowTrafficHook": {"Ref": "PreTrafficHookFunction"},
    }


def test_deployment_type_parameter_offers_only_codedeploy_lambda_configurations() -> None:
    spec = load_template(TEMPLATE)["Parameters"]["DeploymentType"]

    assert spec["Default"] == "AllAtOnce"
    for value in spec["AllowedValues"]:
        assert re.fullmatch(
            r"AllAtOnce|Canary10Percent(5|10|15|30)Minutes|Linear10PercentEvery(1|2|3|10)Minutes?", value
        )


def test_rollback_alarms_watch_the_new_version_behind_live() -> None:
    cfn, _ = translated()
    version_id, _ = one(cfn, "AWS::Lambda::Version")
    new_version = {
        "FunctionName": {"Ref": "PredictFunction"},
        "Resource": {"Fn::Sub": "${PredictFunction}:live"},
        "ExecutedVersion": {"Fn::GetAtt": [version_id, "Version"]},
    }

    for alarm in ("NewVersionErrorsAlarm", "NewVersionLatencyAlarm"):
        properties = cfn["Resources"][alarm]["Properties"]
        assert {d["Name"]: d["Value"] for d in properties["Dimensions"]} == new_version, alarm
        assert properties["Namespace"] == "AWS/Lambda"
    assert cfn["Resources"]["NewVersionErrorsAlarm"]["Properties"]["MetricName"] == "Errors"
    latency = cfn["Resources"]["NewVersionLatencyAlarm"]["Properties"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("Duration", "p99")
    assert latency["Threshold"] == {"Ref": "LatencyAlarmP99Ms"}


def test_hook_function_checks_the_new_version_and_may_invoke_only_that_version() -> None:
    cfn, resolver = translated()
    version_id, _ = one(cfn, "AWS::Lambda::Version")
    group_id, _ = one(cfn, "AWS::CodeDeploy::DeploymentGroup")
    hook = cfn["Resources"]["PreTrafficHookFunction"]["Properties"]
    predict = cfn["Resources"]["PredictFunction"]["Properties"]
    parameters = load_template(TEMPLATE)["Parameters"]

    assert hook["Handler"] == "pretraffic.handler"
    assert hook["Code"] == {"S3Bucket": BUCKET, "S3Key": "PreTrafficHookFunction.zip"}
    assert (REPO_ROOT / "functions" / "pretraffic" / "pretraffic.py").is_file()
    assert hook["Runtime"] == predict["Runtime"]
    assert hook["Environment"]["Variables"] == {"TARGET_FUNCTION_VERSION_ARN": {"Ref": version_id}}
    # CodeDeploy's role (AWSCodeDeployRoleForLambda) may invoke only functions named CodeDeployHook_*.
    assert resolver.resolve(hook["FunctionName"]).startswith("CodeDeployHook_")
    codedeploy_role = cfn["Resources"]["CodeDeployServiceRole"]
    assert resolver.resolve(codedeploy_role["Properties"]["ManagedPolicyArns"]) == [
        "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"
    ]
    # Three invocations (the first a cold start) must fit, even at the function's longest allowed timeout.
    assert hook["Timeout"] >= 3 * parameters["Timeout"]["MaxValue"]

    role_id = hook["Role"]["Fn::GetAtt"][0]
    role = cfn["Resources"][role_id]
    assert "ManagedPolicyArns" not in role["Properties"]
    granted = statements(resolver, role)
    assert granted["invoke-new-version"] == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Ref": version_id}}
    ]
    [report] = granted["report-hook-status"]
    assert report["Action"] == "codedeploy:PutLifecycleEventHookExecutionStatus"
    assert report["Resource"] == (
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:${ServerlessDeploymentApplication}/${"
        + group_id
        + "}"
    )
    [logs] = granted["write-own-log-group"]
    assert logs["Resource"] == {"Fn::GetAtt": ["PreTrafficHookLogGroup", "Arn"]}
    # Nothing else in the hook's role may call Lambda.
    lambda_actions = [s for policy in granted.values() for s in policy if "lambda:" in json.dumps(s["Action"])]
    assert lambda_actions == granted["invoke-new-version"]


def test_every_alarm_notifies_the_topic_and_alarm_email_subscribes_to_it() -> None:
    cfn, resolver = translated()
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")

    assert {spec["Properties"]["MetricName"] for spec in alarms.values()} == {
        "Errors",
        "Throttles",
        "Duration",
        "5xx",
        "4xx",
        "InitFailures",
        "InternalErrors",
    }
    for name, spec in alarms.items():
        assert spec["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        # Named after the stack, so the AlarmsUrl output's search finds them all.
        assert spec["Properties"]["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
        assert spec["Properties"]["TreatMissingData"] == "notBreaching", name

    assert not resolver.condition("HasAlarmEmail")
    _, with_email = translated(AlarmEmail="ops@example.com")
    assert with_email.condition("HasAlarmEmail")
    subscription = cfn["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


@pytest.mark.parametrize(
    ("email", "accepted"),
    [("", True), ("ops@example.com", True), ("ops@example", False), ("a b@example.com", False), ("ops", False)],
)
def test_alarm_email_pattern(email: str, accepted: bool) -> None:
    pattern = load_template(TEMPLATE)["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, email)) is accepted


def test_api_error_rate_alarms_read_the_http_api_metrics() -> None:
    cfn, _ = translated()

    for alarm, threshold in (("Api5xxRateAlarm", 0.01), ("Api4xxRateAlarm", 0.1)):
        properties = cfn["Resources"][alarm]["Properties"]
        assert properties["Namespace"] == "AWS/ApiGateway"
        assert properties["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
        # 4xx and 5xx are 0 or 1 per request: their Average is the rate.
        assert (properties["Statistic"], properties["Threshold"]) == ("Average", threshold)


def filter_selector(pattern: str) -> tuple[str, str]:
    """(field, value) of a `{ $.field = "value" }` CloudWatch Logs JSON filter pattern."""
    match = re.fullmatch(r'\{ \$\.(\w+) = "([^"]*)" \}', pattern)
    assert match, f"not a single JSON equality filter: {pattern}"
    return match.group(1), match.group(2)


def matches(pattern: str, line: str) -> bool:
    field, value = filter_selector(pattern)
    document = json.loads(line)
    return isinstance(document, dict) and document.get(field) == value


def test_internal_errors_filter_matches_the_apps_internal_error_metric_line_only() -> None:
    cfn, resolver = translated(MetricsNamespace="sklambda-test")
    metric_filter = cfn["Resources"]["InternalErrorsMetricFilter"]["Properties"]
    telemetry = Telemetry("sklambda", "1.0.0")

    try:
        raise RuntimeError("unexpected")
    except RuntimeError:
        internal_error = service_lines(
            lambda: telemetry.error("InternalError", "unhandled error", logging.ERROR, exc_info=True, status=500)
        )[-1]
    rejection = service_lines(lambda: telemetry.error("InvalidInputError", status=422))[-1]

    assert metric_filter["LogGroupName"] == {"Ref": "PredictFunctionLogGroup"}
    assert matches(metric_filter["FilterPattern"], internal_error)
    assert not matches(metric_filter["FilterPattern"], rejection)
    [transformation] = resolver.resolve(metric_filter["MetricTransformations"])
    assert transformation == {
        "MetricNamespace": "sklambda-test",
        "MetricName": "InternalErrors",
        "MetricValue": "1",
        "Unit": "Count",
    }
    alarm = resolver.resolve(cfn["Resources"]["InternalErrorsAlarm"]["Properties"])
    assert (alarm["Namespace"], alarm["MetricName"]) == ("sklambda-test", "InternalErrors")


def service_formatter() -> logging.Formatter:
    configure_logging("INFO")
    [formatter] = [h.formatter for h in logging.getLogger("predict_service").handlers if getattr(h, "sklambda", False)]
    assert formatter is not None
    return formatter


def service_lines(write: Callable[[], object]) -> list[str]:
    """The lines `write` makes the service's loggers write, through the service's own JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(service_formatter())
    service_logger = logging.getLogger("predict_service")
    service_logger.addHandler(handler)
    try:
        write()
    finally:
        service_logger.removeHandler(handler)
    return stream.getvalue().strip().splitlines()


def service_log_line(level: int, message: str) -> str:
    """One line as the service's logger writes it (its own JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(service_formatter())
    handler.handle(logging.LogRecord("predict_service.loading", level, __file__, 1, message, None, None))
    return stream.getvalue().strip()


def test_init_failures_filter_matches_critical_service_lines_only() -> None:
    cfn, resolver = translated()
    metric_filter = cfn["Resources"]["InitFailuresMetricFilter"]["Properties"]

    critical = service_log_line(logging.CRITICAL, "The model layer has no Python stack: build it with make build")
    info = service_log_line(logging.INFO, "prediction")

    assert matches(metric_filter["FilterPattern"], critical)
    assert not matches(metric_filter["FilterPattern"], info)
    [transformation] = resolver.resolve(metric_filter["MetricTransformations"])
    assert (transformation["MetricNamespace"], transformation["MetricName"]) == ("sklambda", "InitFailures")


def dashboard(**parameters: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard body as CloudWatch receives it, resource references left as ${Name} placeholders."""
    cfn, resolver = translated(**parameters)
    body = resolver.resolve(cfn["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    assert isinstance(body, str), body
    document: dict[str, Any] = json.loads(body)
    return cfn, document


def test_dashboard_shows_function_api_app_and_drift_metrics_in_the_metrics_namespace() -> None:
    _, body = dashboard(MetricsNamespace="sklambda-test")
    metric_rows = [row for widget in body["widgets"] for row in widget["properties"].get("metrics", [])]
    plain = {(row[0], row[1]) for row in metric_rows if isinstance(row[0], str) and row[0] not in (".", "...")}
    expressions = [row[0]["expression"] for row in metric_rows if isinstance(row[0], dict)]
    text = json.dumps(body)

    assert {("AWS/Lambda", "Invocations"), ("AWS/Lambda", "Duration"), ("AWS/ApiGateway", "Count")} <= plain
    assert {("sklambda-test", "InitFailures"), ("sklambda-test", "InternalErrors")} <= plain
    assert '[".", "Throttles", ".", "."]' in text and '[".", "5xx", ".", "."]' in text
    for metric in ("LatencyMs", "Errors", "OutOfRangeValues", "UnknownCategories"):
        assert f'SEARCH(\'Namespace="sklambda-test" MetricName="{metric}"\'' in "\n".join(expressions), metric
    assert any("PredictedClass" in expression for expression in expressions)
    assert all(widget["properties"].get("region", "us-east-1") == "us-east-1" for widget in body["widgets"])


def test_dashboard_alarm_widget_lists_every_alarm() -> None:
    cfn, body = dashboard()
    [alarm_widget] = [widget for widget in body["widgets"] if widget["type"] == "alarm"]

    assert set(alarm_widget["properties"]["alarms"]) == {
        "${" + name + ".Arn}" for name in of_type(cfn, "AWS::CloudWatch::Alarm")
    }


def test_access_log_is_one_json_line_per_request_with_retention() -> None:
    cfn, resolver = translated(LogRetentionInDays="90")
    _, stage = one(cfn, "AWS::ApiGatewayV2::Stage")
    settings = stage["Properties"]["AccessLogSettings"]
    log_group = resolver.resolve(cfn["Resources"]["HttpApiAccessLogGroup"]["Properties"])

    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    assert "\n" not in settings["Format"]
    fields = json.loads(settings["Format"])
    assert {
        "requestId": "$context.requestId",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLatencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "sourceIp": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
    }.items() <= fields.items()
    assert log_group["RetentionInDays"] == "90"


@pytest.mark.parametrize(("reserved", "expected"), [("0", None), ("25", "25")])
def test_reserved_concurrency_zero_means_unreserved(reserved: str, expected: str | None) -> None:
    cfn, resolver = translated(ReservedConcurrency=reserved)
    function = resolver.resolve(cfn["Resources"]["PredictFunction"]["Properties"])

    assert function.get("ReservedConcurrentExecutions") == expected


def test_ephemeral_storage_sizes_tmp_where_s3_models_are_downloaded() -> None:
    cfn, resolver = translated(EphemeralStorageMB="4096", ModelS3Uri="s3://models-bucket/iris", ModelSha256="ab" * 32)
    function = resolver.resolve(cfn["Resources"]["PredictFunction"]["Properties"])
    _, default = translated()
    spec = load_template(TEMPLATE)["Parameters"]["EphemeralStorageMB"]

    assert function["EphemeralStorage"] == {"Size": "4096"}
    assert function["Environment"]["Variables"]["MODEL_CACHE_DIR"].startswith("/tmp/")
    assert (spec["MinValue"], spec["MaxValue"]) == (512, 10240)
    default_function = default.resolve(cfn["Resources"]["PredictFunction"]["Properties"])
    assert "MODEL_CACHE_DIR" not in default_function["Environment"]["Variables"]


def test_joblib_is_told_not_to_probe_for_multiprocessing() -> None:
    # joblib reads JOBLIB_MULTIPROCESSING at import; "0" skips the semaphore probe that warns on Lambda.
    cfn, resolver = translated()
    variables = resolver.resolve(cfn["Resources"]["PredictFunction"]["Properties"]["Environment"])["Variables"]
    command = "import warnings, joblib.parallel as p; print(p.mp is None)"
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-W", "error", "-c", command],
        env={"JOBLIB_MULTIPROCESSING": variables["JOBLIB_MULTIPROCESSING"]},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({"EnableSnapStart": "true"}, False),
        ({"EnableSnapStart": "true", "EphemeralStorageMB": "1024"}, True),
        ({"EnableSnapStart": "false", "EphemeralStorageMB": "10240"}, False),
    ],
)
def test_rules_refuse_snapstart_with_more_than_512_mb_of_ephemeral_storage(
    parameters: dict[str, str], refused: bool
) -> None:
    cfn, resolver = translated(**parameters)

    failures = resolver.failed_rules(cfn["Rules"])

    assert ("SnapStartNeedsDefaultEphemeralStorage" in failures) is refused
    if refused:
        [message] = failures["SnapStartNeedsDefaultEphemeralStorage"]
        assert message.startswith("EnableSnapStart=true needs EphemeralStorageMB=512")


def test_outputs_link_to_the_dashboard_alarms_topic_and_access_log() -> None:
    cfn, resolver = translated()
    outputs = {name: resolver.resolve(output["Value"]) for name, output in cfn["Outputs"].items()}

    assert outputs["DashboardUrl"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=${Dashboard}"
    )
    assert outputs["AlarmsUrl"].startswith(
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:"
    )
    assert outputs["AlarmTopicArn"] == {"Ref": "AlarmTopic"}
    assert outputs["AccessLogGroupName"] == {"Ref": "HttpApiAccessLogGroup"}


def run_checkov(directory: Path) -> dict[str, dict[str, Any]]:
    """checkov's JSON report per scanned file (offline: --skip-download)."""
    if not CHECKOV.is_file():
        pytest.fail("checkov missing: run `make checkov-install` (make test does it through TEST_PREREQS)")
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(directory), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-4000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    by_file: dict[str, dict[str, Any]] = {}
    for entry in reports:
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in entry["results"][kind]:
                by_file.setdefault(Path(check["file_path"]).name, {}).setdefault(kind, []).append(check)
    return by_file


def test_checkov_finds_nothing_but_the_skips_documented_in_the_template(tmp_path: Path) -> None:
    # The template as it is, and a copy without the access log and the concurrency setting: the copy's findings show
    # the scan really covers the two findings this template fixed.
    (tmp_path / "template.yaml").write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    text = TEMPLATE.read_text(encoding="utf-8")
    without = re.sub(r"\n      AccessLogSettings:\n(        .*\n|          .*\n)+", "\n", text)
    without = re.sub(r"\n      ReservedConcurrentExecutions: .*", "", without)
    assert without != text
    (tmp_path / "without-operations.yaml").write_text(without, encoding="utf-8")

    by_file = run_checkov(tmp_path)

    template = by_file["template.yaml"]
    assert template.get("failed_checks", []) == []
    for skipped in template["skipped_checks"]:
        assert len(skipped["check_result"]["suppress_comment"]) > 40, skipped["check_id"]
    passed = {(check["check_id"], check["resource"]) for check in template["passed_checks"]}
    assert ("CKV_AWS_95", "AWS::Serverless::HttpApi.HttpApi") in passed
    assert ("CKV_AWS_115", "AWS::Serverless::Function.PredictFunction") in passed
    failed_without = {
        (check["check_id"], check["resource"]) for check in by_file["without-operations.yaml"]["failed_checks"]
    }
    assert failed_without == {
        ("CKV_AWS_95", "AWS::Serverless::HttpApi.HttpApi"),
        ("CKV_AWS_115", "AWS::Serverless::Function.PredictFunction"),
    }


# Runs inside the built artifacts under the Lambda Python: the built hook (PreTrafficHookFunction) checks the built
# function (PredictFunction + ModelLayer) through a stand-in for the Lambda Invoke API that calls the function's
# handler in this process, as Lambda would run it, and a stand-in for CodeDeploy that records the report.
HOOK_DRIVER = """
import io, json, sys
import pretraffic

class Context:
    aws_request_id = "hook-integration"
    function_name = "sklambda-test-predict"
    function_version = "7"
    memory_limit_in_mb = 1024
    invoked_function_arn = sys.argv[1]
    log_group_name = "/aws/lambda/sklambda-test-predict"
    log_stream_name = "stream"
    identity = None
    client_context = None
    def get_remaining_time_in_millis(self):
        return 10000

class BuiltFunction:
    def __init__(self):
        self.routes = []
    def invoke(self, FunctionName, InvocationType, Payload):
        event = json.loads(Payload)
        self.routes.append([FunctionName, event["routeKey"]])
        version = FunctionName.rsplit(":", 1)[-1]
        try:
            import handler
            answer = handler.handler(event, Context())
        except BaseException as error:
            # What Lambda answers when the init or the handler raises.
            body = {"errorType": type(error).__name__, "errorMessage": str(error)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": version,
                    "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "ExecutedVersion": version, "Payload": io.BytesIO(json.dumps(answer).encode())}

class CodeDeploy:
    def __init__(self):
        self.reports = []
    def put_lifecycle_event_hook_execution_status(self, **report):
        self.reports.append(report)
        return {"lifecycleEventHookExecutionId": report["lifecycleEventHookExecutionId"]}

function, codedeploy = BuiltFunction(), CodeDeploy()
event = {"DeploymentId": "d-INTEGRATION", "LifecycleEventExecutionId": "execution-1"}
outcome = pretraffic.run_hook(event, function, codedeploy, sys.argv[1])
print(json.dumps({"outcome": outcome.as_log(), "reports": codedeploy.reports, "routes": function.routes}))
"""
HOOK_TARGET = "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict:7"


def run_built_hook(build: SamBuild, python: Path, model_dir: Path) -> dict[str, Any]:
    layer = build.layer_dir
    environment = {
        "PATH": "/usr/bin:/bin",
        "MODEL_DIR": str(model_dir),
        "PYTHONPATH": f"{build.function_dir}:{layer / 'python'}:{build.build_dir / 'PreTrafficHookFunction'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "sklambda-test-predict",
        "AWS_DEFAULT_REGION": "us-east-1",
        "JOBLIB_MULTIPROCESSING": "0",
    }
    result = subprocess.run(
        [str(python), "-c", HOOK_DRIVER, HOOK_TARGET],
        env=environment,
        cwd=build.build_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def test_built_hook_passes_the_built_function_with_its_model(x86_build: SamBuild, target_python: Path) -> None:
    assert sorted(path.name for path in (x86_build.build_dir / "PreTrafficHookFunction").iterdir()) == ["pretraffic.py"]

    output = run_built_hook(x86_build, target_python, x86_build.layer_dir / "model")

    assert output["outcome"]["status"] == "Succeeded", output["outcome"]["reason"]
    assert output["routes"] == [
        [HOOK_TARGET, "GET /model"],
        [HOOK_TARGET, "GET /health"],
        [HOOK_TARGET, "POST /predict"],
    ]
    assert output["reports"] == [
        {"deploymentId": "d-INTEGRATION", "lifecycleEventHookExecutionId": "execution-1", "status": "Succeeded"}
    ]


def test_built_hook_fails_the_deployment_of_a_function_without_its_model(
    x86_build: SamBuild, target_python: Path, tmp_path: Path
) -> None:
    output = run_built_hook(x86_build, target_python, tmp_path / "no-model")

    assert output["outcome"]["status"] == "Failed"
    assert output["outcome"]["reason"].startswith("GET /model:")
    assert output["reports"] == [
        {"deploymentId": "d-INTEGRATION", "lifecycleEventHookExecutionId": "execution-1", "status": "Failed"}
    ]
