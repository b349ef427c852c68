"""The `kinesis-export` command line: `demo` (the sample events on a local Kinesis), `check` (a
destination's connection), `backfill` (every member of a segment, from a file), and `rejects` and
`redrive` for operators."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from kinesis_export.config import ConfigError, load_config

if TYPE_CHECKING:
    import boto3


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


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def check(config_path: Path, probe: bool, as_json: bool = False) -> int:
    """Check a destination's credentials and stream (and PutRecord with --probe); 1 if anything fails."""
    from kinesis_export.connection import check_connection
    from kinesis_export.credentials import aws_region

    config = load_config(config_path)
    report = check_connection(config, aws_region(), probe=probe)
    if as_json:  # the same lines as the text output, which name settings and permissions, never data
        _print_json({"ok": report.ok, "passed": report.passed, "problems": report.problems})
        return 0 if report.ok else 1
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
    as_json: bool = False,
    profile_table: str | None = None,
) -> int:
    """Export every line of a members file; 0 when every line was exported or filtered."""
    from botocore.exceptions import ClientError, NoCredentialsError

    from kinesis_export.backfill import BackfillStopped
    from kinesis_export.connection import NO_REGION, describe_failure
    from kinesis_export.credentials import aws_region, kinesis_client, session_for
    from kinesis_export.records import RecordPlan
    from kinesis_export.writer import KinesisWriter
    from kinesis_export_cli.backfill import (
        Backfill,
        CheckpointError,
        ProgressBar,
        RateLimit,
        open_source,
        stream_capacity,
    )

    config = load_config(config_path)
    if config.profile_state is not None and not profile_table:
        raise CommandFailed(
            "profileState: the backfill seeds the profiles' state: give its table with --profile-table "
            "(the stack's ProfileTableName output)",
            2,
        )
    bucket, _, key = source.removeprefix("s3://").partition("/")
    if source.startswith("s3://") and not (bucket and key and not key.endswith("/")):
        raise CommandFailed(f"{source}: an S3 source is one object, s3://<bucket>/<key>", 2)
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
    plan = RecordPlan(config)
    profiles = None
    if config.profile_state is not None and profile_table:
        from kinesis_export.profile_store import dynamodb_profile_store
        from kinesis_export.profiles import ProfilePlan, Profiles

        # The table is the export stack's, in your account and region (not the stream's credentials').
        store = dynamodb_profile_store(profile_table, config.name, aws_region())
        profiles = Profiles(ProfilePlan(config, plan), store, config.profile_state.ttl_days)
    run = Backfill(
        plan,
        KinesisWriter(kinesis, config.stream.name),  # the client that read the capacity: one client, one session
        RateLimit(records, size),
        checkpoint,
        report=bar or (lambda progress, fraction: None),
        destination=f"stream {config.stream.name} in {region}",
        profiles=profiles,
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
    if as_json:
        _print_json(
            {
                "lines": progress.line,
                "exported": progress.exported,
                "filtered": progress.filtered,
                "rejected": progress.rejected,
                "rejectsFile": str(run.rejects_file),
            }
        )
    else:
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


def rejects(target: str, delete: bool, limit: int, as_json: bool = False) -> int:
    """List rejected messages with their codes and reasons; 1 when there are any."""
    from kinesis_export.connection import COMMAND_CLIENT
    from kinesis_export_cli.operations import read_rejects

    session = _operator_session()
    queue = _queues(session, target)["RejectsQueueUrl"]
    found = read_rejects(session.client("sqs", config=COMMAND_CLIENT), queue, delete=delete, limit=limit)
    by_code = Counter(reject.code for reject in found)
    if as_json:  # what the text output prints: ids, codes and the function's reasons (which never quote data)
        listed = [{"sourceMessageId": r.source_message_id, "code": r.code, "reason": r.reason} for r in found]
        _print_json({"rejects": listed, "byCode": dict(by_code.most_common()), "deleted": delete and bool(found)})
        return 1 if found else 0
    for reject in found:
        print(f"{reject.source_message_id}  {reject.code}  {reject.reason}")
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


EXIT_STATUSES = """exit status:
  0    done, nothing found wanting
  1    the command ran and found a problem: a failed check, rejected messages or lines, events or
       records not written, or an AWS call that failed (no region, no credentials, access denied)
  2    usage or input it cannot use: bad arguments, a config that does not validate, a file or
       checkpoint it cannot read or write
  130  backfill interrupted (Ctrl-C): the same command continues from its checkpoint
Every failure is one line on stderr."""


DISTRIBUTION = "kinesis-segment-export"  # pyproject.toml's project.name
DESCRIPTION = """Operate a Kinesis segment export: try it locally (demo), check a destination (check),
export a segment's members (backfill), and read or move back its parked messages (rejects,
redrive). `kinesis-export <command> --help` lists a command's options. The --json output of
check, backfill and rejects holds what their text prints, as one JSON document on stdout."""


def _version() -> str:
    """The installed distribution's version; a checkout run with PYTHONPATH=lambdas has none."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    """The commands, their options and their help."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="kinesis-export", description=DESCRIPTION, epilog=EXIT_STATUSES, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=summary, epilog=EXIT_STATUSES, formatter_class=formatter
        )

    demo_parser = command("demo", "run the sample events through the exporter on a local Kinesis (moto's server)")
    demo_parser.add_argument(
        "--config",
        type=Path,
        default=Path("destinations/example.json"),
        help="destination config (default: %(default)s)",
    )
    demo_parser.add_argument(
        "--events", type=Path, default=Path("events"), help="folder of sample SQS Lambda events (default: %(default)s)"
    )
    demo_parser.add_argument("--verbose", action="store_true", help="also print the function's logs and metrics")

    check_parser = command(
        "check", "check a destination's credentials, stream and permissions, as the function will use them"
    )
    check_parser.add_argument("config", type=Path, help="destination config file")
    check_parser.add_argument("--probe", action="store_true", help="also write one marked probe record (PutRecord)")
    check_parser.add_argument("--json", action="store_true", help="print the report as JSON: ok, passed, problems")

    backfill_parser = command("backfill", "export every member listed in a JSON Lines file")
    backfill_parser.add_argument("config", type=Path, help="destination config file")
    backfill_parser.add_argument("source", help="members.jsonl, members.jsonl.gz or s3://bucket/key")
    backfill_parser.add_argument("--checkpoint", type=Path, help="checkpoint file (default: <file>.checkpoint.json)")
    backfill_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill_parser.add_argument(
        "--records-per-second", type=float, help="rate limit in records (default: the stream's capacity)"
    )
    backfill_parser.add_argument(
        "--bytes-per-second", type=float, help="rate limit in bytes (default: the stream's capacity)"
    )
    backfill_parser.add_argument(
        "--restart", action="store_true", help="discard the checkpoint and export the file from its first line"
    )
    backfill_parser.add_argument(
        "--json", action="store_true", help="print the totals as JSON: lines, exported, filtered, rejected, rejectsFile"
    )
    backfill_parser.add_argument(
        "--profile-table", help="with profileState: the profile state table to seed (the stack's ProfileTableName)"
    )

    rejects_parser = command("rejects", "list rejected messages with their error codes and reasons")
    rejects_parser.add_argument("target", help="a destination config (its stack's rejects queue) or a queue URL")
    rejects_parser.add_argument("--delete", action="store_true", help="delete the messages listed")
    rejects_parser.add_argument(
        "--limit", type=_positive, default=1000, help="at most this many messages (default: %(default)s)"
    )
    rejects_parser.add_argument(
        "--json",
        action="store_true",
        help="print the list as JSON: rejects (sourceMessageId, code, reason), byCode, deleted",
    )

    redrive_parser = command("redrive", "move dead letters back to the ingest queue")
    redrive_parser.add_argument("target", help="a destination config (its stack's queues) or the dead-letter queue URL")
    redrive_parser.add_argument("--to", help="the ingest queue URL (default: from the stack)")
    redrive_parser.add_argument("--dry-run", action="store_true", help="only show what waits")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (see EXIT_STATUSES)."""
    parser = build_parser()
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
        return rejects(args.target, args.delete, args.limit, args.json)
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
            args.json,
            args.profile_table,
        )
    if args.command == "check":
        return check(args.config, args.probe, args.json)
    from kinesis_export_cli.demo import demo
    from kinesis_export_cli.local import MotoMissing, SendFailed

    try:
        return demo(args.config, args.events, args.verbose)
    except MotoMissing as error:
        raise CommandFailed(str(error), 2) from None
    except SendFailed as error:
        raise CommandFailed(str(error), 1) from None
