"""`make local-deploy`: every destination deployed by the real aws-cdk CLI onto the local cloud, and the sample
events through what the deployment made.

The stacks are synthesized and deployed by `npx cdk` (bootstrap included), as an operator deploys them.
The sample events go to the deployed ingest queue; the deployed function's code runs on them, from its
deployed zip and with its deployed environment (localcloud.invoke), fed by a poller that follows the
deployed event source mapping (batch size, batching window, partial batch responses) and the queue's
redrive policy. The records on the deployed stream and the messages on the deployed rejects queue are
shown. The local cloud lives in this process: when it ends, nothing is left running.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinesis_export.config import parse_config
from kinesis_export_cli.demo import sample_bodies
from kinesis_export_cli.local import (
    LOCAL_CREDENTIALS,
    MotoMissing,
    SendFailed,
    StreamRecord,
    local_client,
    message_group_id,
    print_records,
    print_rejects,
    profile_plan,
    read_stream,
    receive_all,
    send_messages,
    settle_messages,
    sqs_lambda_event,
)
from kinesis_export_cli.localcloud import (
    DEFAULT_ACCOUNT,
    LOG_TAIL_LINES,
    DeployedFunction,
    FunctionError,
    assumed_credentials,
    deployed_function,
    invoke,
    local_cloud,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CDK = ["npx", "--no-install", "cdk"]


class DeployFailed(RuntimeError):
    """`cdk deploy` failed: str() holds the CLI's own lines about the failure."""


@dataclass(frozen=True)
class Stack:
    """One stack of the cloud assembly: its name, where it deploys, and the stacks it needs first."""

    name: str
    account: str
    region: str
    template: dict[str, Any]
    depends_on: tuple[str, ...]


@dataclass
class Cloud:
    """The local cloud's endpoint, and clients signed for any of its accounts (moto keeps accounts apart)."""

    endpoint: str
    _credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    def credentials(self, account: str) -> dict[str, str]:
        if account == DEFAULT_ACCOUNT:
            return dict(LOCAL_CREDENTIALS)
        if account not in self._credentials:
            # An operator's role in that account: moto answers for the account of the credentials.
            role = f"arn:aws:iam::{account}:role/local-operator"
            self._credentials[account] = assumed_credentials(self.endpoint, role, "local-deploy")
        return self._credentials[account]

    def client(self, service: str, account: str = DEFAULT_ACCOUNT, region: str = REGION) -> Any:
        return local_client(service, self.endpoint, region, self.credentials(account))

    def cli_environment(self, account: str = DEFAULT_ACCOUNT, region: str = REGION) -> dict[str, str]:
        """The environment the aws-cdk CLI runs in: the local cloud as AWS, and nothing of the operator's."""
        environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CDK_"))}
        return {
            **environment,
            **self.credentials(account),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": self.endpoint,
            # The CLI hands CloudFormation the template's S3 URL; moto reads it as path-style only on `localhost`.
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": self.endpoint.replace("127.0.0.1", "localhost"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "CDK_DISABLE_VERSION_CHECK": "1",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "NODE_NO_WARNINGS": "1",
        }


# The CLI's progress and banners, left out of a failure's lines.
_NOISE = re.compile(
    r"^b'|^\S+: (start|success): |^✨|Source Location:|no user code in|Subprocess exited with error|"
    r"^KinesisExport\S* \|\s+\d+/\d+ \| .* (IN_PROGRESS|COMPLETE) "
)


def cdk(cloud: Cloud, arguments: Sequence[str], *, account: str = DEFAULT_ACCOUNT, region: str = REGION) -> str:
    """Run the pinned aws-cdk CLI against the local cloud; its output, or DeployFailed with its last lines."""
    finished = subprocess.run(
        [*CDK, *arguments, "--no-notices", "--no-version-reporting", "--ci"],
        cwd=ROOT,
        env=cloud.cli_environment(account, region),
        capture_output=True,
        text=True,
        check=False,
    )
    output = finished.stdout + finished.stderr
    if finished.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip() and not _NOISE.search(line)]
        raise DeployFailed(f"npx cdk {arguments[0]} failed:\n" + "\n".join(lines[-15:]))
    return output


def synthesize(cloud: Cloud, destinations: Path, outdir: Path) -> list[Stack]:
    """The cloud assembly of `destinations`, as the CLI synthesizes it with the local cloud's credentials."""
    cdk(cloud, ["synth", "--quiet", "-c", f"destinations={destinations}", "-o", str(outdir)])
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    artifacts = manifest["artifacts"]
    stacks = []
    for name, artifact in artifacts.items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        account, region = artifact["environment"].removeprefix("aws://").split("/")
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text(encoding="utf-8"))
        depends_on = tuple(d for d in artifact.get("dependencies", []) if artifacts[d]["type"] == artifact["type"])
        stacks.append(Stack(name, account, region, template, depends_on))
    return _deployment_order(stacks)


