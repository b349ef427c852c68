"""The command line: `demo` (the sample events on a local Kinesis), `check` (a destination's connection)
`backfill` (every member of a segment, from a file), and `rejects` and `redrive` for operators."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

from kinesis_export.config import ConfigError, load_config

if TYPE_CHECKING:
    import boto3


def _sample_bodies(events_dir: Path) -> list[str]:
    """Message bodies from the sample SQS Lambda events (every *.json holding Records)."""
    bodies: list[str] = []
    for path in sorted(events_dir.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(sample, dict) and "Records" in sample:
            bodies.extend(record["body"] for record in sample["Records"])
    return bodies


def demo(config_path: Path, events_dir: Path, verbose: bool) -> int:
    """Send the sample events through the handler, against moto's server, and show the stream."""
    import boto3

    from kinesis_export_cli.local import LOCAL_CREDENTIALS, moto_server, poll_once, read_stream, receive_all

    config = load_config(config_path)
    bodies = _sample_bodies(events_dir)
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
            from kinesis_export.handlers.export import handler

            delivered, failed = poll_once(sqs, ingest_url, handler, batch_size=config.ingest.batch_size)

        records = read_stream(kinesis, config.stream.name)
        for record in records:
            print(f"{record.shard_id}  partition key {record.partition_key}")
            print(json.dumps(record.json(), indent=2, ensure_ascii=False), end="\n\n")
        rejected = receive_all(sqs, rejects_url)
        for message in rejected:
            attributes = message["MessageAttributes"]
            code = attributes["errorCode"]["StringValue"]
            print(f"rejected ({code}): {attributes['errorReason']['StringValue']}")

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


class CommandFailed(Exception):
    """An ordinary failure a command words itself: one line on stderr, and the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _operator_session() -> boto3.Session:
    """The session of the operator's commands (rejects, redrive): the region as the SDKs resolve it."""
    import boto3

    from kinesis_export.connection import NO_REGION
    from kinesis_export.credentials import aws_region

    region = aws_region()
    if not region:
        raise CommandFailed(f"{NO_REGION} (or a region in your AWS profile)")
    return boto3.Session(region_name=region)


def check(config_path: Path, probe: bool) -> int:
    """Check a destination's credentials and stream (and PutRecord with --probe); 1 if anything fails."""
    from kinesis_export.connection import check_connection
    from kinesis_export.credentials import aws_region

    config = load_config(config_path)
    report = check_connection(config, aws_region(), probe=probe)
    for line in report.passed:
        print(f"ok    {line}", flush=True)
    for line in report.problems:
        print(f"FAIL  {line}", file=sys.stderr)
    return 0 if report.ok else 1


def backfill(
    config_path: Path,
    source: str,
    checkpoint: Path | None,
    quiet: bool,
    records: float | None,
    size: float | None,
    restart: bool = False,
) -> int:
    """Export every line of a members file; 0 when every line was exported or filtered."""
    from botocore.exceptions import ClientError, NoCredentialsError

    from kinesis_export.backfill import BackfillStopped
    from kinesis_export.connection import NO_REGION, describe_failure
    from kinesis_export.credentials import aws_region, kinesis_client, session_for, stream_writer
    from kinesis_export.records import RecordPlan
    from kinesis_export_cli.backfill import (
        Backfill,
        CheckpointError,
        ProgressBar,
        RateLimit,
        open_source,
        stream_capacity,
    )

    config = load_config(config_path)
    region = config.stream.region or aws_region()
    if not region:
        raise CommandFailed(f"{NO_REGION}, or stream.region in the config")
    # One session for both: with assumeRole or accessKey, one role assumed, one secret read.
    session = session_for(config)
    credentials = session.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    credentials.get_frozen_credentials()  # the role assumed, the secret read: a failure is said before any work
    kinesis = kinesis_client(config, region, session=session)
    if records is None or size is None:
        try:
            capacity = stream_capacity(kinesis, config.stream.name)
        except ClientError as error:
            capacity = (1000.0, 1024 * 1024.0)
            print(f"stream capacity unknown ({describe_failure(error)}); assuming one shard's", file=sys.stderr)
        records, size = records or capacity[0], size or capacity[1]
    if checkpoint is None:
        name = source.rpartition("/")[2] if source.startswith("s3://") else source
        checkpoint = Path(name + ".checkpoint.json")
    try:
        file = open_source(source, session.client("s3", region_name=region) if source.startswith("s3://") else None)
    except OSError as error:
        raise CommandFailed(f"cannot read {source}: {error.strerror or type(error).__name__}", 2) from None
    bar = None if quiet else ProgressBar()
    run = Backfill(
        RecordPlan(config),
        stream_writer(config, region, session=session),
        RateLimit(records, size),
        checkpoint,
        report=bar or (lambda progress, fraction: None),
        destination=f"stream {config.stream.name} in {region}",
    )
    try:
        progress = run.run(file, restart=restart)
    except KeyboardInterrupt:
        raise CommandFailed(f"interrupted: run the same command to continue from {checkpoint}", 130) from None
    except CheckpointError as error:
        raise CommandFailed(str(error), 2) from None
    except BackfillStopped as error:
        raise CommandFailed(f"stopped: {error}") from None
    except OSError as error:  # the checkpoint or the rejects file: a missing folder, a directory, no permission
        where = error.filename or checkpoint
        raise CommandFailed(f"cannot write {where}: {error.strerror or type(error).__name__}", 2) from None
    finally:
        file.close()
        if bar:
            bar.close()
    print(
        f"{progress.line:,} lines: {progress.exported:,} exported, {progress.filtered:,} filtered, "
        f"{progress.rejected:,} rejected (line numbers and reasons in {run.rejects_file})"
    )
    return 0 if not progress.rejected else 1


