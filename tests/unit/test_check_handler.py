"""The deploy-time check (a custom resource): passes, fails with the check's lines, spares rollbacks."""

from __future__ import annotations

import hashlib

import pytest

from kinesis_export import wiring
from kinesis_export.connection import CheckReport
from kinesis_export_cli.local import LambdaContext
from tests.support import EXAMPLE_CONFIG, handler_module

CONFIG_SHA256 = hashlib.sha256(EXAMPLE_CONFIG.read_bytes()).hexdigest()
check = handler_module("check")
SETTINGS, CONFIG = wiring.load({"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"})


def reports(*results: CheckReport) -> tuple[list[int], check.Handler]:
    """The check's entry point with a check that answers `results` in turn (the last one again), and its calls."""
    calls = []

    def fake(config, region):
        calls.append(1)
        return results[min(len(calls), len(results)) - 1]

    return calls, check.handler_for(SETTINGS, CONFIG, fake, pause_seconds=0)


def event(kind: str, sha256: str = CONFIG_SHA256) -> dict:
    return {"RequestType": kind, "ResourceProperties": {"ConfigSha256": sha256}, "PhysicalResourceId": "id-1"}


def test_a_reachable_stream_passes_with_its_arn():
    _, handler = reports(CheckReport(stream_arn="arn:aws:kinesis:us-east-1:1:stream/s"))

    answer = handler(event("Create"), LambdaContext())

    assert answer == {"PhysicalResourceId": "id-1", "Data": {"StreamArn": "arn:aws:kinesis:us-east-1:1:stream/s"}}


def test_a_failed_check_fails_the_deployment_after_retrying():
    calls, handler = reports(CheckReport(problems=["stream.name: no stream named 's'", "second line"]))

    with pytest.raises(check.ConnectionCheckFailed, match=r"stream\.name: no stream named 's'; second line"):
        handler(event("Update"), LambdaContext())
    assert len(calls) == 3


def test_a_new_role_that_works_on_the_second_try_passes():
    calls, handler = reports(CheckReport(problems=["permission: denied"]), CheckReport(stream_arn="a"))

    assert handler(event("Create"), LambdaContext())["Data"] == {"StreamArn": "a"}
    assert len(calls) == 2


def test_rollbacks_and_deletions_are_not_checked():
    calls, handler = reports(CheckReport(problems=["would fail"]))

    assert handler(event("Update", sha256="0" * 64), LambdaContext()) == {"PhysicalResourceId": "id-1"}
    assert handler(event("Delete"), LambdaContext()) == {"PhysicalResourceId": "id-1"}
    assert calls == []
