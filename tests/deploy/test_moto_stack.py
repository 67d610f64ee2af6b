"""The offline-translated stack created in moto's CloudFormation, with the zips of the real build uploaded to moto S3.

moto gaps, stated rather than papered over: it cannot invoke Lambda here (that needs Docker), skips
AWS::ApiGatewayV2::* in CloudFormation (the API is created from the translated OpenAPI body with reimport_api
instead), has no CloudFormation AWS::Lambda::Alias, ignores a function's Layers, Architectures and SnapStart, and turns
`!Ref AWS::NoValue` into None. Its reimport_api also ignores the OpenAPI securitySchemes and each route's `security`
(routes come back without an authorizer) and get_authorizers is not implemented (moto 5.2.5), so the optional JWT
authorizer cannot be read back here. Those properties are asserted on the translation in test_translate.py.
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
KEYS = {"PredictFunction": "PredictFunction.zip", "ModelLayer": "ModelLayer.zip"}


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
    }


def for_moto(cfn: dict[str, Any], resolver: IntrinsicResolver) -> dict[str, Any]:
    """Work around moto's CloudFormation gaps without changing what gets created: pre-evaluate Fn::If (moto keeps
    AWS::NoValue as None) and point Refs at the unsupported alias to the function itself."""
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
        yield {"cfn": cfn, "resolver": resolver, "cloudformation": cloudformation}


def stack_resources(cloudformation: Any) -> dict[str, tuple[str, str]]:
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: (s["ResourceType"], s["ResourceStatus"]) for s in summaries if s["ResourceType"]}


def test_stack_creates_function_layer_role_log_group_and_permissions(deployed: dict[str, Any]) -> None:
    cloudformation = deployed["cloudformation"]

    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    types = [resource_type for resource_type, status in stack_resources(cloudformation).values()]
    assert types.count("AWS::Lambda::Function") == 1
    assert types.count("AWS::Lambda::LayerVersion") == 1
    assert types.count("AWS::Lambda::Version") == 1
    assert types.count("AWS::IAM::Role") == 1
    assert types.count("AWS::Logs::LogGroup") == 1
    # One per route: the five app routes, the $default catch-all and the OPTIONS /{proxy+} preflight route.
    assert types.count("AWS::Lambda::Permission") == 7


def test_function_is_configured_from_the_template_and_carries_the_built_zip(
    deployed: dict[str, Any], built_zips: dict[str, Path]
) -> None:
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    role = boto3.client("iam").list_roles()["Roles"][0]

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
    [role] = iam.list_roles()["Roles"]

    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == ["write-own-log-group"]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="write-own-log-group")["PolicyDocument"]
    # moto hands back the policy as Python-literal text where boto3 would decode AWS's answer into a dict.
    document = ast.literal_eval(document) if isinstance(document, str) else document
    [group] = logs.describe_log_groups()["logGroups"]
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