def _deployment_order(stacks: list[Stack]) -> list[Stack]:
    by_name = {stack.name: stack for stack in stacks}
    ordered: list[Stack] = []

    def visit(stack: Stack) -> None:
        if stack in ordered:
            return
        for name in stack.depends_on:
            visit(by_name[name])
        ordered.append(stack)

    for stack in stacks:
        visit(stack)
    return ordered


def deploy(cloud: Cloud, stack: Stack, assembly: Path, bootstrapped: set[tuple[str, str]]) -> dict[str, str]:
    """Bootstrap the stack's account and region (once), deploy it from the assembly, and return its outputs."""
    if (stack.account, stack.region) not in bootstrapped:
        cdk(cloud, ["bootstrap", f"aws://{stack.account}/{stack.region}"], account=stack.account, region=stack.region)
        bootstrapped.add((stack.account, stack.region))
    cdk(
        cloud,
        ["deploy", "--app", str(assembly), stack.name, "--exclusively", "--require-approval", "never"],
        account=stack.account,
        region=stack.region,
    )
    return outputs(cloud, stack)


def outputs(cloud: Cloud, stack: Stack) -> dict[str, str]:
    described = cloud.client("cloudformation", stack.account, stack.region).describe_stacks(StackName=stack.name)
    return {output["OutputKey"]: output["OutputValue"] for output in described["Stacks"][0].get("Outputs", [])}


@dataclass(frozen=True)
class EventSource:
    """The deployed event source mapping of a function, and its queue's visibility timeout (the queue's
    redrive policy is SQS's own to apply, as on AWS)."""

    queue_url: str
    queue_arn: str
    batch_size: int
    window_seconds: int
    report_batch_item_failures: bool
    visibility_timeout: int


def event_source(sqs: Any, lambda_client: Any, function_name: str) -> EventSource:
    [mapping] = lambda_client.list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"]
    queue_name = mapping["EventSourceArn"].rsplit(":", 1)[-1]
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    return EventSource(
        queue_url=queue_url,
        queue_arn=mapping["EventSourceArn"],
        batch_size=int(mapping["BatchSize"]),
        window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
        visibility_timeout=int(attributes["VisibilityTimeout"]),
    )


@dataclass
class Invocation:
    messages: int
    failed: int
    error: str | None = None


def poll(cloud: Cloud, function: DeployedFunction, source: EventSource, sqs: Any) -> list[Invocation]:
    """Play Lambda's SQS poller on the deployed mapping until the queue is empty; each invocation's outcome.

    A batch fills up to the mapping's batch size within its batching window. The messages Lambda would
    return to the queue (all of them when the function raises; see failed_messages otherwise) are made
    visible again at once instead of after the visibility timeout; SQS's redrive moves a message to the
    dead-letter queue after the policy's receive count, as it would on AWS.
    """
    invocations: list[Invocation] = []
    # Enough rounds for every message to be received as often as the redrive policy allows.
    for _ in range(1_000):
        messages = _gather(sqs, source)
        if not messages:
            break
        event = sqs_lambda_event(messages, source.queue_arn, function.region)
        try:
            answer = invoke(function, event, cloud.endpoint)
            failed = failed_messages(answer, [m["MessageId"] for m in messages], source.report_batch_item_failures)
            invocations.append(Invocation(len(messages), len(failed)))
        except FunctionError as error:
            failed = {message["MessageId"] for message in messages}
            tail = "\n".join(error.logs.splitlines()[-LOG_TAIL_LINES:])
            invocations.append(Invocation(len(messages), len(failed), f"{error.error_type}: {error}\n{tail}"))
        settle_messages(sqs, source.queue_url, messages, failed)
    return invocations


def failed_messages(answer: Any, message_ids: list[str], report_batch_item_failures: bool) -> set[str]:
    """The messages Lambda returns to the queue after an invocation that returned `answer`.

    Without ReportBatchItemFailures Lambda ignores the answer: the whole batch is deleted, whatever it
    names. With it, the named messages come back, and an answer it cannot read (not an object, an item
    without an identifier, an identifier not in the batch) fails the whole batch.
    """
    if not report_batch_item_failures or not answer:
        return set()
    items = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if isinstance(answer, dict) and not items:
        return set()
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return set(message_ids)
    reported = {item.get("itemIdentifier") for item in items}
    return reported if reported <= set(message_ids) else set(message_ids)


def _gather(sqs: Any, source: EventSource) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    closes = time.monotonic() + source.window_seconds
    while len(messages) < source.batch_size:
        received = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(10, source.batch_size - len(messages)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=source.visibility_timeout,
        ).get("Messages", [])
        messages.extend(received)
        if not received and (messages or time.monotonic() >= closes):
            break
        if not received:
            time.sleep(0.2)
    return messages


