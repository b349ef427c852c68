"""`kinesis-export demo`: the sample events through the export function, against moto's server on loopback."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

import boto3

from kinesis_export.config import load_config
from kinesis_export_cli.local import (
    LOCAL_CREDENTIALS,
    moto_server,
    poll_once,
    print_records,
    print_rejects,
    read_stream,
    receive_all,
)


def sample_bodies(events_dir: Path) -> list[str]:
    """Message bodies from the sample SQS Lambda events (every *.json holding Records)."""
    bodies: list[str] = []
    for path in sorted(events_dir.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(sample, dict) and "Records" in sample:
            bodies.extend(record["body"] for record in sample["Records"])
    return bodies


def demo(config_path: Path, events_dir: Path, verbose: bool) -> int:
    """Send the sample events through the handler, against moto's server, and show the stream; 1 if any failed."""
    config = load_config(config_path)
    bodies = sample_bodies(events_dir)
    region = config.stream.region or "us-east-1"
    with moto_server() as endpoint:
        print(f"moto's server (Kinesis and SQS APIs) listening on {endpoint}")
        os.environ.update(LOCAL_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_REGION=region, AWS_DEFAULT_REGION=region)
        kinesis = boto3.client("kinesis", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        kinesis.create_stream(StreamName=config.stream.name, ShardCount=2)
        ingest_url = sqs.create_queue(QueueName=f"{config.name}-ingest")["QueueUrl"]
        rejects_url = sqs.create_queue(QueueName=f"{config.name}-rejects")["QueueUrl"]
        for body in bodies:
            sqs.send_message(QueueUrl=ingest_url, MessageBody=body)
        print(f"created stream {config.stream.name!r} (2 shards); sent {len(bodies)} messages to the ingest queue\n")

        # The function's settings come from its environment, as on Lambda.
        os.environ.update(DESTINATION_CONFIG_FILE=str(config_path), REJECTS_QUEUE_URL=rejects_url)
        function_output = io.StringIO()
        with redirect_stdout(function_output):
            # Imported only now: the handler reads its settings from the environment when it starts.
            from kinesis_export.handlers.export import handler

            delivered, failed = poll_once(sqs, ingest_url, handler, batch_size=config.ingest.batch_size)

        records = read_stream(kinesis, config.stream.name)
        print_records(records)
        rejected = receive_all(sqs, rejects_url)
        print_rejects(rejected)

        logs = [json.loads(line) for line in function_output.getvalue().splitlines() if line.startswith("{")]
        summary: dict[str, int] = next((line for line in logs if line.get("message") == "batch exported"), {})
        if verbose:
            print("\nfunction output (Powertools logs and EMF metrics):")
            print(function_output.getvalue())
        print(
            f"\n{delivered} messages ({summary.get('received', 0)} events) in one Lambda batch: "
            f"{summary.get('exported', 0)} exported, "
            f"{summary.get('filtered', 0)} filtered (no mapped segment or identity), {len(rejected)} rejected, "
            f"{len(failed)} failed; {len(records)} records on the stream, "
            f"in {summary.get('put_records_calls', 0)} PutRecords call(s)"
        )
        shards = Counter(record.shard_id for record in records)
        print("records per shard: " + ", ".join(f"{shard} {count}" for shard, count in sorted(shards.items())))
    return 0 if not failed else 1
