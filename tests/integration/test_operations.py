"""The operators' commands against moto's SQS and CloudFormation: rejects and redrive."""

from __future__ import annotations

import json

import boto3

from kinesis_export_cli.local import poll_once
from kinesis_export_cli.main import main
from tests.integration.conftest import REGION
from tests.support import EXAMPLE_CONFIG, body, profile_event


def test_rejects_are_listed_with_codes_and_reasons_and_kept_unless_deleted(start_pipeline, capsys):
    pipeline = start_pipeline()
    for raw in ("not json", json.dumps({"eventId": "e"})):
        pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=raw)
    poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    assert main(["rejects", pipeline.rejects_url]) == 1
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1] == "2 rejected messages (1 INVALID_JSON, 1 INVALID_EVENT)"
    assert any("INVALID_EVENT  identityMap: required; segmentMembership: required" in line for line in listed)

    assert main(["rejects", pipeline.rejects_url, "--delete"]) == 1
    capsys.readouterr()
    assert main(["rejects", pipeline.rejects_url]) == 0
    assert capsys.readouterr().out.strip() == "0 rejected messages (none)"


def test_dead_letters_go_back_to_the_ingest_queue_and_are_exported(start_pipeline, capsys):
    pipeline = start_pipeline()
    dead_letters = pipeline.sqs.create_queue(QueueName=pipeline.stream_name + "-dlq")["QueueUrl"]
    for n in range(12):
        pipeline.sqs.send_message(QueueUrl=dead_letters, MessageBody=body(profile_event(f"p{n}")))

    assert main(["redrive", dead_letters, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("12 messages wait in the dead-letter queue (12 tried 1 times).")
    pipeline.sqs.set_queue_attributes(QueueUrl=dead_letters, Attributes={"VisibilityTimeout": "0"})
    assert main(["redrive", dead_letters, "--to", pipeline.ingest_url]) == 0

    assert "12 of 12 messages moved back to the ingest queue" in capsys.readouterr().out
    assert poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler) == (12, [])


def test_fifo_dead_letters_go_back_to_the_fifo_ingest_queue_in_their_groups(start_pipeline, capsys):
    # given a FIFO dead-letter queue holding two profiles' messages, and a FIFO ingest queue
    sqs = start_pipeline(ingest={"fifo": True}).sqs
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dead_letters = sqs.create_queue(QueueName="redrive-dlq.fifo", Attributes=fifo)["QueueUrl"]
    ingest = sqs.create_queue(QueueName="redrive-ingest.fifo", Attributes=fifo)["QueueUrl"]
    for n in range(4):
        sqs.send_message(QueueUrl=dead_letters, MessageBody=f"message {n}", MessageGroupId=f"profile-{n % 2}")

    # when they are redriven (moto has no message move task: the command receives, sends and deletes)
    assert main(["redrive", dead_letters, "--to", ingest]) == 0

    # then each is back in its group, in its order
    assert "4 of 4 messages moved back to the ingest queue" in capsys.readouterr().out
    moved = sqs.receive_message(QueueUrl=ingest, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])
    assert [(m["Attributes"]["MessageGroupId"], m["Body"]) for m in moved["Messages"]] == [
        ("profile-0", "message 0"),
        ("profile-1", "message 1"),
        ("profile-0", "message 2"),
        ("profile-1", "message 3"),
    ]


def test_a_config_finds_its_queues_in_its_stack_outputs(start_pipeline, moto_endpoint, tmp_path, capsys):
    pipeline = start_pipeline()
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "RejectsQueueUrl": {"Value": pipeline.rejects_url},
            "IngestQueueUrl": {"Value": pipeline.ingest_url},
        },
    }
    cloudformation = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_endpoint)
    cloudformation.create_stack(StackName="KinesisExport-crm-prospects", TemplateBody=json.dumps(template))
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody="not json")
    poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    assert main(["rejects", str(EXAMPLE_CONFIG)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 rejected messages (1 INVALID_JSON)"