@dataclass
class Run:
    """What the sample events became on one deployed export stack."""

    stack: Stack
    outputs: dict[str, str]
    sent: int
    invocations: list[Invocation]
    records: list[StreamRecord]
    rejects: list[dict[str, Any]]
    dead_letters: int

    def summary(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "invocations": len(self.invocations),
            "function errors": sum(1 for i in self.invocations if i.error),
            "message failures": sum(i.failed for i in self.invocations),
            "records": len(self.records),
            "rejected": len(self.rejects),
            "dead letters": self.dead_letters,
        }


def run_samples(cloud: Cloud, stack: Stack, stack_outputs: dict[str, str], bodies: list[str]) -> Run:
    """Send `bodies` to the stack's ingest queue and run its deployed function on them, as Lambda would."""
    sqs = cloud.client("sqs", stack.account, stack.region)
    function = deployed_function(stack_outputs["FunctionName"], stack.account, stack.region)
    send_messages(sqs, stack_outputs["IngestQueueUrl"], bodies, _message_groups(sqs, stack_outputs, function))
    source = event_source(sqs, cloud.client("lambda", stack.account, stack.region), function.name)
    invocations = poll(cloud, function, source, sqs)
    stream_arn = stack_outputs["StreamArn"]
    _, _, _, stream_region, stream_account, _ = stream_arn.split(":", 5)
    records = read_stream(cloud.client("kinesis", stream_account, stream_region), stack_outputs["StreamName"])
    rejects = receive_all(sqs, stack_outputs["RejectsQueueUrl"])
    dead = sqs.get_queue_attributes(
        QueueUrl=stack_outputs["DeadLetterQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    return Run(stack, stack_outputs, len(bodies), invocations, records, rejects, int(dead))


def _message_groups(sqs: Any, stack_outputs: dict[str, str], function: DeployedFunction) -> Callable[[str], str] | None:
    """For a FIFO ingest queue, each body's MessageGroupId, from the config the function was deployed with."""
    attributes = sqs.get_queue_attributes(QueueUrl=stack_outputs["IngestQueueUrl"], AttributeNames=["FifoQueue"])
    if attributes.get("Attributes", {}).get("FifoQueue") != "true":
        return None
    # The config packaged beside the function's code, where its environment says (DESTINATION_CONFIG_FILE).
    path = function.environment["DESTINATION_CONFIG_FILE"]
    with zipfile.ZipFile(io.BytesIO(function.code)) as package:
        config = parse_config(json.loads(package.read(path)), f"{function.name}: {path}")
    plan = profile_plan(config)
    return lambda body: message_group_id(body, plan)


def show(run: Run) -> None:
    print_records(run.records)
    print_rejects(run.rejects)
    for number, invocation in enumerate(run.invocations, 1):
        if invocation.error:
            print(f"invocation {number} failed: {invocation.error}")
    summary = run.summary()
    print(
        f"\n{run.stack.name}: {summary['sent']} messages sent to the deployed ingest queue; "
        f"{summary['invocations']} invocation(s) of the deployed function "
        f"({summary['message failures']} message failure(s)); "
        f"{summary['records']} records on stream {run.outputs['StreamName']}, {summary['rejected']} rejected, "
        f"{summary['dead letters']} in the dead-letter queue"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make local-deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--destinations", type=Path, default=ROOT / "destinations", help="a config or a folder")
    parser.add_argument("--events", type=Path, default=ROOT / "events", help="folder of sample SQS events")
    args = parser.parse_args(argv)
    bodies = sample_bodies(args.events)
    try:
        return _deploy_and_run(args.destinations, bodies)
    except (MotoMissing, DeployFailed, SendFailed) as error:
        print(error, file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(
            f"{error.filename}: not found (make local-deploy needs Node.js and npm: README, Development)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


def _deploy_and_run(destinations: Path, bodies: list[str]) -> int:
    started = time.monotonic()
    with local_cloud() as endpoint, tempfile.TemporaryDirectory(prefix="kinesis-export-assembly-") as assembly:
        print(f"local cloud (moto's server, extended: kinesis_export_cli/localcloud.py) on {endpoint}")
        cloud = Cloud(endpoint)
        stacks = synthesize(cloud, destinations.resolve(), Path(assembly))
        bootstrapped: set[tuple[str, str]] = set()
        runs = []
        for stack in stacks:
            print(f"\ndeploying {stack.name} to aws://{stack.account}/{stack.region} with npx cdk deploy ...")
            stack_outputs = deploy(cloud, stack, Path(assembly), bootstrapped)
            for key, value in stack_outputs.items():
                print(f"  {key} = {value}")
            if "IngestQueueUrl" in stack_outputs:
                runs.append((stack, stack_outputs))
        failed = False
        for stack, stack_outputs in runs:
            print(f"\nsample events ({len(bodies)} messages) through {stack.name}, as deployed:\n")
            run = run_samples(cloud, stack, stack_outputs, bodies)
            show(run)
            failed = failed or run.dead_letters > 0 or any(i.error for i in run.invocations)
    print(f"\nlocal cloud stopped; {time.monotonic() - started:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
