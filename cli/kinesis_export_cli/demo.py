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
    message_group_id,
    moto_server,
    poll_once,
    print_records,
    print_rejects,
    profile_plan,
    read_stream,
    receive_all,
    send_messages,
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
    """Send the sample events through the handler, against moto's server, and show the stream; 1 if any failed.

    With `ingest.fifo` the ingest queue is FIFO, as the stack makes it: each message goes with its profile as
    MessageGroupId, and Lambda's poller is played batch after batch of ten until the queue is empty (or a
    message fails), moto's queue delivering each group in order.
    """
    config = load_config(config_path)
    bodies = sample_bodies(events_dir)
    region = config.stream.region or "us-east-1"
    fifo = config.ingest.fifo
    with moto_server() as endpoint:
        print(f"moto's server (Kinesis and SQS APIs) listening on {endpoint}")
        os.environ.update(LOCAL_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_REGION=region, AWS_DEFAULT_REGION=region)
        kinesis = boto3.client("kinesis", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        kinesis.create_stream(StreamName=config.stream.name, ShardCount=2)
        if fifo:
            ingest_url = sqs.create_queue(
                QueueName=f"{config.name}-ingest.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )["QueueUrl"]
        else:
            ingest_url = sqs.create_queue(QueueName=f"{config.name}-ingest")["QueueUrl"]
        rejects_url = sqs.create_queue(QueueName=f"{config.name}-rejects")["QueueUrl"]
        plan = profile_plan(config)
        send_messages(sqs, ingest_url, bodies, (lambda body: message_group_id(body, plan)) if fifo else None)
        queue = "the FIFO ingest queue, each with its profile as MessageGroupId" if fifo else "the ingest queue"
        print(f"created stream {config.stream.name!r} (2 shards); sent {len(bodies)} messages to {queue}\n")

        # The function's settings come from its environment, as on Lambda.
        os.environ.update(DESTINATION_CONFIG_FILE=str(config_path), REJECTS_QUEUE_URL=rejects_url)
        function_output = io.StringIO()
        delivered, batches = 0, 0
        failed: list[str] = []
        with redirect_stdout(function_output):
            # Imported only now: the handler reads its settings from the environment when it starts.
            from kinesis_export.handlers.export import handler

            # A standard queue's samples fit one batch. A FIFO queue's batches hold ten at most: one after
            # another, as long as none fails (a demo shows what happened; it does not retry).
            while not failed and (batches == 0 or fifo):
                taken, failed = poll_once(sqs, ingest_url, handler, batch_size=config.ingest.batch_size)
                if not taken:
                    break
                delivered, batches = delivered + taken, batches + 1

        records = read_stream(kinesis, config.stream.name)
        print_records(records)
        rejected = receive_all(sqs, rejects_url)
        print_rejects(rejected)

        logs = [json.loads(line) for line in function_output.getvalue().splitlines() if line.startswith("{")]
        summary: Counter[str] = Counter()
        for line in logs:
            if line.get("message") == "batch exported":
                summary.update({key: value for key, value in line.items() if isinstance(value, int)})
        if verbose:
            print("\nfunction output (Powertools logs and EMF metrics):")
            print(function_output.getvalue())
        in_batches = "in one Lambda batch" if batches == 1 else f"in {batches} Lambda batches"
        print(
            f"\n{delivered} messages ({summary['received']} events) {in_batches}: "
            f"{summary['exported']} exported, "
            f"{summary['filtered']} filtered (no mapped segment or identity), {len(rejected)} rejected, "
            f"{len(failed)} failed; {len(records)} records on the stream, "
            f"in {summary['put_records_calls']} PutRecords call(s)"
        )
        shards = Counter(record.shard_id for record in records)
        print("records per shard: " + ", ".join(f"{shard} {count}" for shard, count in sorted(shards.items())))
    return 0 if not failed else 1
