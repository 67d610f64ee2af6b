"""The offline-translated stack created in moto's CloudFormation, with the zips of the real build uploaded to moto S3.

moto gaps, stated rather than papered over: it cannot invoke Lambda here (that needs Docker), skips
AWS::ApiGatewayV2::* in CloudFormation (the API is created from the translated OpenAPI body with reimport_api
instead), has no CloudFormation AWS::Lambda::Alias, ignores a function's Layers, Architectures and SnapStart, and turns
`!Ref AWS::NoValue` into None. Its reimport_api also ignores the OpenAPI securitySchemes and each route's `security`
(routes come back without an authorizer) and get_authorizers is not implemented (moto 5.2.5), so the optional JWT
authorizer cannot be read back here. Those properties are asserted on the translation in test_translate.py.
moto's CloudFormation has no AWS::CodeDeploy::*, AWS::CloudWatch::Alarm, AWS::CloudWatch::Dashboard or
AWS::Logs::MetricFilter either: they are left out of the stack and created through the CloudWatch and CloudWatch
Logs APIs from their translated properties instead (test_operations.py asserts the deployment preference itself).
"""

from __future__ import annotations

import ast
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deploy.translate import IntrinsicResolver, sam_to_cfn

from .conftest import REPO_ROOT, SamBuild

pytestmark = [
    pytest.mark.deploy,
    # The documented gap above, and only that one: moto warns that it skips the API Gateway v2 resources.
    pytest.mark.filterwarnings(r"ignore:Tried to parse AWS.{2}ApiGatewayV2.{2}\w+ but it's not supported:UserWarning"),
]

BUCKET = "sklambda-artifacts-test"
STACK = "sklambda-test"
ORIGINS = "https://app.example.com,http://localhost:5173"
KEYS = {
    "PredictFunction": "PredictFunction.zip",
    "ModelLayer": "ModelLayer.zip",
    "PreTrafficHookFunction": "PreTrafficHookFunction.zip",
}
NOT_IN_MOTO_CLOUDFORMATION = {
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::Logs::MetricFilter",
}


def zip_dir(source: Path, target: Path) -> Path:
    # Level 1: the content is what matters to moto, and the layer is ~150 MB.
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(source))
    return target


@pytest.fixture(scope="module")
def built_zips(x86_build: SamBuild, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("zips")
    return {
        "PredictFunction": zip_dir(x86_build.function_dir, out / KEYS["PredictFunction"]),
        "ModelLayer": zip_dir(x86_build.layer_dir, out / KEYS["ModelLayer"]),
        "PreTrafficHookFunction": zip_dir(
            x86_build.build_dir / "PreTrafficHookFunction", out / KEYS["PreTrafficHookFunction"]
        ),
    }


def for_moto(cfn: dict[str, Any], resolver: IntrinsicResolver) -> dict[str, Any]:
    """Work around moto's CloudFormation gaps: pre-evaluate Fn::If (moto keeps AWS::NoValue as None), point Refs at
    the unsupported alias to the function itself, and leave out the resource types moto cannot create (their names
    in Fn::Sub texts become plain text)."""
    adapted: dict[str, Any] = dict(cfn, Resources=resolver.resolve_conditionals(cfn["Resources"]))
    aliases = [name for name, spec in adapted["Resources"].items() if spec["Type"] == "AWS::Lambda::Alias"]
    text = json.dumps(adapted)
    for alias in aliases:
        text = text.replace(json.dumps({"Ref": alias}), json.dumps({"Ref": "PredictFunction"}))
        text = text.replace("${" + alias + "}", "${PredictFunction}")
    adapted = json.loads(text)
    for alias in aliases:
        del adapted["Resources"][alias]
    adapted["Outputs"] = {name: out for name, out in adapted["Outputs"].items() if "Alias" not in name}
    left_out = [name for name, spec in adapted["Resources"].items() if spec["Type"] in NOT_IN_MOTO_CLOUDFORMATION]
    for name in left_out:
        del adapted["Resources"][name]
    adapted["Outputs"] = {
        name: out for name, out in adapted["Outputs"].items() if not any(gone in json.dumps(out) for gone in left_out)
    }
    text = json.dumps(adapted)
    for name in left_out:
        text = text.replace("${" + name + "}", name)
    # moto's Ref to an AWS::Lambda::Version yields its internal object instead of the version ARN (and it has no
    # Fn::GetAtt on versions): write the ARN CloudFormation gives the stack's first version.
    for name, spec in adapted["Resources"].items():
        if spec["Type"] == "AWS::Lambda::Version":
            first_version_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{STACK}-predict:1"
            text = text.replace(json.dumps({"Ref": name}), json.dumps(first_version_arn))
    adapted = json.loads(text)
    return adapted


@pytest.fixture
def deployed(fake_aws: None, built_zips: dict[str, Path]) -> Iterator[dict[str, Any]]:
    parameters = {"AllowedOrigins": ORIGINS, "MemorySize": "1536", "Timeout": "20", "LogRetentionInDays": "30"}
    cfn = sam_to_cfn(REPO_ROOT / "template.yaml", BUCKET, parameters, keys=KEYS)
    resolver = IntrinsicResolver(cfn, parameters)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for logical_id, path in built_zips.items():
            s3.upload_file(str(path), BUCKET, KEYS[logical_id])
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(for_moto(cfn, resolver)),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        yield {"cfn": cfn, "resolver": resolver, "cloudformation": cloudformation, "parameters": parameters}


def stack_resources(cloudformation: Any) -> dict[str, tuple[str, str]]:
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: (s["ResourceType"], s["ResourceStatus"]) for s in summaries if s["ResourceType"]}