def _queues(session: boto3.Session, target: str) -> dict[str, str]:
    """Queue URLs: from the destination's stack outputs when given a config file, else the URL itself."""
    from kinesis_export.connection import COMMAND_CLIENT
    from kinesis_export_cli.operations import stack_queues

    if target.endswith(".json"):
        cloudformation = session.client("cloudformation", config=COMMAND_CLIENT)
        return stack_queues(cloudformation, load_config(target).name)
    return {"RejectsQueueUrl": target, "DeadLetterQueueUrl": target}


def rejects(target: str, delete: bool, limit: int) -> int:
    """List rejected messages with their codes and reasons; 1 when there are any."""
    from kinesis_export.connection import COMMAND_CLIENT
    from kinesis_export_cli.operations import read_rejects

    session = _operator_session()
    queue = _queues(session, target)["RejectsQueueUrl"]
    found = read_rejects(session.client("sqs", config=COMMAND_CLIENT), queue, delete=delete, limit=limit)
    for reject in found:
        print(f"{reject.source_message_id}  {reject.code}  {reject.reason}")
    by_code = Counter(reject.code for reject in found)
    summary = ", ".join(f"{count} {code}" for code, count in by_code.most_common()) or "none"
    print(f"{len(found)} rejected messages ({summary}){'; deleted' if delete and found else ''}")
    return 1 if found else 0


def redrive_command(target: str, to: str | None, dry_run: bool) -> int:
    """Move dead letters back to the ingest queue (after the cause is fixed), or show what waits."""
    from kinesis_export.connection import COMMAND_CLIENT
    from kinesis_export_cli.operations import redrive

    session = _operator_session()
    queues = _queues(session, target)
    ingest = to or queues.get("IngestQueueUrl")
    if not ingest and not dry_run:
        raise CommandFailed("no ingest queue: pass --to <ingest queue URL>", 2)
    sqs = session.client("sqs", config=COMMAND_CLIENT)
    result = redrive(sqs, queues["DeadLetterQueueUrl"], ingest or "", dry_run=dry_run)
    if dry_run:
        tries = ", ".join(f"{count} tried {n} times" for n, count in sorted(result.receive_counts.items()))
        print(f"{result.waiting} messages wait in the dead-letter queue ({tries or 'none looked at'}).")
        print("Their failure reasons are in the function's logs ('message failed'); fix the cause, then redrive.")
    else:
        print(f"{result.moved} of {result.waiting} messages moved back to the ingest queue ({result.method})")
    return 0


def _positive(text: str) -> int:
    """A whole number above zero, for argparse."""
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kinesis_export", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="run the sample events through the exporter on a local Kinesis")
    demo_parser.add_argument("--config", type=Path, default=Path("destinations/example.json"))
    demo_parser.add_argument("--events", type=Path, default=Path("events"))
    demo_parser.add_argument("--verbose", action="store_true", help="also print the function's logs and metrics")
    check_parser = commands.add_parser(
        "check", help="check a destination's credentials, stream and permissions, as the function will use them"
    )
    check_parser.add_argument("config", type=Path)
    check_parser.add_argument("--probe", action="store_true", help="also write one marked probe record (PutRecord)")
    backfill_parser = commands.add_parser("backfill", help="export every member listed in a JSON Lines file")
    backfill_parser.add_argument("config", type=Path)
    backfill_parser.add_argument("source", help="members.jsonl, members.jsonl.gz or s3://bucket/key")
    backfill_parser.add_argument("--checkpoint", type=Path, help="default: <file>.checkpoint.json")
    backfill_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill_parser.add_argument("--records-per-second", type=float, help="default: the stream's capacity")
    backfill_parser.add_argument("--bytes-per-second", type=float, help="default: the stream's capacity")
    backfill_parser.add_argument(
        "--restart", action="store_true", help="discard the checkpoint and export the file from its first line"
    )
    rejects_parser = commands.add_parser("rejects", help="list rejected messages with their error codes and reasons")
    rejects_parser.add_argument("target", help="a destination config (its stack's rejects queue) or a queue URL")
    rejects_parser.add_argument("--delete", action="store_true", help="delete the messages listed")
    rejects_parser.add_argument(
        "--limit", type=_positive, default=1000, help="at most this many messages (default: 1000)"
    )
    redrive_parser = commands.add_parser("redrive", help="move dead letters back to the ingest queue")
    redrive_parser.add_argument("target", help="a destination config (its stack's queues) or the dead-letter queue URL")
    redrive_parser.add_argument("--to", help="the ingest queue URL (default: from the stack)")
    redrive_parser.add_argument("--dry-run", action="store_true", help="only show what waits")
    args = parser.parse_args(argv)
    # The ordinary failures of AWS calls (no region, no credentials, no network, access denied, a stack
    # not deployed, a secret of the wrong shape) are one line each, from one place.
    from botocore.exceptions import BotoCoreError, ClientError

    from kinesis_export.connection import describe_failure
    from kinesis_export.credentials import SecretError
    from kinesis_export_cli.operations import StackNotDeployed

    try:
        return _run(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(error, file=sys.stderr)
        return error.status
    except (BotoCoreError, ClientError, SecretError, StackNotDeployed) as error:
        print(describe_failure(error), file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "rejects":
        return rejects(args.target, args.delete, args.limit)
    if args.command == "redrive":
        return redrive_command(args.target, args.to, args.dry_run)
    if args.command == "backfill":
        return backfill(
            args.config,
            args.source,
            args.checkpoint,
            args.quiet,
            args.records_per_second,
            args.bytes_per_second,
            args.restart,
        )
    if args.command == "check":
        return check(args.config, args.probe)
    return demo(args.config, args.events, args.verbose)
