"""Offline SAM -> plain CloudFormation, as `sam package` + the CloudFormation transform would produce it.

Needs no AWS account or network: aws-sam-translator runs locally with a region-only boto3 session, and local
CodeUri/ContentUri paths are rewritten to s3:// URIs the way `sam package` rewrites them after uploading.

Usage: python -m deploy.translate [template.yaml] [--bucket B] [--param Key=Value ...] [--out translated.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
CODE_PROPERTY = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def load_template(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return template


def with_s3_code_uris(template: dict[str, Any], bucket: str, keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Copy of `template` whose functions and layers point at s3://bucket/<key> (default key: <LogicalId>.zip)."""
    packaged = copy.deepcopy(template)
    for logical_id, resource in packaged["Resources"].items():
        code_property = CODE_PROPERTY.get(resource.get("Type", ""))
        if code_property is None:
            continue
        key = (keys or {}).get(logical_id, f"{logical_id}.zip")
        resource["Properties"][code_property] = f"s3://{bucket}/{key}"
        # The build metadata means nothing once the code is a zip in S3 (sam package drops it too).
        resource.pop("Metadata", None)
    return packaged


def translate(
    template: dict[str, Any], parameter_values: dict[str, Any] | None = None, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """Run the AWS::Serverless-2016-10-31 transform locally. `template` must already have S3 code URIs."""
    values: dict[str, Any] = {
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::AccountId": DEFAULT_ACCOUNT_ID,
        **(parameter_values or {}),
    }
    # The transform only reads the region from the session; no credentials are used and no call is made.
    session = boto3.session.Session(region_name=region)
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), boto_session=session)
    cfn: dict[str, Any] = translator.translate(
        copy.deepcopy(template),
        parameter_values=values,
        # Our template names no managed policies; an empty map keeps the translator from asking IAM for them.
        get_managed_policy_map=dict,
    )
    return cfn


def sam_to_cfn(
    template_path: Path,
    bucket: str,
    parameter_values: dict[str, Any] | None = None,
    keys: dict[str, str] | None = None,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    return translate(with_s3_code_uris(load_template(template_path), bucket, keys), parameter_values, region)


_NO_VALUE = object()


class IntrinsicResolver:
    """Evaluates the intrinsics CloudFormation would resolve at deploy time, for the parts of a translated template
    no offline tool evaluates (moto skips ApiGatewayV2; the API's OpenAPI Body still holds Fn::If/Fn::Split).

    Supports Ref (parameters with their defaults, pseudo parameters), Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or,
    Fn::Split, Fn::Join, Fn::Select and Fn::Sub on parameters. Anything else (Fn::GetAtt, Refs to resources) is
    returned unchanged.
    """

    def __init__(
        self, cfn: dict[str, Any], parameter_values: dict[str, Any] | None = None, region: str = DEFAULT_REGION
    ) -> None:
        defaults = {name: spec.get("Default") for name, spec in cfn.get("Parameters", {}).items()}
        self.values: dict[str, Any] = {
            **{name: value for name, value in defaults.items() if value is not None},
            **(parameter_values or {}),
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::AccountId": DEFAULT_ACCOUNT_ID,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.conditions: dict[str, Any] = cfn.get("Conditions", {})

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                if argument == "AWS::NoValue":
                    return _NO_VALUE
                return self.values.get(argument, value)
            if key == "Condition":
                return self.condition(argument)
            handler = getattr(self, "_fn_" + key.removeprefix("Fn::").lower(), None)
            if key.startswith("Fn::") and handler is not None:
                return handler(argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def resolve_conditionals(self, value: Any) -> Any:
        """Only evaluate Fn::If (and drop AWS::NoValue), leaving every other intrinsic for a CloudFormation engine.

        For moto, whose CloudFormation turns `!Ref AWS::NoValue` into None instead of removing the key or item.
        """
        if isinstance(value, list):
            items = [self.resolve_conditionals(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if value == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return self.resolve_conditionals(when_true if self.condition(name) else when_false)
        resolved = {key: self.resolve_conditionals(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def failed_rules(self, rules: dict[str, Any]) -> dict[str, list[str]]:
        """Evaluate a template's Rules as CloudFormation does before it changes anything: {rule name: [the
        AssertDescription of each failed assertion]} for the rules that fail; empty when the parameters are accepted.

        Neither the SAM translator nor moto evaluates Rules. An expression that does not come out as a boolean here
        (an intrinsic this resolver does not know) raises instead of counting as passed.
        """
        failed: dict[str, list[str]] = {}
        for name, rule in rules.items():
            if "RuleCondition" in rule and not self._truth(rule["RuleCondition"], f"{name}.RuleCondition"):
                continue
            messages = [
                str(assertion.get("AssertDescription", ""))
                for index, assertion in enumerate(rule["Assertions"])
                if not self._truth(assertion["Assert"], f"{name}.Assertions[{index}]")
            ]
            if messages:
                failed[name] = messages
        return failed

    def _truth(self, expression: Any, where: str) -> bool:
        value = self.resolve(expression)
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {expression!r} does not evaluate to a boolean offline (got {value!r})")
        return value

    def _fn_if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, argument: list[Any]) -> bool:
        left, right = (self._resolve(item) for item in argument)
        return bool(left == right)

    def _fn_not(self, argument: list[Any]) -> bool:
        return not self._resolve(argument[0])

    def _fn_and(self, argument: list[Any]) -> bool:
        return all(self._resolve(item) for item in argument)

    def _fn_or(self, argument: list[Any]) -> bool:
        return any(self._resolve(item) for item in argument)

    def _fn_split(self, argument: list[Any]) -> Any:
        delimiter, text = argument[0], self._resolve(argument[1])
        return text.split(delimiter) if isinstance(text, str) else {"Fn::Split": [delimiter, text]}

    def _fn_join(self, argument: list[Any]) -> Any:
        delimiter, items = argument[0], self._resolve(argument[1])
        if isinstance(items, list) and all(isinstance(item, str | int | float) for item in items):
            return delimiter.join(str(item) for item in items)
        return {"Fn::Join": [delimiter, items]}

    def _fn_select(self, argument: list[Any]) -> Any:
        index, items = int(self._resolve(argument[0])), self._resolve(argument[1])
        return items[index] if isinstance(items, list) else {"Fn::Select": [index, items]}

    def _fn_sub(self, argument: Any) -> Any:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        scope = {**self.values, **{name: self._resolve(item) for name, item in variables.items()}}

        def substitute(match: re.Match[str]) -> str:
            replacement = scope.get(match.group(1))
            return str(replacement) if isinstance(replacement, str | int | float) else match.group(0)

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Translate template.yaml to plain CloudFormation JSON offline.")
    parser.add_argument("template", nargs="?", type=Path, default=Path("template.yaml"))
    parser.add_argument("--bucket", default="sklambda-artifacts")
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.param)
    text = json.dumps(sam_to_cfn(args.template, args.bucket, parameters, region=args.region), indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
