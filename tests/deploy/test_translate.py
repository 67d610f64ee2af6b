"""template.yaml translated to plain CloudFormation offline (aws-sam-translator), as `sam package` + the
AWS::Serverless transform would produce it; CloudFormation's own deploy-time intrinsics are then evaluated."""

from __future__ import annotations

from typing import Any

import pytest
from predict_service.manifest import MANIFEST_FILENAME
from predict_service.runtimes import MODEL_FILES

from deploy.translate import IntrinsicResolver, load_template, sam_to_cfn, translate, with_s3_code_uris

from .conftest import REPO_ROOT

pytestmark = pytest.mark.deploy

TEMPLATE = REPO_ROOT / "template.yaml"
BUCKET = "sklambda-artifacts"
ROUTES = {
    ("/predict", "post"),
    ("/model", "get"),
    ("/health", "get"),
    ("/docs", "get"),
    ("/openapi.json", "get"),
    ("/{proxy+}", "options"),
}
ANY = "x-amazon-apigateway-any-method"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
AUDIENCE = "1example23456789abcdefghij,2example23456789abcdefghij"
# With the JWT authorizer on: what needs a token, and what stays public (health checks, the API description, CORS
# preflights).
PROTECTED = {("/predict", "post"), ("/model", "get"), ("$default", ANY)}
PUBLIC = {("/health", "get"), ("/docs", "get"), ("/openapi.json", "get"), ("/{proxy+}", "options")}


def translated(**parameters: Any) -> tuple[dict[str, Any], IntrinsicResolver]:
    cfn = sam_to_cfn(TEMPLATE, BUCKET, parameters)
    return cfn, IntrinsicResolver(cfn, parameters)


