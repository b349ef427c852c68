"""`make bench`: the exporter measured against a naive peer and the bare SDK, side by side in one run.

moto's server runs in a separate process, so its work is not counted as the exporter's. The
exporter with profile state (profileState) is run on the same events against moto's DynamoDB, for
its cost beside the stateless one.
Every figure is compared with a baseline measured in the same run; the table shows the
targets beside the ratios and the previous run's figures, and the run is kept in
bench/results/. A benchmark, not a test: it never fails on noise.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import json
import math
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT / "cli"), str(ROOT)]

from bench import prices  # noqa: E402
from kinesis_export import wiring  # noqa: E402
from kinesis_export.config import load_config  # noqa: E402
from kinesis_export.deadline import Deadline  # noqa: E402
from kinesis_export.events import parse_event  # noqa: E402
from kinesis_export.records import Record  # noqa: E402
from kinesis_export.writer import MAX_BYTES_PER_CALL, KinesisWriter  # noqa: E402
from kinesis_export_cli.local import LOCAL_CREDENTIALS, LambdaContext, sqs_lambda_event  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONFIG = ROOT / "destinations" / "example.json"
REGION = "us-east-1"
BATCH = 10_000
LATENCY = 0.040
HANDLER = "kinesis_export.handlers.export"
MAX_RECORDS_PER_CALL = 500
SHARDS = 32
EVENTS_PER_ARRAY = 10  # the same events again, as JSON arrays of this many per message
EVENTS_PER_PROFILE = 10  # with profile state: the same events again, this many of each profile in a batch


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    """moto's server in its own process; yields its endpoint."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def fresh_stream(kinesis: Any, name: str) -> None:
    """An empty stream for each measurement: moto appends to a shard in time linear in its length,
    so a long-lived stream would make the server, not the client, the bottleneck."""
    with contextlib.suppress(kinesis.exceptions.ResourceNotFoundException):
        kinesis.delete_stream(StreamName=name)
    kinesis.create_stream(StreamName=name, ShardCount=SHARDS)


def environment(endpoint: str, rejects_url: str = "") -> dict[str, str]:
    env = {
        **LOCAL_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "DESTINATION_CONFIG_FILE": str(CONFIG),
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as the stack sets it
    }
    if rejects_url:
        env["REJECTS_QUEUE_URL"] = rejects_url
    return env


def events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Segment events of distinct profiles, shaped like real ones: two identities, three attributes."""
    rng = random.Random(seed)
    segments = [segment.id for segment in load_config(CONFIG).segments]
    out = []
    for n in range(count):
        ecid = "".join(rng.choice("0123456789") for _ in range(38))
        out.append(
            {
                "eventId": f"{n:08d}-5a4b-4c1e-9d7a-2b6e8f0a1c3d",
                "identityMap": {
                    "ECID": [{"id": ecid, "primary": True}],
                    "Email": [{"id": f"Profile.{n}@Example.com"}],
                },
                "segmentMembership": {
                    "ups": {
                        rng.choice(segments): {
                            "status": rng.choice(["realized", "existing", "exited"]),
                            # Streamed qualifications, over an hour: about 3,600 distinct times.
                            "lastQualificationTime": f"2020-05-25T21:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
                        },
                        "unmapped-segment": {
                            "status": "realized",
                            "lastQualificationTime": "2020-05-25T21:24:39+02:00",
                        },
                    }
                },
                "attributes": {
                    "person": {"email": f"profile.{n}@example.com", "name": {"firstName": "Ann", "lastName": "Lee"}},
                    "mobilePhone": {"number": f"+1555{n:07d}"},
                },
            }
        )
    return out


def lambda_event(bodies: list[str]) -> dict[str, Any]:
    """As Lambda's poller makes it: each message with its SentTimestamp (the exporter's ExportLatency reads it)."""
    sent = {"SentTimestamp": str(int(time.time() * 1000))}
    messages = [
        {"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}", "Body": body, "Attributes": sent}
        for n, body in enumerate(bodies)
    ]
    return sqs_lambda_event(messages, f"arn:aws:sqs:{REGION}:123456789012:ingest", REGION)


def start_handler(env: dict[str, str]) -> tuple[Any, Any]:
    """What the handler's start-up builds in `env` (wiring.exporter), and its entry point, with output silenced."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            export = importlib.import_module(HANDLER)
            exporter = wiring.exporter(os.environ)
            return exporter, export.handler_for(exporter)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def step(message: str) -> None:
    """One line of progress to stderr: a run takes minutes."""
    print(message, file=sys.stderr, flush=True)


