"""The deploy-time check (a custom resource): passes, fails with the check's lines, spares rollbacks."""

from __future__ import annotations

import hashlib
import importlib
import sys

import pytest

from kinesis_export.connection import CheckReport
from kinesis_export_cli.local import LambdaContext
from tests.support import EXAMPLE_CONFIG

CONFIG_SHA256 = hashlib.sha256(EXAMPLE_CONFIG.read_bytes()).hexdigest()


@pytest.fixture
def check(monkeypatch):
    monkeypatch.setenv("DESTINATION_CONFIG_FILE", str(EXAMPLE_CONFIG))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delitem(sys.modules, "kinesis_export.handlers.check", raising=False)
    module = importlib.import_module("kinesis_export.handlers.check")
    monkeypatch.setattr(module, "_PAUSE_SECONDS", 0)
    return module


def reports(check, monkeypatch, *results: CheckReport) -> list[int]:
    calls = []

    def fake(config, region, probe=False):
        calls.append(1)
        return results[min(len(calls), len(results)) - 1]

    monkeypatch.setattr(check, "check_connection", fake)
    return calls


def event(kind: str, sha256: str = CONFIG_SHA256) -> dict:
    return {"RequestType": kind, "ResourceProperties": {"ConfigSha256": sha256}, "PhysicalResourceId": "id-1"}


def test_a_reachable_stream_passes_with_its_arn(check, monkeypatch):
    reports(check, monkeypatch, CheckReport(stream_arn="arn:aws:kinesis:us-east-1:1:stream/s"))

    answer = check.handler(event("Create"), LambdaContext())

    assert answer == {"PhysicalResourceId": "id-1", "Data": {"StreamArn": "arn:aws:kinesis:us-east-1:1:stream/s"}}


def test_a_failed_check_fails_the_deployment_after_retrying(check, monkeypatch):
    calls = reports(check, monkeypatch, CheckReport(problems=["stream.name: no stream named 's'", "second line"]))

    with pytest.raises(check.ConnectionCheckFailed, match=r"stream\.name: no stream named 's'; second line"):
        check.handler(event("Update"), LambdaContext())
    assert len(calls) == 3


def test_a_new_role_that_works_on_the_second_try_passes(check, monkeypatch):
    calls = reports(check, monkeypatch, CheckReport(problems=["permission: denied"]), CheckReport(stream_arn="a"))

    assert check.handler(event("Create"), LambdaContext())["Data"] == {"StreamArn": "a"}
    assert len(calls) == 2


def test_rollbacks_and_deletions_are_not_checked(check, monkeypatch):
    calls = reports(check, monkeypatch, CheckReport(problems=["would fail"]))

    assert check.handler(event("Update", sha256="0" * 64), LambdaContext()) == {"PhysicalResourceId": "id-1"}
    assert check.handler(event("Delete"), LambdaContext()) == {"PhysicalResourceId": "id-1"}
    assert calls == []