def resources_of_type(cfn: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {name: spec for name, spec in cfn["Resources"].items() if spec["Type"] == resource_type}


def only(cfn: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(cfn, resource_type)
    assert len(found) == 1, f"{resource_type}: {list(found)}"
    name, spec = next(iter(found.items()))
    return name, spec["Properties"]


def properties(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The Properties of one resource named in template.yaml (the stack has more than one function, role, log group)."""
    found: dict[str, Any] = cfn["Resources"][logical_id]["Properties"]
    return found


def api_body(**parameters: Any) -> dict[str, Any]:
    """The HTTP API's OpenAPI body as CloudFormation would create it for these parameters."""
    cfn, resolver = translated(**parameters)
    _, api = only(cfn, "AWS::ApiGatewayV2::Api")
    body: dict[str, Any] = resolver.resolve(api["Body"])
    return body


def operations(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): op for path, item in body["paths"].items() for method, op in item.items()}


def test_translation_yields_plain_cloudformation_with_s3_code() -> None:
    cfn, _ = translated()

    assert "Transform" not in cfn
    assert not [spec["Type"] for spec in cfn["Resources"].values() if spec["Type"].startswith("AWS::Serverless::")]
    function = properties(cfn, "PredictFunction")
    _, layer = only(cfn, "AWS::Lambda::LayerVersion")
    assert function["Code"] == {"S3Bucket": BUCKET, "S3Key": "PredictFunction.zip"}
    assert layer["Content"] == {"S3Bucket": BUCKET, "S3Key": "ModelLayer.zip"}


def test_http_api_has_the_app_routes_a_catch_all_and_no_stage_prefix() -> None:
    cfn, resolver = translated()
    _, api = only(cfn, "AWS::ApiGatewayV2::Api")
    _, stage = only(cfn, "AWS::ApiGatewayV2::Stage")
    body = resolver.resolve(api["Body"])

    routes = {(path, method) for path, item in body["paths"].items() for method in item if path != "$default"}
    assert routes == ROUTES
    assert body["paths"]["$default"][ANY]["isDefaultRoute"] is True
    integrations = [op["x-amazon-apigateway-integration"] for item in body["paths"].values() for op in item.values()]
    assert {(i["type"], i["payloadFormatVersion"]) for i in integrations} == {("aws_proxy", "2.0")}
    # API Gateway invokes the `live` alias, so SnapStart and new model versions take effect.
    assert all(
        i["uri"].endswith(":lambda:path/2015-03-31/functions/${PredictFunctionAliaslive}/invocations")
        for i in integrations
    )
    assert stage["StageName"] == "$default"
    assert resolver.resolve(stage["DefaultRouteSettings"]) == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}


@pytest.mark.parametrize(
    "origins",
    ["http://localhost:5173,http://127.0.0.1:5173", "https://app.example.com", "https://a.example,https://b.example"],
)
def test_cors_configuration_equals_allowed_origins(origins: str) -> None:
    cfn, resolver = translated(AllowedOrigins=origins)
    _, api = only(cfn, "AWS::ApiGatewayV2::Api")
    function = properties(cfn, "PredictFunction")

    assert resolver.resolve(api["Body"])["x-amazon-apigateway-cors"] == {
        "allowOrigins": origins.split(","),
        "allowMethods": ["GET", "POST", "OPTIONS"],
        "allowHeaders": ["content-type", "authorization"],
        # API Gateway drops the app's own CORS headers, so without this the JS client could not read x-request-id.
        "exposeHeaders": ["x-request-id"],
        "maxAge": 600,
    }
    # The app's CORS middleware gets the same list (it answers when running under `sklambda serve`).
    assert resolver.resolve(function["Environment"])["Variables"]["CORS_ALLOW_ORIGINS"] == origins


def test_cors_defaults_to_the_local_dev_origins_without_wildcard() -> None:
    cfn, resolver = translated()
    _, api = only(cfn, "AWS::ApiGatewayV2::Api")

    cors = resolver.resolve(api["Body"])["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == ["http://localhost:5173", "http://127.0.0.1:5173"]


def test_empty_allowed_origins_turns_cors_off() -> None:
    cfn, resolver = translated(AllowedOrigins="")
    _, api = only(cfn, "AWS::ApiGatewayV2::Api")
    function = properties(cfn, "PredictFunction")

    # An empty configuration (what SAM CLI's reader can evaluate, unlike AWS::NoValue): no origin, method or header
    # is allowed, and the app gets no origins either.
    assert resolver.resolve(api["Body"])["x-amazon-apigateway-cors"] == {}
    assert resolver.resolve(function["Environment"])["Variables"]["CORS_ALLOW_ORIGINS"] == ""


def test_function_runtime_handler_layer_and_environment() -> None:
    cfn, resolver = translated(MemorySize="2048", Timeout="20", MaxBatchRows="50", LogLevel="DEBUG")
    layer_id, _ = only(cfn, "AWS::Lambda::LayerVersion")
    function = properties(cfn, "PredictFunction")
    resolved = resolver.resolve(function)

    assert resolved["Runtime"] == "python3.13"
    assert resolved["Handler"] == "handler.handler"
    assert function["Layers"] == [{"Ref": layer_id}]
    assert resolved["MemorySize"] == "2048" and resolved["Timeout"] == "20"
    assert resolved["Architectures"] == ["x86_64"]
    assert resolved["Environment"]["Variables"] == {
        "MODEL_DIR": "/opt/model",
        "CORS_ALLOW_ORIGINS": "http://localhost:5173,http://127.0.0.1:5173",
        "MAX_BATCH_ROWS": "50",
        "LOG_LEVEL": "DEBUG",
        "POWERTOOLS_SERVICE_NAME": "sklambda",
        "METRICS_NAMESPACE": "sklambda",
        "JOBLIB_MULTIPROCESSING": "0",
    }
    assert resolved["SnapStart"] == {"ApplyOn": "None"}


def test_arm64_parameter_sets_function_and_layer_architecture() -> None:
    cfn, resolver = translated(Architecture="arm64")
    function = properties(cfn, "PredictFunction")
    _, layer = only(cfn, "AWS::Lambda::LayerVersion")

    assert resolver.resolve(function["Architectures"]) == ["arm64"]
    assert resolver.resolve(layer["CompatibleArchitectures"]) == ["arm64"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]


def test_snapstart_applies_to_published_versions_behind_the_live_alias_when_enabled() -> None:
    cfn, resolver = translated(EnableSnapStart="true")
    function = properties(cfn, "PredictFunction")
    version_id, _ = only(cfn, "AWS::Lambda::Version")
    _, alias = only(cfn, "AWS::Lambda::Alias")

    assert resolver.resolve(function["SnapStart"]) == {"ApplyOn": "PublishedVersions"}
    assert alias["Name"] == "live"
    assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_a_new_model_layer_publishes_a_new_function_version() -> None:
    # Same function code, different layer zip (a retrained model): the `live` alias must move to a new version.
    template = load_template(TEMPLATE)
    before = translate(with_s3_code_uris(template, BUCKET, {"ModelLayer": "layer-model-v1.zip"}))
    after = translate(with_s3_code_uris(template, BUCKET, {"ModelLayer": "layer-model-v2.zip"}))

    assert only(before, "AWS::Lambda::Version")[0] != only(after, "AWS::Lambda::Version")[0]
    assert only(before, "AWS::Lambda::LayerVersion")[0] != only(after, "AWS::Lambda::LayerVersion")[0]


def test_role_is_least_privilege() -> None:
    cfn, resolver = translated()
    role = properties(cfn, "PredictFunctionRole")
    resolved = resolver.resolve(role)

    assert "ManagedPolicyArns" not in resolved
    assert resolved["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    [policy] = resolved["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": ["PredictFunctionLogGroup", "Arn"]},
        }
    ]


@pytest.mark.parametrize(
    ("uri", "folder"),
    [("s3://models-bucket/iris/v2", "models-bucket/iris/v2"), ("s3://models-bucket", "models-bucket")],
)
def test_model_from_s3_adds_only_read_access_to_the_model_directory_objects(uri: str, folder: str) -> None:
    sha256 = "ab" * 32
    cfn, resolver = translated(ModelS3Uri=uri, ModelSha256=sha256)
    role = properties(cfn, "PredictFunctionRole")
    function = properties(cfn, "PredictFunction")

    policies = {policy["PolicyName"]: policy for policy in resolver.resolve(role["Policies"])}
    # model.json and each model file a manifest can name, one by one: no wildcard, nothing else under the prefix.
    assert policies["read-model-from-s3"]["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                f"arn:aws:s3:::{folder}/model.json",
                f"arn:aws:s3:::{folder}/model.joblib",
                f"arn:aws:s3:::{folder}/model.skops",
                f"arn:aws:s3:::{folder}/model.onnx",
            ],
        }
    ]
    variables = resolver.resolve(function["Environment"])["Variables"]
    assert variables["MODEL_S3_URI"] == uri
    assert variables["MODEL_SHA256"] == sha256


