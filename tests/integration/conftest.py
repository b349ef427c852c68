"""moto's server on loopback, a fault proxy in front of its Kinesis API, and a freshly started handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from kinesis_export import wiring
from kinesis_export_cli.local import LOCAL_CREDENTIALS
from tests.faultproxy import FaultProxy
from tests.support import EXAMPLE_CONFIG, ROOT, handler_module

REGION = "us-east-1"


# moto's server in a process of its own (its Kinesis writes serialized, as `moto_server` does): its work and its
# heap, every stream of the session, stay out of the process whose timings the tests judge.
_SERVE = (
    "import sys; from kinesis_export_cli.local import moto_server\n"
    "with moto_server() as endpoint:\n    print(endpoint, flush=True)\n    sys.stdin.read()"
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambdas"), str(ROOT / "cli")])},
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()  # the server ends when its input does
        server.wait(30)


@pytest.fixture
def fault_proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_endpoint).start()
    yield proxy
    proxy.stop()


@dataclass
class Pipeline:
    """One destination's AWS side on moto, and the function started against it."""

    stream_name: str
    ingest_url: str
    rejects_url: str | None
    kinesis: Any
    sqs: Any
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    function: wiring.Exporter  # what the handler works with, as its start-up built it


@pytest.fixture
def start_pipeline(
    moto_endpoint: str, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Pipeline]:
    """Create a stream and queues with unique names, then build the function as its start-up would.

    The function's Kinesis, STS and Secrets Manager traffic goes through the fault proxy (and
    its SQS traffic, with `sqs_via_proxy`); the test's own calls (made before the switch or with
    explicit endpoints) go straight to moto.
    """

    def start(
        *,
        shards: int = 2,
        rejects_queue: bool = True,
        sqs_via_proxy: bool = False,
        max_record_size_kib: int | None = None,
        **config_changes: Any,
    ) -> Pipeline:
        suffix = uuid.uuid4().hex[:8]
        for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        kinesis = boto3.client("kinesis", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        stream_name = f"segment-exports-{suffix}"
        # With max_record_size_kib, the stream takes records that large, and the config says so.
        sized = {} if max_record_size_kib is None else {"MaxRecordSizeInKiB": max_record_size_kib}
        kinesis.create_stream(StreamName=stream_name, ShardCount=shards, **sized)
        ingest_url = sqs.create_queue(QueueName=f"ingest-{suffix}")["QueueUrl"]
        rejects_url = sqs.create_queue(QueueName=f"rejects-{suffix}")["QueueUrl"] if rejects_queue else None

        config = json.loads(EXAMPLE_CONFIG.read_text())
        config["stream"] = {"name": stream_name, "region": REGION}
        if max_record_size_kib is not None:
            config["stream"]["maxRecordSizeKiB"] = max_record_size_kib
        config.update(config_changes)
        config_file = tmp_path / f"destination-{suffix}.json"
        config_file.write_text(json.dumps(config))
        monkeypatch.setenv("DESTINATION_CONFIG_FILE", str(config_file))
        # The function's Kinesis, STS and Secrets Manager calls go through the proxy, which records them.
        for service in ("KINESIS", "STS", "SECRETS_MANAGER", *(("SQS",) if sqs_via_proxy else ())):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", fault_proxy.url)
        monkeypatch.setenv("INGEST_QUEUE_URL", ingest_url)
        if rejects_url:
            monkeypatch.setenv("REJECTS_QUEUE_URL", rejects_url)
        else:
            monkeypatch.delenv("REJECTS_QUEUE_URL", raising=False)
        function = wiring.exporter(os.environ)
        handler = handler_module("export").handler_for(function)
        return Pipeline(stream_name, ingest_url, rejects_url, kinesis, sqs, handler, function)

    return start


@pytest.fixture
def destination(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A config file for a fresh 32-shard stream on moto, the stream's name, and the environment pointed at moto
    (for the command line, which builds its own clients)."""
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    stream = f"backfill-{uuid.uuid4().hex[:12]}"
    # Many shards: moto appends to a shard in time that grows with its length.
    boto3.client("kinesis", region_name=REGION).create_stream(StreamName=stream, ShardCount=32)
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": stream, "region": REGION}
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))
    return path, stream
