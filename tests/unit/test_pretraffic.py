"""The CodeDeploy pre-traffic hook (functions/pretraffic) against botocore clients stubbed with botocore's Stubber.

The stubbed Lambda answers are what the real app (create_app + Mangum, the demo model) answers to the hook's own
events, so the events are checked against the service too; the hook's CodeDeploy report is checked by the stub.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pretraffic
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from mangum import Mangum
from mangum.types import LambdaCognitoIdentity, LambdaMobileClientContext
from predict_service.api import create_app
from predict_service.config import Settings
from predict_service.runtimes.sklearn import SklearnRuntime

from ..support.events import load_event

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict:7"
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventExecutionId": "execution-id-1"}


class LambdaContext:
    aws_request_id = "hook-test-request"
    function_name = "sklambda-test-predict"
    function_version = "7"
    memory_limit_in_mb = 1024
    invoked_function_arn = TARGET
    log_group_name = "/aws/lambda/sklambda-test-predict"
    log_stream_name = "stream"
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def client(service: str) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


class Clients:
    """A stubbed Lambda and CodeDeploy client, and the Invoke requests the hook sent."""

    def __init__(self) -> None:
        self.lambda_client = client("lambda")
        self.codedeploy = client("codedeploy")
        self.lambda_stub = Stubber(self.lambda_client)
        self.codedeploy_stub = Stubber(self.codedeploy)
        self.invocations: list[dict[str, Any]] = []
        self.lambda_client.meta.events.register("provide-client-params.lambda.Invoke", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.invocations.append({**params, "Payload": json.loads(params["Payload"])})

    def answer(self, payload: Any, version: str = "7", function_error: str | None = None) -> None:
        data = json.dumps(payload).encode()
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": version,
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
        }
        if function_error is not None:
            response["FunctionError"] = function_error
        expected = {"FunctionName": TARGET, "InvocationType": "RequestResponse", "Payload": ANY}
        self.lambda_stub.add_response("invoke", response, expected)

    def expect_report(self, status: str) -> None:
        self.codedeploy_stub.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": EVENT["LifecycleEventExecutionId"]},
            {
                "deploymentId": EVENT["DeploymentId"],
                "lifecycleEventHookExecutionId": EVENT["LifecycleEventExecutionId"],
                "status": status,
            },
        )

    def run(self, target: str = TARGET) -> pretraffic.Outcome:
        with self.lambda_stub, self.codedeploy_stub:
            outcome = pretraffic.run_hook(EVENT, self.lambda_client, self.codedeploy, target)
        self.lambda_stub.assert_no_pending_responses()
        self.codedeploy_stub.assert_no_pending_responses()
        return outcome

    def routes(self) -> list[str]:
        events = [invocation["Payload"] for invocation in self.invocations]
        return [f"{event['requestContext']['http']['method']} {event['rawPath']}" for event in events]


@pytest.fixture
def clients() -> Iterator[Clients]:
    yield Clients()


@pytest.fixture(scope="module")
def app_handler(demo_model_dir: Path) -> Mangum:
    """The real service with the demo model, as handler.py builds it on Lambda."""
    return Mangum(create_app(Settings(model_dir=demo_model_dir), SklearnRuntime.load(demo_model_dir)), lifespan="off")


def app_answer(handler: Mangum, event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = handler(event, LambdaContext())
    return answer


def manifest_of(handler: Mangum) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(app_answer(handler, pretraffic.http_event("GET", "/model"))["body"])
    return manifest


def queue_app_answers(clients: Clients, handler: Mangum) -> dict[str, Any]:
    """Queue the app's answers to the three events the hook sends, in its order; the manifest they came from."""
    manifest = manifest_of(handler)
    clients.answer(app_answer(handler, pretraffic.http_event("GET", "/model")))
    clients.answer(app_answer(handler, pretraffic.http_event("GET", "/health")))
    clients.answer(app_answer(handler, pretraffic.http_event("POST", "/predict", {"features": manifest["example"]})))
    return manifest


def test_a_version_that_answers_is_reported_succeeded(clients: Clients, app_handler: Mangum) -> None:
    manifest = queue_app_answers(clients, app_handler)
    clients.expect_report("Succeeded")

    outcome = clients.run()

    assert outcome.status == "Succeeded", outcome.reason
    assert clients.routes() == ["GET /model", "GET /health", "POST /predict"]
    assert {invocation["FunctionName"] for invocation in clients.invocations} == {TARGET}
    # The example row comes from the version's own /model answer, so the hook needs no model files.
    assert json.loads(clients.invocations[2]["Payload"]["body"]) == {"features": manifest["example"]}
    assert outcome.checks[0] == f"GET /model: {manifest['name']} {manifest['version']}"
    assert len(outcome.checks) == 3