def count_calls(client: Any) -> Callable[[], int]:
    """Counts the PutRecords calls made through `client` (the writer's), from now on, by botocore's own hook."""
    calls = [0]

    def counted(**_: Any) -> None:
        calls[0] += 1

    client.meta.events.register("before-call.kinesis.PutRecords", counted)
    return lambda: calls[0]


def cpu(action: Callable[[], Any]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def wall(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def floor_calls(client: Any, stream: str, records: list[tuple[str, bytes]]) -> None:
    """The bare SDK: already serialized records, 500 a call, one call after another."""
    for start in range(0, len(records), MAX_RECORDS_PER_CALL):
        chunk = records[start : start + MAX_RECORDS_PER_CALL]
        client.put_records(StreamName=stream, Records=[{"PartitionKey": k, "Data": d} for k, d in chunk])


def naive_peer(client: Any, stream: str, bodies: list[str], segment_ids: frozenset[str]) -> int:
    """What a user would write instead of the exporter, for the example destination; the records it sent.

    `json.loads` each body, the AEP record built by hand, `json.dumps`, boto3's put_records in
    500-record calls: no validation, no per-key order, no retry of failed entries.
    """
    entries = []
    for body in bodies:
        event = json.loads(body)
        ups = {
            segment_id: {"lastQualificationTime": membership["lastQualificationTime"], "status": membership["status"]}
            for segment_id, membership in event["segmentMembership"]["ups"].items()
            if segment_id in segment_ids
        }
        if not ups:
            continue
        identities = event["identityMap"]
        ecids = [{"id": identity["id"]} for identity in identities.get("ECID", [])]
        emails = [
            {"id": hashlib.sha256(identity["id"].strip().lower().encode()).hexdigest()}
            for identity in identities.get("Email", [])
        ]
        attributes = event.get("attributes", {})
        person = attributes.get("person", {})
        record = {
            "person": {"email": person.get("email"), "name": {"lastName": person.get("name", {}).get("lastName")}},
            "mobilePhone": {"number": attributes.get("mobilePhone", {}).get("number")},
            "segmentMembership": {"ups": ups},
            "identityMap": {"ecid": ecids, "email_lc_sha256": emails},
        }
        primary = [identity["id"] for identity in identities.get("ECID", []) if identity.get("primary")]
        key = primary[0] if primary else ecids[0]["id"]
        entries.append({"Data": json.dumps(record).encode(), "PartitionKey": key})
    for start in range(0, len(entries), MAX_RECORDS_PER_CALL):
        client.put_records(StreamName=stream, Records=entries[start : start + MAX_RECORDS_PER_CALL])
    return len(entries)


def cold_start(env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median import time of the handler, and of boto3 plus a Kinesis client, in fresh interpreters."""
    probe = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"
    handler = probe.format(f"import {HANDLER}")
    sdk = probe.format(f"import boto3; boto3.client('kinesis', region_name='{REGION}')")
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT / "lambdas")}
    times: dict[str, list[float]] = {"handler": [], "sdk": []}
    for _ in range(runs):
        for name, code in (("sdk", sdk), ("handler", handler)):
            out = subprocess.run(
                [sys.executable, "-c", code], env=child_env, capture_output=True, text=True, check=True
            )
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times["handler"]), statistics.median(times["sdk"])


def memory_probe(bodies_file: str) -> None:
    """Child process: one 10,000-message batch through the handler; prints peak RSS in bytes."""
    _, handler = start_handler({})
    event = lambda_event(json.loads(Path(bodies_file).read_text()))
    with contextlib.redirect_stdout(io.StringIO()):
        answer = handler(event, LambdaContext(timeout_seconds=900))
    assert answer == {"batchItemFailures": []}, answer
    print(peak_rss_bytes())


def peak_rss_bytes() -> int:
    """This program's peak resident memory.

    Linux's VmHWM, not getrusage's ru_maxrss: a child keeps through exec the ru_maxrss of the
    process it was forked from, so a probe started by this (large) benchmark would report the
    benchmark's own peak.
    """
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def measure(repeats: int) -> dict[str, Any]:
    import boto3

    from tests.faultproxy import FaultProxy

    step(f"making {BATCH:,} events, starting moto's server")
    bodies = [json.dumps(event) for event in events(BATCH)]
    config = load_config(CONFIG)
    stream = config.stream.name
    segment_ids = frozenset(segment.id for segment in config.segments)
    figures: dict[str, Any] = {"events": BATCH}
    with moto_process() as endpoint:
        env = environment(endpoint)
        os.environ.update(env)
        kinesis = boto3.client("kinesis", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        fresh_stream(kinesis, stream)
        env["REJECTS_QUEUE_URL"] = sqs.create_queue(QueueName="rejects")["QueueUrl"]

        # CPU per event: the handler against the bare SDK sending the same records.
        exporter, handler = start_handler(env)
        built = [exporter.plan.build(parse_event(body)) for body in bodies]
        records = [(r.partition_key, r.data) for r in built if isinstance(r, Record)]
        exported = len(records)
        calls = count_calls(exporter.writer._client)
        event = lambda_event(bodies)
        arrays = [
            "[" + ",".join(bodies[start : start + EVENTS_PER_ARRAY]) + "]"
            for start in range(0, len(bodies), EVENTS_PER_ARRAY)
        ]
        array_event = lambda_event(arrays)
        context = LambdaContext(timeout_seconds=900)
        floor_client = boto3.client("kinesis", region_name=REGION)
        naive_client = boto3.client("kinesis", region_name=REGION)
        handler_cpu, floor_cpu, array_cpu, naive_cpu = [], [], [], []
        naive_records = 0
        with contextlib.redirect_stdout(io.StringIO()):
            handler(lambda_event(bodies[:10]), context)  # warm: first-call work of a warm container
            floor_calls(floor_client, stream, records[:10])
            naive_peer(naive_client, stream, bodies[:10], segment_ids)
            for run in range(repeats):
                step(f"measuring CPU per event: exporter, naive peer, bare SDK, arrays (run {run + 1} of {repeats})")
                fresh_stream(kinesis, stream)
                before = calls()
                handler_cpu.append(cpu(lambda: handler(event, context)))
                figures["put_records_calls"] = calls() - before
                fresh_stream(kinesis, stream)
                floor_cpu.append(cpu(lambda: floor_calls(floor_client, stream, records)))
                fresh_stream(kinesis, stream)
                array_cpu.append(cpu(lambda: handler(array_event, context)))
                fresh_stream(kinesis, stream)
                start = time.process_time()
                naive_records = naive_peer(naive_client, stream, bodies, segment_ids)
                naive_cpu.append(time.process_time() - start)
        figures["cpu_us_per_event"] = min(handler_cpu) / exported * 1e6
        figures["naive_cpu_us_per_event"] = min(naive_cpu) / naive_records * 1e6
        figures["array_cpu_us_per_event"] = min(array_cpu) / exported * 1e6
        figures["floor_cpu_us_per_event"] = min(floor_cpu) / exported * 1e6
        figures["min_put_records_calls"] = max(
            math.ceil(exported / MAX_RECORDS_PER_CALL),
            math.ceil(sum(len(k) + len(d) for k, d in records) / MAX_BYTES_PER_CALL),
        )

        # Wall time with service latency: the writer's concurrent calls against the same calls in sequence.
        step(f"measuring wall time with {LATENCY * 1000:.0f} ms latency: concurrent and sequential ({repeats} runs)")
        proxy = FaultProxy(endpoint, latency=LATENCY).start()
        try:
            latent, _ = start_handler({**env, "AWS_ENDPOINT_URL_KINESIS": proxy.url})
            prepared = [r for r in built if isinstance(r, Record)]
            deadline = Deadline.after(900)
            sequential_writer = KinesisWriter(latent.writer._client, stream, concurrency=1)
            concurrent, sequential = [], []
            for _ in range(repeats):
                fresh_stream(kinesis, stream)
                concurrent.append(wall(lambda: latent.writer.write(prepared, deadline)))
                fresh_stream(kinesis, stream)
                sequential.append(wall(lambda: sequential_writer.write(prepared, deadline)))
        finally:
            proxy.stop()
        figures["latency_wall_s"] = min(concurrent)
        figures["sequential_wall_s"] = min(sequential)

        # Peak memory: a fresh process taking one whole batch.
        step("measuring peak memory (a fresh process)")
        fresh_stream(kinesis, stream)
        bodies_file = RESULTS / ".bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--memory-probe", str(bodies_file)],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            bodies_file.unlink()
        figures["peak_rss_mb"] = int(out.stdout.strip().splitlines()[-1]) / 2**20

        step(f"measuring cold start ({max(11, repeats)} runs)")
        figures["cold_start_s"], figures["sdk_start_s"] = cold_start(env, runs=max(11, repeats))
        step("measuring wall time of a batch, for the cost")
        fresh_stream(kinesis, stream)
        with contextlib.redirect_stdout(io.StringIO()):
            figures["handler_wall_s"] = wall(lambda: handler(event, context))
            fresh_stream(kinesis, stream)
            figures["array_wall_s"] = wall(lambda: handler(array_event, context))
        for per_profile in (1, EVENTS_PER_PROFILE):
            step(f"measuring the exporter with profile state, {per_profile} event(s) a profile, for the cost")
            fresh_stream(kinesis, stream)
            figures.update(profile_state_run(env, bodies, per_profile, context))
    figures["record_bytes_avg"] = sum(len(d) for _, d in records) / len(records)
    figures["message_bytes_avg"] = sum(map(len, bodies)) / len(bodies)
    figures["array_message_bytes_avg"] = sum(map(len, arrays)) / len(arrays)
    return figures


def profile_state_events(bodies: list[str], per_profile: int) -> list[str]:
    """The benchmark's events, each with its time (`timestamp`), `per_profile` of each profile in the batch,
    interleaved (1: every event its own profile, as in the stateless runs)."""
    profiles = len(bodies) // per_profile
    out = []
    for n, body in enumerate(bodies):
        event = json.loads(body)
        if per_profile > 1:
            twin = json.loads(bodies[n % profiles])
            event["identityMap"] = twin["identityMap"]
        membership = next(iter(event["segmentMembership"]["ups"].values()))
        event["timestamp"] = membership["lastQualificationTime"]
        out.append(json.dumps(event))
    return out


def profile_state_run(env: dict[str, str], bodies: list[str], per_profile: int, context: Any) -> dict[str, Any]:
    """One batch through the handler with profileState, on a fresh table on moto: its wall time, and the DynamoDB
    request units it used per event (a strongly consistent read unit per 4 KB of each item read, an absent item
    included, and a write unit per KB of each item written, as DynamoDB counts them)."""
    import boto3

    name = "state" if per_profile == 1 else f"state_{per_profile}"
    table = f"profile-state-{per_profile}"
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=table)
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "profile", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "profile", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    config = RESULTS / ".profile-state-config.json"
    config.write_text(json.dumps({**json.loads(CONFIG.read_text()), "profileState": {"ttlDays": 365}}))
    try:
        exporter, handler = start_handler({**env, "DESTINATION_CONFIG_FILE": str(config), "PROFILE_TABLE_NAME": table})
    finally:
        config.unlink()
    reads: list[int] = []
    written: list[int] = []

    def read(params: dict[str, Any], **_: Any) -> None:
        reads.extend(len(request["Keys"]) for request in params["RequestItems"].values())

    def write(params: dict[str, Any], **_: Any) -> None:
        written.append(item_bytes(params["Item"]))

    client = exporter.profiles._store._client  # type: ignore[union-attr]
    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", read)
    client.meta.events.register("provide-client-params.dynamodb.PutItem", write)
    event = lambda_event(profile_state_events(bodies, per_profile))
    with contextlib.redirect_stdout(io.StringIO()):
        started = time.process_time()
        seconds = wall(lambda: handler(event, context))
        cpu_seconds = time.process_time() - started
    # What a steady state reads: items of the size written (the first batch of a table reads none).
    read_units = sum(reads) * max(1, math.ceil(max(written) / 4096))
    write_units = sum(math.ceil(size / 1024) for size in written)
    return {
        f"{name}_wall_s": seconds,
        f"{name}_cpu_us_per_event": cpu_seconds / len(bodies) * 1e6,
        f"{name}_read_units_per_event": read_units / len(bodies),
        f"{name}_write_units_per_event": write_units / len(bodies),
        f"{name}_item_bytes_avg": sum(written) / len(written),
    }


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """An item's size as DynamoDB bills it: each attribute's name and value (a number about a byte per two digits)."""
    size = 0
    for name, value in item.items():
        [(kind, content)] = value.items()
        size += len(name.encode()) + (len(content) // 2 + 1 if kind == "N" else len(content))
    return size


def cost_per_million(
    figures: dict[str, Any], memory_mb: int, batch_size: int, events_per_message: int = 1, state: str = ""
) -> float:
    """List-price cost of one million events: Lambda time and requests, SQS requests, Kinesis ingestion.

    With several events per message (a JSON array), SQS requests and Lambda invocations are
    shared by the events of a message, and the function's time is the one measured for arrays.
    With `state` (the figures' prefix of a profile state run), the function's time is that run's,
    and its DynamoDB read and write request units are added.
    """
    arrays = events_per_message > 1
    wall_key = f"{state}_wall_s" if state else "array_wall_s" if arrays else "handler_wall_s"
    seconds_per_event = figures[wall_key] / figures["events"]
    lambda_cost = 1e6 * seconds_per_event * memory_mb / 1024 * prices.LAMBDA_ARM64_PER_GB_SECOND
    lambda_cost += prices.LAMBDA_PER_MILLION_REQUESTS / (batch_size * events_per_message)
    # Per message: the producer's SendMessage (a request per 64 KiB begun); the poller receives
    # and deletes ten messages a request.
    message_bytes = figures["array_message_bytes_avg" if arrays else "message_bytes_avg"]
    send_requests = math.ceil(message_bytes / (64 * 1024))
    sqs_cost = (send_requests + 0.1 + 0.1) / events_per_message * prices.SQS_STANDARD_PER_MILLION_REQUESTS
    kib = math.ceil(figures["record_bytes_avg"] / 1024)
    kinesis_cost = 1e6 * kib / 2**20 * prices.KINESIS_ON_DEMAND_PER_GB_INGESTED
    dynamodb_cost = 0.0
    if state:
        dynamodb_cost = figures[f"{state}_read_units_per_event"] * prices.DYNAMODB_ON_DEMAND_PER_MILLION_READ_UNITS
        dynamodb_cost += figures[f"{state}_write_units_per_event"] * prices.DYNAMODB_ON_DEMAND_PER_MILLION_WRITE_UNITS
    return lambda_cost + sqs_cost + kinesis_cost + dynamodb_cost


def table(figures: dict[str, Any], previous: dict[str, Any] | None) -> str:
    """One row per figure: the exporter, its baseline, the ratio, the target, and the last run's figure."""
    rows: list[tuple[str, Callable[[dict[str, Any]], str], str, float | None, str, bool | None]] = []
    f = figures

    def row(
        name: str,
        show: Callable[[dict[str, Any]], str],
        baseline: str,
        ratio: float | None,
        target: str,
        met: bool | None,
    ) -> None:
        rows.append((name, show, baseline, ratio, target, met))

    naive_ratio = f["cpu_us_per_event"] / f["naive_cpu_us_per_event"]
    row(
        "CPU per exported event",
        lambda r: f"{r['cpu_us_per_event']:.1f} µs",
        f"naive peer {f['naive_cpu_us_per_event']:.1f} µs",
        naive_ratio,
        "<= 1.00",
        naive_ratio <= 1.0,
    )
    row(
        "CPU per event, naive peer",
        lambda r: f"{r['naive_cpu_us_per_event']:.1f} µs",
        f"floor {f['floor_cpu_us_per_event']:.1f} µs",
        f["naive_cpu_us_per_event"] / f["floor_cpu_us_per_event"],
        "",
        None,
    )
    cpu_ratio = f["cpu_us_per_event"] / f["floor_cpu_us_per_event"]
    row(
        "CPU per event, guard",
        lambda r: f"{r['cpu_us_per_event']:.1f} µs",
        f"floor {f['floor_cpu_us_per_event']:.1f} µs",
        cpu_ratio,
        "<= 1.60",
        cpu_ratio <= 1.6,
    )
    row(
        "PutRecords calls",
        lambda r: f"{r['put_records_calls']}",
        f"minimum {f['min_put_records_calls']}",
        f["put_records_calls"] / f["min_put_records_calls"],
        "= 1.00",
        f["put_records_calls"] == f["min_put_records_calls"],
    )
    wall_ratio = f["latency_wall_s"] / f["sequential_wall_s"]
    row(
        f"writing, {LATENCY * 1000:.0f} ms latency",
        lambda r: f"{r['latency_wall_s']:.2f} s",
        f"sequential {f['sequential_wall_s']:.2f} s",
        wall_ratio,
        "<= 0.50",
        wall_ratio <= 0.5,
    )
    start_ratio = f["cold_start_s"] / f["sdk_start_s"]
    row(
        "cold start (import)",
        lambda r: f"{r['cold_start_s'] * 1000:.0f} ms",
        f"boto3+client {f['sdk_start_s'] * 1000:.0f} ms",
        start_ratio,
        "<= 1.30",
        start_ratio <= 1.3,
    )
    row(
        f"peak memory, {f['events']:,} messages",
        lambda r: f"{r['peak_rss_mb']:.0f} MB",
        "",
        None,
        "< 150 MB",
        f["peak_rss_mb"] < 150,
    )
    row(
        "cost per million events",
        lambda r: f"${r['cost_per_million']:.3f}",
        f"{f['memory_mb']} MB arm64",
        None,
        "",
        None,
    )
    row(
        f"CPU per event, {EVENTS_PER_ARRAY} a message",
        lambda r: f"{r['array_cpu_us_per_event']:.1f} µs",
        f"one a message {f['cpu_us_per_event']:.1f} µs",
        f["array_cpu_us_per_event"] / f["cpu_us_per_event"],
        "",
        None,
    )
    row(
        f"cost per million, {EVENTS_PER_ARRAY} a message",
        lambda r: f"${r['array_cost_per_million']:.3f}",
        f"one a message ${f['cost_per_million']:.3f}",
        f["array_cost_per_million"] / f["cost_per_million"],
        "",
        None,
    )
    for state, mix in (("state", ""), (f"state_{EVENTS_PER_PROFILE}", f", {EVENTS_PER_PROFILE} a profile")):
        row(
            f"cost, state{mix}" if mix else "cost per million, state",
            lambda r, state=state: f"${r[f'{state}_cost_per_million']:.3f}",
            f"stateless ${f['cost_per_million']:.3f}",
            f[f"{state}_cost_per_million"] / f["cost_per_million"],
            "",
            None,
        )
        row(
            f"  CPU an event{mix}",
            lambda r, state=state: f"{r[f'{state}_cpu_us_per_event']:.0f} µs",
            f"stateless {f['cpu_us_per_event']:.1f} µs",
            f[f"{state}_cpu_us_per_event"] / f["cpu_us_per_event"],
            "",
            None,
        )
        row(
            f"  DynamoDB units{mix}" if mix else "  DynamoDB units an event",
            lambda r, state=state: (
                f"{r[f'{state}_read_units_per_event']:.2f}R {r[f'{state}_write_units_per_event']:.2f}W"
            ),
            f"items of {f[f'{state}_item_bytes_avg']:.0f} B",
            None,
            "",
            None,
        )

    lines = [f"{'figure':<30} {'exporter':>12} {'baseline':>24} {'ratio':>6} {'target':>9} {'met':>4} {'last run':>10}"]
    for name, show, baseline, ratio, target, met in rows:
        ratio_text = f"{ratio:.2f}" if ratio is not None else ""
        met_text = "" if met is None else ("yes" if met else "NO")
        try:
            last = show(previous) if previous else ""
        except KeyError:
            last = ""
        lines.append(f"{name:<30} {show(f):>12} {baseline:>24} {ratio_text:>6} {target:>9} {met_text:>4} {last:>10}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return 0

    RESULTS.mkdir(parents=True, exist_ok=True)
    config = load_config(CONFIG)
    figures = measure(args.repeats)
    step("done")
    figures["memory_mb"] = config.function.memory_mb
    figures["cost_per_million"] = cost_per_million(figures, config.function.memory_mb, config.ingest.batch_size)
    figures["array_cost_per_million"] = cost_per_million(
        figures, config.function.memory_mb, config.ingest.batch_size, EVENTS_PER_ARRAY
    )
    for state in ("state", f"state_{EVENTS_PER_PROFILE}"):
        figures[f"{state}_cost_per_million"] = cost_per_million(
            figures, config.function.memory_mb, config.ingest.batch_size, state=state
        )
    figures["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    runs = sorted(RESULTS.glob("*.json"))
    previous = json.loads(runs[-1].read_text()) if runs else None
    print(table(figures, previous))
    print(f"\n{figures['machine']}; moto's server in its own process; previous: {runs[-1].name if runs else 'none'}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
