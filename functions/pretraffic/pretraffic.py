"""CodeDeploy pre-traffic hook: the new prediction function version must answer before the `live` alias moves to it.

CodeDeploy invokes `handler` with {"DeploymentId", "LifecycleEventExecutionId"} before it shifts any traffic. The
hook invokes the version under test (TARGET_FUNCTION_VERSION_ARN, set by the template to the version this deployment
publishes; its role may invoke that version only) with API Gateway payload v2 events, as the HTTP API would:

1. GET /model: 200 and the public manifest, whose `example` is the row the model was packaged with;
2. GET /health: 200, status "ok", the same model name and version;
3. POST /predict {"features": <example>}: 200 with one prediction from the same model version.

It then reports Succeeded or Failed to CodeDeploy; Failed stops the deployment and the alias stays where it was.
Every failure, including the hook's own (a denied invoke, a throttle), is reported as Failed with its reason, so a
deployment never waits for CodeDeploy's one-hour hook timeout. Only boto3, which the Lambda runtime provides.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("pretraffic")
logger.setLevel(logging.INFO)

TARGET_ENV = "TARGET_FUNCTION_VERSION_ARN"
USER_AGENT = "sklambda-pretraffic-hook"


class CheckFailed(Exception):
    """One check's answer was not what a working deployment gives."""


@dataclass
class Outcome:
    status: str
    target: str
    checks: list[str] = field(default_factory=list)
    reason: str | None = None

    def as_log(self) -> dict[str, Any]:
        return {"message": "pre-traffic hook", **self.__dict__}


def http_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for `method path`, as the $default stage sends it."""
    request_id = f"pretraffic-{uuid.uuid4()}"
    now = time.time()
    headers = {"host": "pretraffic.invalid", "user-agent": USER_AGENT, "accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "pretraffic",
            "domainName": "pretraffic.invalid",
            "domainPrefix": "pretraffic",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": USER_AGENT,
            },
            "requestId": request_id,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def invoke(lambda_client: Any, target: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """Invoke the version under test with one HTTP event; the JSON body of a 200 answer, else CheckFailed."""
    where = f"{method} {path}"
    answer = lambda_client.invoke(
        FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(http_event(method, path, body))
    )
    payload = answer["Payload"].read()
    if "FunctionError" in answer:
        # Init failures and unhandled exceptions: Lambda's error object names the type and message.
        raise CheckFailed(f"{where}: the function failed ({answer['FunctionError']}): {payload[:500]!r}")
    version = target.rsplit(":", 1)[-1]
    if answer.get("ExecutedVersion", version) != version:
        raise CheckFailed(f"{where}: version {answer.get('ExecutedVersion')} answered instead of {version}")
    try:
        response = json.loads(payload)
        status, text = response["statusCode"], response.get("body") or ""
    except (ValueError, TypeError, KeyError) as error:
        raise CheckFailed(f"{where}: not an HTTP API response ({error}): {payload[:500]!r}") from error
    if status != 200:
        raise CheckFailed(f"{where}: status {status}, body {text[:500]!r}")
    try:
        content = json.loads(text)
    except ValueError as error:
        raise CheckFailed(f"{where}: the 200 body is not JSON: {text[:500]!r}") from error
    if not isinstance(content, dict):
        raise CheckFailed(f"{where}: the 200 body is not a JSON object: {text[:500]!r}")
    return content


def check_version(lambda_client: Any, target: str) -> list[str]:
    """Run the three checks in order; the list of what passed, or CheckFailed at the first that did not."""
    manifest = invoke(lambda_client, target, "GET", "/model")
    example, name, version = manifest.get("example"), manifest.get("name"), manifest.get("version")
    if not (isinstance(example, list) and example and isinstance(name, str) and isinstance(version, str)):
        raise CheckFailed(f"GET /model: no name, version and example row in {json.dumps(manifest)[:500]}")
    passed = [f"GET /model: {name} {version}"]

    health = invoke(lambda_client, target, "GET", "/health")
    expected = {"status": "ok", "model_name": name, "model_version": version}
    if {key: health.get(key) for key in expected} != expected:
        raise CheckFailed(f"GET /health: expected {expected}, got {health}")
    passed.append("GET /health: ok")

    predicted = invoke(lambda_client, target, "POST", "/predict", {"features": example})
    prediction = predicted.get("prediction")
    if not (isinstance(prediction, list) and len(prediction) == 1):
        raise CheckFailed(f"POST /predict: expected one prediction for the example row, got {predicted}")
    if predicted.get("model_version") != version:
        raise CheckFailed(f"POST /predict: model_version {predicted.get('model_version')!r}, /model said {version!r}")
    passed.append(f"POST /predict: {prediction[0]!r} for {example}")
    return passed


def run_hook(event: dict[str, Any], lambda_client: Any, codedeploy: Any, target: str) -> Outcome:
    """Check `target` and report the outcome of this lifecycle event to CodeDeploy."""
    outcome = Outcome(status="Succeeded", target=target)
    try:
        if not re.fullmatch(r"arn:[\w-]+:lambda:[\w-]+:\d{12}:function:[\w-]+:\d+", target):
            raise CheckFailed(f"{TARGET_ENV} must be the ARN of a published function version, not {target!r}")
        outcome.checks = check_version(lambda_client, target)
    except CheckFailed as failure:
        outcome.status, outcome.reason = "Failed", str(failure)
    except Exception as error:
        # Anything else (a denied invoke, throttling) must fail the deployment now, not after the hook's timeout.
        outcome.status, outcome.reason = "Failed", f"the hook could not check {target}: {type(error).__name__}: {error}"
    (logger.info if outcome.status == "Succeeded" else logger.error)(json.dumps(outcome.as_log()))
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventExecutionId"],
        status=outcome.status,
    )
    return outcome


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    import boto3

    target = os.environ.get(TARGET_ENV, "")
    outcome = run_hook(event, boto3.client("lambda"), boto3.client("codedeploy"), target)
    return outcome.as_log()