def test_model_from_s3_policy_covers_every_file_the_function_may_download() -> None:
    # Tied to the code, so a model format added to the S3 source without its object in the policy fails here.
    cfn, resolver = translated(ModelS3Uri="s3://models-bucket/iris", ModelSha256="ab" * 32)
    role = properties(cfn, "PredictFunctionRole")
    policies = {policy["PolicyName"]: policy for policy in resolver.resolve(role["Policies"])}
    [statement] = policies["read-model-from-s3"]["PolicyDocument"]["Statement"]

    granted = {arn.removeprefix("arn:aws:s3:::models-bucket/iris/") for arn in statement["Resource"]}
    assert granted == {MANIFEST_FILENAME, *MODEL_FILES}


def test_log_group_has_retention_and_matches_the_function_name() -> None:
    cfn, resolver = translated(LogRetentionInDays="30")
    log_group = properties(cfn, "PredictFunctionLogGroup")
    function = properties(cfn, "PredictFunction")

    resolved = resolver.resolve(log_group)
    assert resolved["RetentionInDays"] == "30"
    assert resolved["LogGroupName"] == "/aws/lambda/" + resolver.resolve(function["FunctionName"])


def test_outputs_give_api_url_function_and_layer_arns() -> None:
    cfn, resolver = translated()
    layer_id, _ = only(cfn, "AWS::Lambda::LayerVersion")
    outputs = cfn["Outputs"]

    assert resolver.resolve(outputs["ApiUrl"]["Value"]) == "https://${HttpApi}.execute-api.us-east-1.amazonaws.com"
    assert outputs["PredictFunctionArn"]["Value"] == {"Fn::GetAtt": ["PredictFunction", "Arn"]}
    assert outputs["ModelLayerArn"]["Value"] == {"Ref": layer_id}


