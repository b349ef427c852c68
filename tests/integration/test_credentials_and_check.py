"""Credentials modes and the connection check, against moto's STS, Secrets Manager and Kinesis."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs

import boto3
import pytest

from kinesis_export import credentials as credentials_module
from kinesis_export.config import parse_config
from kinesis_export.connection import PROBE_PARTITION_KEY, check_connection
from kinesis_export_cli.local import poll_once, read_stream
from kinesis_export_cli.main import main
from tests.integration.conftest import REGION
from tests.support import EXAMPLE_CONFIG, body, profile_event

ROLE_ARN = "arn:aws:iam::123456789012:role/kinesis-writer"


def signers(proxy, action: str) -> set[str]:
    return {key for name, key, _ in proxy.requests if name == action}


def export_one(pipeline, ecid: str) -> None:
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=body(profile_event(ecid)))
    assert poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)[1] == []


def test_assume_role_mode_writes_with_the_assumed_role_and_its_external_id(start_pipeline, fault_proxy):
    credentials = {"mode": "assumeRole", "roleArn": ROLE_ARN, "externalId": "crm-7f3a"}
    pipeline = start_pipeline(credentials=credentials)

    export_one(pipeline, "profile-1")

    assume = [parse_qs(request.decode()) for name, _, request in fault_proxy.requests if name == "AssumeRole"]
    assert [(a["RoleArn"], a["ExternalId"]) for a in assume] == [([ROLE_ARN], ["crm-7f3a"])]
    assert signers(fault_proxy, "AssumeRole") == {"testing"}, "assumed with the function's own credentials"
    put_signers = signers(fault_proxy, "PutRecords")
    assert len(put_signers) == 1 and next(iter(put_signers)).startswith("ASIA"), put_signers
    assert [r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)] == ["profile-1"]


def test_access_key_mode_reads_the_key_from_secrets_manager_and_picks_up_a_rotation(
    start_pipeline, fault_proxy, moto_endpoint, monkeypatch
):
    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_endpoint)
    secret = json.dumps({"accessKeyId": "AKIAFIRSTKEY00000001", "secretAccessKey": "first-secret"})
    secret_arn = secrets.create_secret(Name="kinesis-export/keys", SecretString=secret)["ARN"]
    # Refresh at every use instead of every five minutes, so the rotation shows at once.
    monkeypatch.setattr(credentials_module, "_ACCESS_KEY_REFRESH", timedelta(0))
    pipeline = start_pipeline(credentials={"mode": "accessKey", "secretArn": secret_arn})

    export_one(pipeline, "profile-1")
    rotated = json.dumps({"accessKeyId": "AKIASECONDKEY0000002", "secretAccessKey": "second-secret"})
    secrets.put_secret_value(SecretId=secret_arn, SecretString=rotated)
    fault_proxy.requests.clear()
    export_one(pipeline, "profile-2")

    assert signers(fault_proxy, "PutRecords") == {"AKIASECONDKEY0000002"}
    assert signers(fault_proxy, "GetSecretValue") == {"testing"}
    assert sorted(r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)) == [
        "profile-1",
        "profile-2",
    ]


def config_for(stream_name: str, **changes) -> object:
    data = json.loads(EXAMPLE_CONFIG.read_text())
    data["stream"] = {"name": stream_name, "region": REGION}
    data.update(changes)
    return parse_config(data)


def test_check_passes_and_probe_record_reaches_the_stream(start_pipeline):
    pipeline = start_pipeline()

    report = check_connection(config_for(pipeline.stream_name), REGION, probe=True)

    assert report.problems == []
    assert report.passed == [
        "credentials resolve (executionRole)",
        f"stream {pipeline.stream_name} is ACTIVE in {REGION}",
        f"probe record written (partition key {PROBE_PARTITION_KEY})",
    ]
    probe = read_stream(pipeline.kinesis, pipeline.stream_name)
    assert [r.partition_key for r in probe] == [PROBE_PARTITION_KEY]
    assert probe[0].json()["kinesisExportProbe"]["destination"] == "crm-prospects"


def test_check_names_a_missing_and_a_deleted_stream(start_pipeline):
    pipeline = start_pipeline()
    pipeline.kinesis.create_stream(StreamName="gone", ShardCount=1)
    pipeline.kinesis.delete_stream(StreamName="gone")

    for name in ("never-created", "gone"):
        report = check_connection(config_for(name), REGION)
        assert report.problems == [f"stream.name: no stream named {name!r} in {REGION} for these credentials"]


@pytest.mark.parametrize(
    ("denied", "credentials", "expected"),
    [
        (
            "ListStreams",
            None,
            "permission: kinesis:ListStreams denied in us-east-1 (AccessDeniedException); grant it to these "
            "credentials",
        ),
        (
            "PutRecord",
            None,
            "permission: kinesis:PutRecord denied in us-east-1 (AccessDeniedException); grant it to these credentials",
        ),
        (
            "AssumeRole",
            {"mode": "assumeRole", "roleArn": ROLE_ARN, "externalId": "wrong-id"},
            f"credentials.roleArn: cannot assume {ROLE_ARN} (AccessDenied); check sts:AssumeRole on it for these "
            "credentials, and the role's trust policy and external ID",
        ),
    ],
)
def test_check_names_denied_permissions_but_not_the_caller(start_pipeline, fault_proxy, denied, credentials, expected):
    # AWS's message for a denied call names the caller (a user, or a role session often named for a person): left out
    pipeline = start_pipeline()
    fault_proxy.denied.add(denied)
    config = config_for(pipeline.stream_name, **({"credentials": credentials} if credentials else {}))

    report = check_connection(config, REGION, probe=True)

    assert report.problems == [expected]


def test_check_command_exits_non_zero_with_its_failure_on_stderr(start_pipeline, tmp_path, capsys):
    start_pipeline()
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": "missing-stream", "region": REGION}
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))

    status = main(["check", str(path)])

    assert status == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["ok    credentials resolve (executionRole)"]
    assert captured.err.splitlines() == [
        f"FAIL  stream.name: no stream named 'missing-stream' in {REGION} for these credentials"
    ]


def sized_config_file(tmp_path, stream_name: str, **stream: object):
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": stream_name, "region": REGION, **stream}
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))
    return path


def test_check_fails_naming_the_setting_until_the_stream_takes_records_as_large_as_the_config_says(
    start_pipeline, tmp_path, capsys
):
    # given an existing stream of 1 MiB records, and a config saying it takes 10 MiB ones
    pipeline = start_pipeline()
    path = sized_config_file(tmp_path, pipeline.stream_name, maxRecordSizeKiB=10240)

    # when it is checked, then the check fails with one line naming the setting and what to do
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"FAIL  stream.maxRecordSizeKiB: the config says 10240 KiB, stream {pipeline.stream_name!r} takes at most "
        "1024 KiB: raise it with UpdateMaxRecordSize or lower the setting"
    ]

    # and once the stream is raised to 10 MiB records, the check passes, saying what it read
    arn = pipeline.kinesis.describe_stream_summary(StreamName=pipeline.stream_name)["StreamDescriptionSummary"]
    pipeline.kinesis.update_max_record_size(StreamARN=arn["StreamARN"], MaxRecordSizeInKiB=10240)
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ok    credentials resolve (executionRole)",
        f"ok    stream {pipeline.stream_name} is ACTIVE in {REGION}",
        f"ok    stream {pipeline.stream_name} takes records of up to 10240 KiB (stream.maxRecordSizeKiB: 10240)",
    ]


def test_check_reads_the_streams_record_size_only_when_the_config_says_more_than_one_mebibyte(
    start_pipeline, fault_proxy
):
    # given a stream of 2 MiB records
    pipeline = start_pipeline(max_record_size_kib=2048)
    stream = {"name": pipeline.stream_name, "region": REGION}

    # when it is checked with a config of 2 MiB records, of 1 MiB ones, and as a stream the stack creates
    read = []
    for changes in ({"maxRecordSizeKiB": 2048}, {}, {"maxRecordSizeKiB": 2048, "create": True}):
        fault_proxy.requests.clear()
        report = check_connection(config_for(pipeline.stream_name, stream={**stream, **changes}), REGION)
        assert report.problems == []
        read.append(signers(fault_proxy, "DescribeStreamSummary") != set())

    # then only the first reads it: every stream takes 1 MiB, and a created stream's is the stack's to set
    assert read == [True, False, False]


def test_check_names_denied_describe_stream_summary_and_why_it_is_needed(start_pipeline, fault_proxy):
    pipeline = start_pipeline(max_record_size_kib=2048)
    fault_proxy.denied.add("DescribeStreamSummary")
    stream = {"name": pipeline.stream_name, "region": REGION, "maxRecordSizeKiB": 2048}

    report = check_connection(config_for(pipeline.stream_name, stream=stream), REGION, probe=True)

    # one line, naming the permission, not the caller; the probe is not tried
    assert report.problems == [
        "permission: kinesis:DescribeStreamSummary denied in us-east-1 (AccessDeniedException); grant it to these "
        "credentials (the check reads the stream's largest record with it, as stream.maxRecordSizeKiB is 2048)"
    ]
    assert signers(fault_proxy, "PutRecord") == set()