def test_stack_creates_function_layer_role_log_group_and_permissions(deployed: dict[str, Any]) -> None:
    cloudformation = deployed["cloudformation"]

    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    types = [resource_type for resource_type, status in stack_resources(cloudformation).values()]
    # The prediction function and the pre-traffic hook; their roles and CodeDeploy's; their logs and the access log.
    assert types.count("AWS::Lambda::Function") == 2
    assert types.count("AWS::Lambda::LayerVersion") == 1
    assert types.count("AWS::Lambda::Version") == 1
    assert types.count("AWS::IAM::Role") == 3
    assert types.count("AWS::Logs::LogGroup") == 3
    assert types.count("AWS::SNS::Topic") == 1
    # One per route: the five app routes, the $default catch-all and the OPTIONS /{proxy+} preflight route.
    assert types.count("AWS::Lambda::Permission") == 7


def test_function_is_configured_from_the_template_and_carries_the_built_zip(
    deployed: dict[str, Any], built_zips: dict[str, Path]
) -> None:
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    [role] = [role for role in boto3.client("iam").list_roles()["Roles"] if "PredictFunctionRole" in role["RoleName"]]

    function = lambda_client.get_function(FunctionName=f"{STACK}-predict")["Configuration"]

    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "handler.handler"
    assert function["MemorySize"] == 1536 and function["Timeout"] == 20
    assert function["Role"] == role["Arn"]
    assert function["CodeSize"] == built_zips["PredictFunction"].stat().st_size
    variables = function["Environment"]["Variables"]
    assert variables["MODEL_DIR"] == "/opt/model"
    assert variables["CORS_ALLOW_ORIGINS"] == ORIGINS
    assert "MODEL_S3_URI" not in variables and "MODEL_SHA256" not in variables


def test_layer_version_holds_the_built_layer_for_the_lambda_runtime(
    deployed: dict[str, Any], built_zips: dict[str, Path]
) -> None:
    lambda_client = boto3.client("lambda", region_name="us-east-1")

    [layer] = lambda_client.list_layers()["Layers"]
    version = lambda_client.get_layer_version(LayerName=layer["LayerName"], VersionNumber=1)

    assert layer["LayerName"].startswith(f"{STACK}-")
    assert version["CompatibleRuntimes"] == ["python3.13"]
    assert version["Content"]["CodeSize"] == built_zips["ModelLayer"].stat().st_size


