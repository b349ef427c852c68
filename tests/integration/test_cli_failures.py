"""Every command's ordinary failure is one line on stderr and an exit status, never a traceback.

Each condition (no region, no credentials, no network, access denied, stack not deployed, a
secret of the wrong shape) is run against each command it applies to, in-process; one case per
command also runs as a real subprocess, with a controlled environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from kinesis_export_cli.local import LOCAL_CREDENTIALS
from kinesis_export_cli.main import main
from tests.faultproxy import FaultProxy
from tests.integration.conftest import REGION
from tests.support import EXAMPLE_CONFIG, ROOT, profile_event

NO_REGION = "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION"
NO_CREDENTIALS = "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
UNREACHABLE = "cannot reach "
DENIED = "access denied"
NOT_DEPLOYED = "stack KinesisExport-crm-prospects is not deployed"
SECRET_SHAPE = "must be JSON with accessKeyId and secretAccessKey"


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """No AWS settings at all (no region, credentials, profile files or instance metadata), then those given."""

    def use(**variables: str) -> dict[str, str]:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return dict(os.environ)

    return use


# moto's state is one per process, shared by every in-process server: a name of this module's own.
STREAM = "cli-failures-exports"


def config_file(tmp_path: Path, *, region: str | None = None, **changes: object) -> Path:
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": STREAM, **({"region": region} if region else {})}
    config.update(changes)
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))
    return path


def members(tmp_path: Path) -> Path:
    path = tmp_path / "members.jsonl"
    path.write_text(json.dumps(profile_event("member-1")) + "\n")
    return path


def command(name: str, tmp_path: Path, config: Path, queue: str) -> list[str]:
    return {
        "check": ["check", str(config)],
        "backfill": ["backfill", str(config), str(members(tmp_path)), "--quiet"],
        "rejects": ["rejects", queue],
        "redrive": ["redrive", queue, "--dry-run"],
    }[name]


def assert_one_line(status: int, err: str, expected: str, *, exit_status: int = 1) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]
    assert status == exit_status, err


def run_subprocess(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**env, "PYTHONPATH": str(ROOT / "lambdas")}
    return subprocess.run(
        [sys.executable, "-m", "kinesis_export", *args], env=env, capture_output=True, text=True, timeout=120
    )


ALL = ["check", "backfill", "rejects", "redrive"]


@pytest.mark.parametrize("name", ALL)
def test_no_region_is_one_line_naming_the_variables(name, environment, moto_endpoint, tmp_path, capsys):
    environment(**LOCAL_CREDENTIALS, AWS_ENDPOINT_URL=moto_endpoint)
    config = config_file(tmp_path)  # no stream.region

    status = main(command(name, tmp_path, config, f"{moto_endpoint}/123456789012/rejects"))

    assert_one_line(status, capsys.readouterr().err, NO_REGION)


@pytest.mark.parametrize("name", ALL)
def test_no_credentials_is_one_line_naming_the_variables(name, environment, moto_endpoint, tmp_path, capsys):
    environment(AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    config = config_file(tmp_path)

    status = main(command(name, tmp_path, config, f"{moto_endpoint}/123456789012/rejects"))

    assert_one_line(status, capsys.readouterr().err, NO_CREDENTIALS)


@pytest.mark.parametrize("name", ALL)
def test_an_unreachable_endpoint_is_one_line_naming_it(name, environment, tmp_path, capsys):
    closed = closed_port_url()
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=closed)
    config = config_file(tmp_path)

    status = main(command(name, tmp_path, config, f"{closed}/123456789012/rejects"))

    assert_one_line(status, capsys.readouterr().err, UNREACHABLE + closed)


@pytest.mark.parametrize(
    ("name", "denied"),
    [
        ("check", {"ListStreams"}),
        ("backfill", {"PutRecords"}),
        ("rejects", {"ReceiveMessage"}),
        ("redrive", {"GetQueueAttributes"}),
    ],
)
def test_access_denied_is_one_line_naming_the_action_not_the_caller(
    name, denied, environment, moto_endpoint, fault_proxy, tmp_path, capsys
):
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    boto3.client("kinesis", region_name=REGION).create_stream(StreamName=STREAM, ShardCount=1)
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="denied")["QueueUrl"]
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=fault_proxy.url)
    fault_proxy.denied.update(denied)
    config = config_file(tmp_path)

    try:
        status = main(command(name, tmp_path, config, queue))
    finally:
        boto3.client("kinesis", region_name=REGION, endpoint_url=moto_endpoint).delete_stream(StreamName=STREAM)

    err = capsys.readouterr().err
    assert_one_line(status, err, "denied")
    assert next(iter(denied)) in err
    assert "not authorized" not in err, "AWS's message names the caller: never printed"


@pytest.mark.parametrize("name", ["rejects", "redrive"])
def test_a_stack_that_is_not_deployed_is_one_line_saying_so(name, environment, moto_endpoint, tmp_path, capsys):
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    config = config_file(tmp_path, region=REGION)

    status = main(command(name, tmp_path, config, str(config)))

    assert_one_line(status, capsys.readouterr().err, NOT_DEPLOYED)


@pytest.mark.parametrize("name", ["check", "backfill"])
@pytest.mark.parametrize(
    "secret", ['{"accessKeyId": "AKIA0000000000000001"}', "not json", '{"accessKeyId": 1, "secretAccessKey": 2}']
)
def test_an_access_key_secret_of_the_wrong_shape_is_one_line(
    name, secret, environment, moto_endpoint, tmp_path, capsys
):
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name=f"wrong-{uuid.uuid4().hex}", SecretString=secret)["ARN"]
    config = config_file(tmp_path, region=REGION, credentials={"mode": "accessKey", "secretArn": arn})

    status = main(command(name, tmp_path, config, ""))

    assert_one_line(status, capsys.readouterr().err, SECRET_SHAPE)


def test_check_honours_aws_region_as_the_sdks_do(environment, moto_endpoint, tmp_path, capsys):
    # given only AWS_REGION (as Lambda and the other SDKs set it), no AWS_DEFAULT_REGION, no stream.region
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    boto3.client("kinesis", region_name=REGION).create_stream(StreamName="regional", ShardCount=1)
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": "regional"}
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))

    status = main(["check", str(path)])

    captured = capsys.readouterr()
    assert (status, captured.err) == (0, "")
    assert f"ok    stream regional is ACTIVE in {REGION}" in captured.out.splitlines()


def test_rejects_honours_aws_default_region_alone(environment, moto_endpoint, capsys):
    environment(**LOCAL_CREDENTIALS, AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="default-region")["QueueUrl"]

    assert main(["rejects", queue]) == 0
    assert capsys.readouterr().out.strip() == "0 rejected messages (none)"


# One case per command as a real process: what an operator's terminal shows.


def test_check_without_a_region_in_a_process(environment, moto_endpoint, tmp_path):
    env = environment(**LOCAL_CREDENTIALS, AWS_ENDPOINT_URL=moto_endpoint)

    done = run_subprocess(["check", str(config_file(tmp_path))], env)

    assert_one_line(done.returncode, done.stderr, NO_REGION)


def test_backfill_without_credentials_in_a_process(environment, moto_endpoint, tmp_path):
    env = environment(AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)

    done = run_subprocess(["backfill", str(config_file(tmp_path)), str(members(tmp_path)), "--quiet"], env)

    assert_one_line(done.returncode, done.stderr, NO_CREDENTIALS)


def test_rejects_without_network_in_a_process(environment, tmp_path):
    closed = closed_port_url()
    env = environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=closed)

    done = run_subprocess(["rejects", f"{closed}/123456789012/rejects"], env)

    assert_one_line(done.returncode, done.stderr, UNREACHABLE + closed)


def test_redrive_of_a_stack_not_deployed_in_a_process(environment, moto_endpoint, tmp_path):
    env = environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)

    done = run_subprocess(["redrive", str(config_file(tmp_path, region=REGION))], env)

    assert_one_line(done.returncode, done.stderr, NOT_DEPLOYED)


def test_rejects_denied_in_a_process(environment, moto_endpoint, fault_proxy: FaultProxy, tmp_path):
    environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_endpoint)
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="denied-process")["QueueUrl"]
    env = environment(**LOCAL_CREDENTIALS, AWS_REGION=REGION, AWS_ENDPOINT_URL=fault_proxy.url)
    fault_proxy.denied.add("ReceiveMessage")

    done = run_subprocess(["rejects", queue], env)

    assert_one_line(done.returncode, done.stderr, DENIED)
    assert "ReceiveMessage" in done.stderr
