"""The deploy-time check (a custom resource): passes, fails with the check's lines, spares rollbacks."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from kinesis_export import wiring
from kinesis_export.connection import CheckReport
from kinesis_export_cli.local import LambdaContext
from tests.support import EXAMPLE_CONFIG, handler_module

CONFIG_SHA256 = hashlib.sha256(EXAMPLE_CONFIG.read_bytes()).hexdigest()
check = handler_module("check")
SETTINGS, CONFIG = wiring.load({"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"})


def reports(*results: CheckReport, pause_seconds: float = 0) -> tuple[list[int], wiring.Handler]:
    """The check's entry point with a check that answers `results` in turn (the last one again), and its calls."""
    calls = []

    def fake(config, region):
        calls.append(1)
        return results[min(len(calls), len(results)) - 1]

    return calls, check.handler_for(SETTINGS, CONFIG, fake, pause_seconds=pause_seconds)


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


def test_a_check_with_no_answer_in_the_functions_time_fails_with_its_reason_before_the_function_times_out():
    # given a check that hangs (an endpoint that accepts and never answers: its retries took 140 s in a 60 s function)
    released = threading.Event()

    def hanging(config, region):
        released.wait(10)
        return CheckReport(stream_arn="too late")

    handler = check.handler_for(SETTINGS, CONFIG, hanging, pause_seconds=0)
    started = time.monotonic()

    # when the function, with 0.5 s left after its margin, takes a Create
    with pytest.raises(check.ConnectionCheckFailed) as raised:
        handler(event("Create"), LambdaContext(timeout_seconds=SETTINGS.deadline_margin_ms / 1000 + 0.5))
    released.set()

    # then the deployment fails with the check's own reason, within the function's time
    assert str(raised.value) == check.NO_ANSWER
    assert time.monotonic() - started < 2


def test_no_second_attempt_starts_when_its_pause_would_outlast_the_functions_time():
    # given a check that fails, and a pause of 5 s between attempts
    calls, handler = reports(CheckReport(problems=["permission: denied"]), pause_seconds=5)

    # when the function has 3 s left after its margin
    with pytest.raises(check.ConnectionCheckFailed, match="permission: denied"):
        handler(event("Create"), LambdaContext(timeout_seconds=SETTINGS.deadline_margin_ms / 1000 + 3))

    # then it fails with the first attempt's reason instead of pausing past its time
    assert len(calls) == 1