def test_role_can_only_write_its_own_log_group(deployed: dict[str, Any]) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    logs = boto3.client("logs", region_name="us-east-1")
    [role] = [role for role in iam.list_roles()["Roles"] if "PredictFunctionRole" in role["RoleName"]]

    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == ["write-own-log-group"]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="write-own-log-group")["PolicyDocument"]
    # moto hands back the policy as Python-literal text where boto3 would decode AWS's answer into a dict.
    document = ast.literal_eval(document) if isinstance(document, str) else document
    [group] = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/" + STACK)["logGroups"]
    assert group["logGroupName"] == f"/aws/lambda/{STACK}-predict"
    assert group["retentionInDays"] == 30
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    # CloudFormation's LogGroup Arn ends in ":*" (covering its streams); moto's does not.
    assert statement["Resource"].removesuffix(":*") == group["logGroupArn"]


def test_api_gateway_may_invoke_the_function_for_each_route(deployed: dict[str, Any]) -> None:
    lambda_client = boto3.client("lambda", region_name="us-east-1")

    policy = json.loads(lambda_client.get_policy(FunctionName=f"{STACK}-predict")["Policy"])

    statements = policy["Statement"]
    assert {s["Principal"]["Service"] for s in statements} == {"apigateway.amazonaws.com"}
    assert {s["Action"] for s in statements} == {"lambda:InvokeFunction"}
    source_routes = {s["Condition"]["ArnLike"]["AWS:SourceArn"].split("/", 2)[2] for s in statements}
    assert source_routes == {
        "*",
        "POST/predict",
        "GET/model",
        "GET/health",
        "GET/docs",
        "GET/openapi.json",
        "OPTIONS/*",
    }


def test_http_api_from_the_translated_body_has_the_cors_and_routes(deployed: dict[str, Any]) -> None:
    # moto's CloudFormation skips AWS::ApiGatewayV2::Api, so the API is built from the translated OpenAPI body,
    # with the intrinsics CloudFormation would resolve at deploy time evaluated first.
    apigateway = boto3.client("apigatewayv2", region_name="us-east-1")
    assert apigateway.get_apis()["Items"] == []
    body = deployed["resolver"].resolve(deployed["cfn"]["Resources"]["HttpApi"]["Properties"]["Body"])
    function_arn = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName=f"{STACK}-predict")
    alias_arn = function_arn["Configuration"]["FunctionArn"] + ":live"
    body_text = json.dumps(body).replace("${PredictFunctionAliaslive}", alias_arn)

    api_id = apigateway.create_api(Name=STACK, ProtocolType="HTTP")["ApiId"]
    apigateway.reimport_api(ApiId=api_id, Body=body_text)

    api = apigateway.get_api(ApiId=api_id)
    assert api["CorsConfiguration"] == {
        "AllowOrigins": ORIGINS.split(","),
        "AllowMethods": ["GET", "POST", "OPTIONS"],
        "AllowHeaders": ["content-type", "authorization"],
        "ExposeHeaders": ["x-request-id"],
        "MaxAge": 600,
    }
    routes = {route["RouteKey"] for route in apigateway.get_routes(ApiId=api_id)["Items"]}
    # moto names the catch-all after its OpenAPI key ("X-AMAZON-APIGATEWAY-ANY-METHOD $default"); AWS calls it $default.
    assert {route for route in routes if not route.endswith("$default")} == {
        "POST /predict",
        "GET /model",
        "GET /health",
        "GET /docs",
        "GET /openapi.json",
        "OPTIONS /{proxy+}",
    }
    assert len([route for route in routes if route.endswith("$default")]) == 1
    integrations = apigateway.get_integrations(ApiId=api_id)["Items"]
    assert {(i["IntegrationType"].upper(), i["PayloadFormatVersion"]) for i in integrations} == {("AWS_PROXY", "2.0")}
    assert {i["IntegrationUri"].split("/functions/")[1].split("/")[0] for i in integrations} == {alias_arn}


