"""template.yaml, samconfig.toml, the build constants and the committed events, checked with the real SAM CLI."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from deploy.translate import load_template

from .conftest import REPO_ROOT, lambda_python_version, run, sam_env

pytestmark = pytest.mark.deploy

TEMPLATE = REPO_ROOT / "template.yaml"


def test_sam_validate_lint_passes_offline(sam: Path) -> None:
    result = run([str(sam), "validate", "--lint", "--template-file", str(TEMPLATE)], env=sam_env(), timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_validate_lint_catches_a_broken_template(sam: Path, tmp_path: Path) -> None:
    # Proves the check above can fail: cfn-lint rejects a memory size Lambda does not offer.
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("MaxValue: 10240", "MaxValue: 99999"), encoding="utf-8")
    broken.write_text(broken.read_text().replace("    MemorySize: !Ref MemorySize", "    MemorySize: 99999"))

    result = run([str(sam), "validate", "--lint", "--template-file", str(broken)], env=sam_env(), timeout=300)

    assert result.returncode != 0
    assert "99999" in result.stdout + result.stderr


def test_lambda_python_is_one_constant_shared_by_build_and_template() -> None:
    template = load_template(TEMPLATE)
    runtime = f"python{lambda_python_version()}"

    assert template["Globals"]["Function"]["Runtime"] == runtime
    assert template["Resources"]["ModelLayer"]["Properties"]["CompatibleRuntimes"] == [runtime]
    for resource in template["Resources"].values():
        assert resource.get("Properties", {}).get("Runtime", runtime) == runtime
    for makefile in ("functions/predict/Makefile", "layers/model/Makefile"):
        default = re.search(r"^PY_VER \?= (\S+)$", (REPO_ROOT / makefile).read_text(), re.MULTILINE)
        assert default and default.group(1) == lambda_python_version(), f"{makefile}: PY_VER default"


def test_function_and_layer_build_with_make_and_no_docker() -> None:
    resources = load_template(TEMPLATE)["Resources"]

    assert resources["PredictFunction"]["Metadata"]["BuildMethod"] == "makefile"
    assert resources["ModelLayer"]["Metadata"]["BuildMethod"] == "makefile"
    assert resources["PredictFunction"]["Properties"]["CodeUri"] == "functions/predict/"
    assert resources["ModelLayer"]["Properties"]["ContentUri"] == "layers/model/"
    assert resources["PreTrafficHookFunction"]["Metadata"]["BuildMethod"] == "makefile"
    assert resources["PreTrafficHookFunction"]["Properties"]["CodeUri"] == "functions/pretraffic/"


def test_timeout_parameter_stays_below_api_gateway_limit() -> None:
    parameters = load_template(TEMPLATE)["Parameters"]

    assert parameters["Timeout"]["MaxValue"] < 30
    assert parameters["Timeout"]["Default"] <= parameters["Timeout"]["MaxValue"]
    assert parameters["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    assert "*" not in parameters["AllowedOrigins"]["Default"]
    for name, spec in parameters.items():
        assert spec.get("Description"), f"parameter {name} is undocumented"


@pytest.mark.parametrize(
    ("origins", "accepted"),
    [
        ("http://localhost:5173,http://127.0.0.1:5173", True),
        ("https://app.example.com", True),
        ("", True),
        ("*", False),
        ("https://app.example.com/", False),
        ("https://a.example.com, https://b.example.com", False),
        ("app.example.com", False),
    ],
)
def test_allowed_origins_pattern_refuses_wildcards_and_trailing_slashes(origins: str, accepted: bool) -> None:
    pattern = load_template(TEMPLATE)["Parameters"]["AllowedOrigins"]["AllowedPattern"]

    assert (re.fullmatch(pattern, origins) is not None) is accepted


@pytest.mark.parametrize(
    ("issuer", "accepted"),
    [
        ("", True),
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", True),
        ("https://example.eu.auth0.com/", True),
        ("http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", False),
        ("cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", False),
        ("https://a.example.com,https://b.example.com", False),
        ("https://issuer.example.com ", False),
    ],
)
def test_jwt_issuer_pattern_takes_one_https_url(issuer: str, accepted: bool) -> None:
    pattern = load_template(TEMPLATE)["Parameters"]["JwtIssuer"]["AllowedPattern"]

    assert (re.fullmatch(pattern, issuer) is not None) is accepted


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [
        ("", True),
        ("1example23456789abcdefghij", True),
        ("1example23456789abcdefghij,2example23456789abcdefghij", True),
        ("https://api.example.com", True),
        ("a, b", False),
        ("a,", False),
        (",a", False),
        ("a,,b", False),
    ],
)
def test_jwt_audience_pattern_takes_a_comma_separated_list(audience: str, accepted: bool) -> None:
    pattern = load_template(TEMPLATE)["Parameters"]["JwtAudience"]["AllowedPattern"]

    assert (re.fullmatch(pattern, audience) is not None) is accepted


def test_jwt_parameters_are_off_by_default_and_documented_as_a_pair() -> None:
    template = load_template(TEMPLATE)
    parameters = template["Parameters"]

    for name, other in (("JwtIssuer", "JwtAudience"), ("JwtAudience", "JwtIssuer")):
        assert parameters[name]["Default"] == "", f"{name}: the API must stay open unless asked otherwise"
        description = parameters[name]["Description"]
        assert other in description, f"{name}: Description must say it goes with {other}"
        assert "no authorizer" in description, f"{name}: Description must say what empty means"
        assert parameters[name]["ConstraintDescription"], f"{name}: a refused value must say what is expected"
    assert {"JwtIssuerNeedsAudience", "JwtAudienceNeedsIssuer"} <= set(template["Rules"])
    for rule in ("JwtIssuerNeedsAudience", "JwtAudienceNeedsIssuer"):
        assert template["Rules"][rule]["Assertions"][0]["AssertDescription"]


def test_samconfig_overrides_name_template_parameters_with_acceptable_values() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    parameters = load_template(TEMPLATE)["Parameters"]

    for env in ("default", "prod"):
        overrides = dict(
            item.split("=", 1) for item in shlex.split(config[env]["deploy"]["parameters"]["parameter_overrides"])
        )
        for name, value in overrides.items():
            assert name in parameters, f"{env}: {name} is not a template parameter"
            spec = parameters[name]
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), f"{env}: {name}={value!r}"
            if "AllowedValues" in spec:
                assert value in [str(allowed) for allowed in spec["AllowedValues"]], f"{env}: {name}={value!r}"
        assert ("JwtIssuer" in overrides) == ("JwtAudience" in overrides), (
            f"{env}: JwtIssuer and JwtAudience go together"
        )


def test_samconfig_has_dev_and_reviewed_prod_environments() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    pattern = load_template(TEMPLATE)["Parameters"]["AllowedOrigins"]["AllowedPattern"]

    for env, stack in (("default", "sklambda-dev"), ("prod", "sklambda-prod")):
        assert config[env]["global"]["parameters"]["stack_name"] == stack
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["resolve_s3"] is True
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        origins = re.search(r'AllowedOrigins="([^"]*)"', deploy["parameter_overrides"])
        assert origins and re.fullmatch(pattern, origins.group(1)), f"{env}: AllowedOrigins override"
        assert config[env]["build"]["parameters"] == {"cached": True, "parallel": True}
        assert config[env]["validate"]["parameters"] == {"lint": True}
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


def test_committed_events_are_what_the_documented_commands_generate(sam: Path) -> None:
    readme = (REPO_ROOT / "events" / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(sam local generate-event .+?) > (events/\S+\.json)$", readme, re.MULTILINE)
    assert {target for _, target in commands} == {
        "events/http-api-predict.json",
        "events/rest-api-predict.json",
        "events/http-api-health.json",
        "events/rest-api-health.json",
        "events/http-api-model.json",
    }
    for command, target in commands:
        argv = [str(sam), *shlex.split(command)[1:]]
        result = run(argv, env=sam_env(), timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == json.loads((REPO_ROOT / target).read_text()), target


def test_layer_build_refuses_without_a_model_and_says_how_to_make_one(tmp_path: Path) -> None:
    empty_model_dir = tmp_path / "no-model"
    empty_model_dir.mkdir()

    result = subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT / "layers" / "model"), "build-ModelLayer"],
        env={**sam_env(), "ARTIFACTS_DIR": str(tmp_path / "out"), "MODEL_SRC": str(empty_model_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode != 0
    assert "make model" in result.stdout and "sklambda train" in result.stdout
    assert not (tmp_path / "out").exists(), "nothing may be installed before the model check"
