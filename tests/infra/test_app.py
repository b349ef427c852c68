"""The app: which configs become stacks, what stops a synthesis, and that synthesis is repeatable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs

from infra.app import InvalidDestinations, build_app, load_destinations
from infra.constants import POWERTOOLS_LAYER_NAME, POWERTOOLS_LAYER_VERSION
from infra.nag import add_checks
from tests.infra.conftest import FIXTURES, Assembly, synthesize
from tests.infra.templates import (
    ACCESS,
    ACCESS_KEY,
    ASSUME_ROLE,
    BACKFILL,
    EXAMPLE,
    EXISTING,
    FIFO,
    PROVISIONED,
    resource,
)
from tests.support import EXAMPLE_CONFIG, ROOT

INVALID = {"name": "Bad Name", "stream": {"name": "exports"}, "segments": [], "identities": [{"namespace": "ECID"}]}
# What `npx cdk synth` hands app.py besides cdk.json's context (aws-cdk's contextFromSettings, its
# defaults and cdk.json's settings). Version reporting, which cdk.json turns off, would add CDK's metadata
# resource, and with it a condition that lists every region.
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": json.loads((ROOT / "cdk.json").read_text(encoding="utf-8")).get(
        "versionReporting", True
    ),
    "aws:cdk:bundling-stacks": ["**"],
    "@aws-cdk/core:failSynthOnValidationErrors": False,
}
REGION = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:gov-)?[a-z]+-\d\b")


def _write(path: Path, config: dict[str, object]) -> Path:
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_a_folder_gives_one_destination_per_config_in_name_order() -> None:
    destinations = load_destinations(FIXTURES)

    assert [d.stack_name for d in destinations] == [
        "KinesisExport-agency-access-key",
        "KinesisExport-partner-cross-account",
        "KinesisExport-members-backfill",
        "KinesisExport-loyalty-existing",
        "KinesisExport-journeys-fifo",
        "KinesisExport-partners-provisioned",
    ]


def test_an_invalid_config_stops_synthesis_with_one_line_per_problem(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.json", INVALID)

    with pytest.raises(InvalidDestinations) as raised:
        load_destinations(bad)

    assert str(raised.value) == (
        f"invalid destination config {bad}:\n"
        "  name: must be 1-40 lowercase letters, digits or hyphens\n"
        "  segments: List should have at least 1 item after validation, not 0"
    )


def test_every_invalid_config_in_a_folder_is_reported_at_once(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", INVALID)
    _write(tmp_path / "b.json", {**json.loads(EXAMPLE_CONFIG.read_text()), "function": {"logRetentionDays": 10}})

    with pytest.raises(InvalidDestinations) as raised:
        load_destinations(tmp_path)

    assert [error.source for error in raised.value.errors] == [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert raised.value.errors[1].problems == [
        "function.logRetentionDays: must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
        "1096, 1827, 2192, 2557, 2922, 3288, 3653 (a CloudWatch Logs rule)"
    ]


def test_two_configs_with_one_name_would_be_one_stack_and_are_refused(tmp_path: Path) -> None:
    example = json.loads(EXAMPLE_CONFIG.read_text())
    _write(tmp_path / "a.json", example)
    twin = _write(tmp_path / "b.json", example)

    with pytest.raises(InvalidDestinations) as raised:
        load_destinations(tmp_path)

    assert str(raised.value) == (
        f"invalid destination config {twin}:\n  name: 'crm-prospects' is also the name in {tmp_path / 'a.json'}"
    )


def test_a_folder_without_configs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDestinations, match="no destination config"):
        load_destinations(tmp_path)


def test_stacks_deploy_to_the_default_region_except_where_they_create_their_stream(tmp_path: Path) -> None:
    # given an existing stream in eu-west-1, a created one without region, and a created one in eu-north-1
    for fixture in FIXTURES.glob("*.json"):
        (tmp_path / fixture.name).write_bytes(fixture.read_bytes())
    example = json.loads(EXAMPLE_CONFIG.read_text())
    _write(
        tmp_path / "nordic.json", {**example, "name": "nordic", "stream": {**example["stream"], "region": "eu-north-1"}}
    )

    # when the CLI's default environment is 111122223333 in us-west-2 (nothing is synthesized)
    stacks = build_app(App(outdir=str(tmp_path / "out")), tmp_path, account="111122223333", region="us-west-2")

    # then an assumeRole destination's export stack goes to its exporter account, and its access
    # stack to the stream's account and region
    assert {stack.stack_name: (stack.account, stack.region) for stack in stacks} == {
        "KinesisExport-agency-access-key": ("111122223333", "us-west-2"),
        "KinesisExportAccess-partner-cross-account": ("222233334444", "eu-west-1"),
        "KinesisExport-partner-cross-account": ("111122223333", "us-west-2"),
        "KinesisExport-members-backfill": ("111122223333", "us-west-2"),
        "KinesisExport-loyalty-existing": ("111122223333", "us-west-2"),
        "KinesisExport-journeys-fifo": ("111122223333", "us-west-2"),
        "KinesisExport-nordic": ("111122223333", "eu-north-1"),
        "KinesisExport-partners-provisioned": ("111122223333", "us-west-2"),
    }
    # and across accounts neither stack depends on the other: each is deployed with its own credentials
    assert all(not stack.dependencies for stack in stacks)


def _synthesize_like_the_cli(target: Path, outdir: Path, environment: dict[str, str]) -> Assembly:
    """Run app.py as `npx cdk synth -c destinations=<target>` does, in `environment` (CDK_DEFAULT_*)."""
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"] | CLI_CONTEXT
    env = {name: value for name, value in os.environ.items() if not name.startswith("CDK_")} | environment
    env |= {"CDK_CONTEXT_JSON": json.dumps(context | {"destinations": str(target)}), "CDK_OUTDIR": str(outdir)}

    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    templates = {
        path.name.removesuffix(".template.json"): json.loads(path.read_text(encoding="utf-8"))
        for path in outdir.glob("*.template.json")
    }
    return Assembly(outdir, templates)


def _regions(text: str) -> set[str]:
    return {match.group() for match in REGION.finditer(text)}


def test_without_credentials_templates_name_no_region_their_configs_do_not(tmp_path: Path) -> None:
    # given the example and every fixture config; some name regions themselves, a stream's or one in an
    # ARN (two name us-east-1, in a key's and a secret's ARN), which their own stacks may name too
    configs = tmp_path / "destinations"
    configs.mkdir()
    for config in [EXAMPLE_CONFIG, *FIXTURES.glob("*.json")]:
        (configs / config.name).write_bytes(config.read_bytes())
    named = {
        stack: _regions(destination.file.read_text(encoding="utf-8"))
        for destination in load_destinations(configs)
        for stack in (destination.stack_name, destination.access_stack_name)
    }

    # when app.py synthesizes them in the environment the CLI gives without credentials: no account,
    # and its fallback region
    assembly = _synthesize_like_the_cli(configs, tmp_path / "out", {"CDK_DEFAULT_REGION": "us-east-1"})

    # then the stacks are environment-agnostic but for the accounts and regions the configs name
    assert set(assembly.templates) == {EXAMPLE, ACCESS_KEY, ASSUME_ROLE, ACCESS, BACKFILL, EXISTING, FIFO, PROVISIONED}
    assert assembly.environment(EXAMPLE) == "aws://unknown-account/unknown-region"
    # and no template names another region: the layer, the asset bucket and all else take the deployment's
    unnamed = {name: _regions(json.dumps(template)) - named[name] for name, template in assembly.templates.items()}
    assert unnamed == {name: set() for name in assembly.templates}


def test_with_credentials_a_stack_deploys_to_the_cli_region(tmp_path: Path) -> None:
    # given the environment the CLI gives with credentials: their account, and the region configured
    environment = {"CDK_DEFAULT_ACCOUNT": "111122223333", "CDK_DEFAULT_REGION": "eu-central-1"}

    # when app.py synthesizes the example as `npx cdk synth` does
    assembly = _synthesize_like_the_cli(EXAMPLE_CONFIG, tmp_path, environment)

    # then the stack is that account's and region's, and so is the layer it uses
    assert assembly.environment(EXAMPLE) == "aws://111122223333/eu-central-1"
    assert resource(assembly.templates[EXAMPLE], "Exporter/Function")["Properties"]["Layers"] == [
        f"arn:aws:lambda:eu-central-1:017000801446:layer:{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}"
    ]


def test_only_an_assumed_role_gets_an_access_stack(fixtures: Assembly, example: Assembly) -> None:
    assert sorted(example.templates) == [EXAMPLE]
    assert [name for name in fixtures.templates if not name.startswith("KinesisExport-")] == [ACCESS]


def test_an_access_stack_in_the_exporter_account_is_deployed_before_the_export_stack(tmp_path: Path) -> None:
    # given an assumed role in the account the exporter runs in (no exporterAccountId)
    config = json.loads((FIXTURES / "assume-role.json").read_text())
    del config["credentials"]["exporterAccountId"]
    same_account = _write(tmp_path / "same-account.json", config)

    # when the app is built (nothing is synthesized)
    access, export = build_app(App(outdir=str(tmp_path / "out")), same_account, region="us-west-2")

    # then both stacks go to the role's account, and deploying the export stack deploys the access stack first
    assert (access.stack_name, access.account, access.region) == (ACCESS, "222233334444", "eu-west-1")
    assert (export.stack_name, export.account, export.region) == (ASSUME_ROLE, "222233334444", "us-west-2")
    assert export.dependencies == [access]


def test_app_prints_the_config_errors_and_exits_non_zero_without_a_traceback(tmp_path: Path) -> None:
    # given `npx cdk synth -c destinations=bad.json`, which hands the context to app.py like this
    bad = _write(tmp_path / "bad.json", INVALID)
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"destinations": str(bad)}), "CDK_OUTDIR": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 1
    assert f"invalid destination config {bad}:\n  name: must be 1-40" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_synthesis_gives_the_same_template_every_time(example: Assembly, tmp_path: Path) -> None:
    again = synthesize(EXAMPLE_CONFIG, tmp_path)

    assert again.templates[EXAMPLE] == example.templates[EXAMPLE]


def test_synthesized_apps_have_no_unacknowledged_nag_finding(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        report = json.loads((assembly.outdir / "validation-report.json").read_text())
        assert report["pluginReports"] == []


def test_an_unacknowledged_nag_finding_fails_synthesis(tmp_path: Path) -> None:
    # given a queue with none of the exporter's care (no TLS policy, no dead-letter queue)
    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Careless"), "Queue")
    add_checks(app)

    with pytest.raises(RuntimeError, match="ValidationFailed") as raised:
        app.synth()

    assert "AwsSolutions-SQS4" in str(raised.value)