def test_pretraffic_hook_function_and_its_role_may_invoke_only_the_published_version(deployed: dict[str, Any]) -> None:
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")

    hook = lambda_client.get_function(FunctionName=f"CodeDeployHook_{STACK}-pretraffic")["Configuration"]
    [version] = [
        v
        for v in lambda_client.list_versions_by_function(FunctionName=f"{STACK}-predict")["Versions"]
        if v["Version"] != "$LATEST"
    ]
    [role] = [role for role in iam.list_roles()["Roles"] if "PreTrafficHookRole" in role["RoleName"]]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="invoke-new-version")["PolicyDocument"]
    document = ast.literal_eval(document) if isinstance(document, str) else document

    assert hook["Handler"] == "pretraffic.handler"
    assert hook["Role"] == role["Arn"]
    assert hook["Environment"]["Variables"] == {"TARGET_FUNCTION_VERSION_ARN": version["FunctionArn"]}
    assert document["Statement"] == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": version["FunctionArn"]}
    ]


def test_alarms_metric_filters_and_dashboard_are_accepted_by_the_cloudwatch_apis(deployed: dict[str, Any]) -> None:
    # Not created by moto's CloudFormation: created from their translated properties through the APIs, whose request
    # shapes botocore validates, with CloudFormation's references filled in from the created stack.
    cfn = deployed["cfn"]
    sns = boto3.client("sns", region_name="us-east-1")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    logs = boto3.client("logs", region_name="us-east-1")
    [topic] = sns.list_topics()["Topics"]
    alarms = {name: spec for name, spec in cfn["Resources"].items() if spec["Type"] == "AWS::CloudWatch::Alarm"}
    references = {
        "AWS::StackName": STACK,
        "PredictFunction": f"{STACK}-predict",
        "PredictFunctionLogGroup": f"/aws/lambda/{STACK}-predict",
        "AlarmTopic": topic["TopicArn"],
        "HttpApi": "a1b2c3d4e5",
        **{f"{name}.Arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" for name in alarms},
    }
    resolver = IntrinsicResolver(cfn, {**deployed["parameters"], **references})
    version_id = next(name for name, spec in cfn["Resources"].items() if spec["Type"] == "AWS::Lambda::Version")
    text = json.dumps(cfn["Resources"]).replace(json.dumps({"Fn::GetAtt": [version_id, "Version"]}), '"1"')
    resources = resolver.resolve(json.loads(text))

    for name in alarms:
        cloudwatch.put_metric_alarm(**resources[name]["Properties"])
    for name, spec in resources.items():
        if spec["Type"] == "AWS::Logs::MetricFilter":
            properties = spec["Properties"]
            logs.put_metric_filter(
                logGroupName=properties["LogGroupName"],
                filterName=name,
                filterPattern=properties["FilterPattern"],
                metricTransformations=[
                    {key[0].lower() + key[1:]: value for key, value in transformation.items()}
                    for transformation in properties["MetricTransformations"]
                ],
            )
    dashboard = resources["Dashboard"]["Properties"]
    cloudwatch.put_dashboard(DashboardName=dashboard["DashboardName"], DashboardBody=dashboard["DashboardBody"])

    created = {alarm["AlarmName"]: alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert len(created) == len(alarms)
    assert all(alarm["AlarmActions"] == [topic["TopicArn"]] for alarm in created.values())
    new_version_errors = created[f"{STACK}-new-version-errors"]
    assert {d["Name"]: d["Value"] for d in new_version_errors["Dimensions"]} == {
        "FunctionName": f"{STACK}-predict",
        "Resource": f"{STACK}-predict:live",
        "ExecutedVersion": "1",
    }
    filters = logs.describe_metric_filters(logGroupName=f"/aws/lambda/{STACK}-predict")["metricFilters"]
    assert {f["metricTransformations"][0]["metricName"] for f in filters} == {"InitFailures", "InternalErrors"}
    body = json.loads(cloudwatch.get_dashboard(DashboardName=STACK)["DashboardBody"])
    [alarm_widget] = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == len(alarms)
