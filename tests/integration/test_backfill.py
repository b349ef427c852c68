"""Backfill end to end against moto's server: a large file, a killed run resumed, bad lines."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest

from kinesis_export.__main__ import main
from kinesis_export.local import LOCAL_CREDENTIALS, read_stream
from tests.integration.conftest import REGION
from tests.support import EXAMPLE_CONFIG, HIGH_PROPENSITY, ROOT, profile_event

BAD_LINES = {7: "not json", 5003: '{"eventId": "x"}', 77777: "[]"}


def members_file(path: Path, count: int) -> Path:
    """One event per line; line n is profile n (ECID member-n), with a few bad lines among them."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        for number in range(1, count + 1):
            line = BAD_LINES.get(number) or json.dumps(profile_event(f"member-{number}", event_id=f"e-{number}"))
            out.write(line + "\n")
    return path


@pytest.fixture
def destination(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A config for a fresh 32-shard stream on moto, and the environment pointed at moto."""
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    stream = f"backfill-{tmp_path.name[-12:].replace('_', '-')}"
    # Many shards: moto appends to a shard in time that grows with its length.
    boto3.client("kinesis", region_name=REGION).create_stream(StreamName=stream, ShardCount=32)
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": stream, "region": REGION}
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))
    return path, stream


def written_keys(stream: str) -> Counter[str]:
    kinesis = boto3.client("kinesis", region_name=REGION)
    return Counter(record.partition_key for record in read_stream(kinesis, stream))


def expected_keys(count: int) -> set[str]:
    return {f"member-{n}" for n in range(1, count + 1) if n not in BAD_LINES}


def test_a_hundred_thousand_members_are_exported_and_bad_lines_reported(destination, tmp_path, capsys):
    config, stream = destination
    members = members_file(tmp_path / "members.jsonl.gz", 100_000)

    status = main(["backfill", str(config), str(members), "--quiet", "--records-per-second", "1e9"])

    assert status == 1, "bad lines were rejected, so not everything was exported"
    keys = written_keys(stream)
    assert set(keys) == expected_keys(100_000) and max(keys.values()) == 1
    rejects = [json.loads(line) for line in (tmp_path / "members.jsonl.gz.checkpoint.rejects.jsonl").open()]
    assert [(r["line"], r["code"]) for r in rejects] == [
        (7, "INVALID_JSON"),
        (5003, "INVALID_EVENT"),
        (77777, "INVALID_EVENT"),
    ]
    assert "100,000 lines: 99,997 exported, 0 filtered, 3 rejected" in capsys.readouterr().out


def test_a_killed_run_resumes_where_it_stopped_with_nothing_missing(destination, tmp_path):
    config, stream = destination
    members = members_file(tmp_path / "members.jsonl", 20_000)
    checkpoint = tmp_path / "members.jsonl.checkpoint.json"
    command = [sys.executable, "-m", "kinesis_export", "backfill", str(config), str(members), "--quiet"]
    command += ["--records-per-second", "4000"]  # about five seconds for the whole file
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambdas")}

    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["line"] >= 5000:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    killed_at = json.loads(checkpoint.read_text())["line"]
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert 5000 <= killed_at < 20_000, killed_at
    assert resumed.returncode == 1, resumed.stderr  # line 7 and 5003 are bad
    keys = written_keys(stream)
    assert set(keys) == expected_keys(20_000), "no member missing"
    assert sum(keys.values()) - len(keys) <= 500, "at most the batch in flight was sent twice"
    assert json.loads(checkpoint.read_text())["line"] == 20_000


def test_qualification_times_and_statuses_reach_the_stream_as_in_the_file(destination, tmp_path):
    config, stream = destination
    members = tmp_path / "two.jsonl"
    first = profile_event("a", status="exited")
    second = profile_event("b", status="existing")
    second["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = "2021-01-01T01:00:00+01:00"
    members.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")

    assert main(["backfill", str(config), str(members), "--quiet"]) == 0

    records = {r.partition_key: r.json() for r in read_stream(boto3.client("kinesis", region_name=REGION), stream)}
    assert records["a"]["segmentMembership"]["ups"][HIGH_PROPENSITY] == {
        "lastQualificationTime": "2020-05-25T21:24:39Z",
        "status": "exited",
    }
    assert records["b"]["segmentMembership"]["ups"][HIGH_PROPENSITY] == {
        "lastQualificationTime": "2021-01-01T00:00:00Z",
        "status": "existing",
    }