@pytest.mark.parametrize(("enabled", "mode"), [("true", "Active"), ("false", "PassThrough")])
def test_xray_tracing_parameter_sets_mode_and_only_then_grants_xray_writes(enabled: str, mode: str) -> None:
    cfn, resolver = translated(EnableTracing=enabled)
    function = properties(cfn, "PredictFunction")
    assert resolver.resolve(function["TracingConfig"]) == {"Mode": mode}
    role = properties(cfn, "PredictFunctionRole")
    policies = {policy["PolicyName"]: policy for policy in resolver.resolve(role["Policies"])}
    assert ("write-xray-traces" in policies) == (enabled == "true")
    if enabled == "true":
        [statement] = policies["write-xray-traces"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def test_default_parameters_put_no_authorizer_on_any_route() -> None:
    body = api_body()

    assert "components" not in body
    assert {key: op["security"] for key, op in operations(body).items() if "security" in op} == {}


@pytest.mark.parametrize("origins", ["http://localhost:5173", ""])
def test_jwt_parameters_protect_predict_model_and_the_catch_all_only(origins: str) -> None:
    body = api_body(JwtIssuer=ISSUER, JwtAudience=AUDIENCE, AllowedOrigins=origins)

    assert body["components"]["securitySchemes"] == {
        "JwtAuthorizer": {
            "type": "oauth2",
            "x-amazon-apigateway-authorizer": {
                "type": "jwt",
                "identitySource": "$request.header.Authorization",
                "jwtConfiguration": {"issuer": ISSUER, "audience": AUDIENCE.split(",")},
            },
        }
    }
    ops = operations(body)
    assert set(ops) == PROTECTED | PUBLIC
    assert {key: ops[key].get("security") for key in PROTECTED} == dict.fromkeys(PROTECTED, [{"JwtAuthorizer": []}])
    assert {key: ops[key].get("security") for key in PUBLIC} == dict.fromkeys(PUBLIC)


def test_preflights_reach_an_unprotected_route_that_outranks_the_protected_catch_all() -> None:
    # $default matches OPTIONS too; API Gateway answers a preflight itself only when no route matches. The
    # OPTIONS /{proxy+} route is more specific than $default, so a browser's token-less preflight for /predict or
    # /model never meets the authorizer.
    body = api_body(JwtIssuer=ISSUER, JwtAudience=AUDIENCE)
    preflight = body["paths"]["/{proxy+}"]["options"]

    assert "security" not in preflight
    assert preflight["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert "authorization" in body["x-amazon-apigateway-cors"]["allowHeaders"]
    assert "allowCredentials" not in body["x-amazon-apigateway-cors"]


@pytest.mark.parametrize(
    ("parameters", "failed"),
    [
        ({}, {}),
        ({"JwtIssuer": ISSUER, "JwtAudience": AUDIENCE}, {}),
        ({"JwtIssuer": ISSUER}, {"JwtIssuerNeedsAudience": "JwtAudience is required when JwtIssuer is set"}),
        ({"JwtAudience": AUDIENCE}, {"JwtAudienceNeedsIssuer": "JwtIssuer is required when JwtAudience is set"}),
        ({"ModelS3Uri": "s3://models-bucket/iris"}, {"ModelS3UriNeedsSha256": "ModelSha256 is required"}),
    ],
)
def test_rules_refuse_half_configurations_before_deploying(parameters: dict[str, str], failed: dict[str, str]) -> None:
    cfn, resolver = translated(**parameters)

    failures = resolver.failed_rules(cfn["Rules"])

    assert set(failures) == set(failed)
    for rule, message in failed.items():
        [description] = failures[rule]
        assert description.startswith(message), description


def test_half_a_jwt_configuration_fails_closed_even_without_the_rules() -> None:
    # Were the rules bypassed, an issuer alone must not deploy an open API: the authorizer is still declared (and
    # API Gateway refuses it without an audience).
    for parameters in ({"JwtIssuer": ISSUER}, {"JwtAudience": AUDIENCE}):
        body = api_body(**parameters)
        assert "JwtAuthorizer" in body["components"]["securitySchemes"], parameters
        assert operations(body)[("/predict", "post")]["security"] == [{"JwtAuthorizer": []}], parameters