def test_a_version_without_its_model_is_reported_failed_at_the_first_check(
    clients: Clients, tmp_path: Path, service_log: pytest.LogCaptureFixture
) -> None:
    # The app without a model answers 503 (not ready) to every route: the deployment must stop there.
    not_ready = Mangum(create_app(Settings(model_dir=tmp_path), None), lifespan="off")
    clients.answer(app_answer(not_ready, pretraffic.http_event("GET", "/model")))
    clients.expect_report("Failed")

    outcome = clients.run()

    assert outcome.status == "Failed"
    assert outcome.reason is not None and outcome.reason.startswith("GET /model: status 503"), outcome.reason
    assert clients.routes() == ["GET /model"]


def test_a_function_error_is_reported_failed_with_lambdas_error(clients: Clients) -> None:
    # What Lambda answers when the init fails (the model layer cannot be imported, for one).
    error = {"errorMessage": "No module named 'numpy'", "errorType": "Runtime.ImportModuleError"}
    clients.answer(error, function_error="Unhandled")
    clients.expect_report("Failed")

    outcome = clients.run()

    assert outcome.status == "Failed"
    assert outcome.reason is not None
    assert "GET /model: the function failed (Unhandled)" in outcome.reason
    assert "Runtime.ImportModuleError" in outcome.reason


def test_health_from_another_model_version_is_reported_failed(clients: Clients, app_handler: Mangum) -> None:
    clients.answer(app_answer(app_handler, pretraffic.http_event("GET", "/model")))
    health = app_answer(app_handler, pretraffic.http_event("GET", "/health"))
    body = json.loads(health["body"])
    health["body"] = json.dumps({**body, "model_version": body["model_version"] + "-old"})
    clients.answer(health)
    clients.expect_report("Failed")

    outcome = clients.run()

    assert outcome.status == "Failed"
    assert outcome.reason is not None and outcome.reason.startswith("GET /health: expected"), outcome.reason


def test_a_prediction_error_is_reported_failed(clients: Clients, app_handler: Mangum) -> None:
    manifest = manifest_of(app_handler)
    clients.answer(app_answer(app_handler, pretraffic.http_event("GET", "/model")))
    clients.answer(app_answer(app_handler, pretraffic.http_event("GET", "/health")))
    # A row the model refuses: the real app's 422 answer stands in for a model that cannot predict its example.
    wrong_row = pretraffic.http_event("POST", "/predict", {"features": manifest["example"][:-1]})
    clients.answer(app_answer(app_handler, wrong_row))
    clients.expect_report("Failed")

    outcome = clients.run()

    assert outcome.status == "Failed"
    assert outcome.reason is not None and outcome.reason.startswith("POST /predict: status 422"), outcome.reason


def test_an_answer_from_another_version_is_reported_failed(clients: Clients, app_handler: Mangum) -> None:
    clients.answer(app_answer(app_handler, pretraffic.http_event("GET", "/model")), version="6")
    clients.expect_report("Failed")

    outcome = clients.run()

    assert outcome.status == "Failed"
    assert outcome.reason == "GET /model: version 6 answered instead of 7"


def test_a_denied_invoke_is_reported_failed_instead_of_leaving_codedeploy_waiting(clients: Clients) -> None:
    clients.lambda_stub.add_client_error(
        "invoke", service_error_code="AccessDeniedException", service_message="not authorized", http_status_code=403
    )
    clients.expect_report("Failed")

    outcome = clients.run()

    assert outcome.status == "Failed"
    assert outcome.reason is not None and "AccessDeniedException" in outcome.reason


@pytest.mark.parametrize(
    "target",
    [
        "",
        "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict",
        "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict:live",
        "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict:$LATEST",
    ],
)
def test_only_a_published_version_is_ever_invoked(clients: Clients, target: str) -> None:
    clients.expect_report("Failed")

    outcome = clients.run(target)

    assert outcome.status == "Failed"
    assert outcome.reason is not None and outcome.reason.startswith(pretraffic.TARGET_ENV), outcome.reason
    assert clients.invocations == []


def test_hook_events_have_the_shape_api_gateway_sends() -> None:
    # Compared with the committed event `sam local generate-event apigateway http-api-proxy` produced.
    reference = load_event("http-api-predict.json")
    event = pretraffic.http_event("POST", "/predict", {"features": [1.0]})

    optional = {"cookies", "queryStringParameters", "pathParameters", "stageVariables"}
    assert set(event) == set(reference) - optional
    assert set(event["requestContext"]) == set(reference["requestContext"]) - {"authentication", "authorizer"}
    assert set(event["requestContext"]["http"]) == set(reference["requestContext"]["http"])
    assert event["version"] == "2.0" and event["requestContext"]["stage"] == "$default"
