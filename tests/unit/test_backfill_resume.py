"""The local backfill's checkpoint and rejects file, found wanting by a third adversarial review.

No line is missed on resume, even when the same file goes to another stream; the rejects file lists
each bad line once (after a stop, a Ctrl-C or a kill -9 mid-batch); and memory stays bounded however
long a line is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kinesis_export.backfill import BackfillStopped
from kinesis_export.config import parse_config
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.backfill import Backfill, CheckpointError, RateLimit, open_source
from tests.fakes import FakeKinesis
from tests.support import EXAMPLE_CONFIG, ROOT, profile_event, traced_peak


def plan_for(stream: str, **settings: object) -> RecordPlan:
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["stream"] = {"name": stream, "region": "us-east-1", **settings}
    return RecordPlan(parse_config(config))


def runner(checkpoint: Path, kinesis: FakeKinesis, stream: str = "stream-a", **settings: object) -> Backfill:
    plan = plan_for(stream, **settings)
    return Backfill(plan, KinesisWriter(kinesis, stream), RateLimit(10**6, 10**9), checkpoint)


def write_members(path: Path, count: int, bad: set[int] = frozenset()) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for number in range(1, count + 1):
            out.write("not json\n" if number in bad else json.dumps(profile_event(f"m-{number}")) + "\n")
    return path


def denied_from_call(first_denied: int) -> FakeKinesis:
    return FakeKinesis(
        lambda call, entries: (
            dict.fromkeys(range(len(entries)), "AccessDeniedException") if call >= first_denied else None
        )
    )


def test_an_unfinished_run_to_one_stream_is_not_resumed_by_a_run_to_another(tmp_path: Path):
    # An interrupted run to stream A, then the same file to stream B (the same default checkpoint,
    # <file>.checkpoint.json): resumed after A's line, B would never get lines 1-500.
    members = write_members(tmp_path / "members.jsonl", 600)
    checkpoint = tmp_path / "members.jsonl.checkpoint.json"
    stream_a = denied_from_call(2)
    with pytest.raises(BackfillStopped):
        runner(checkpoint, stream_a, "stream-a").run(open_source(str(members)))
    assert len(stream_a.stream) == 500

    stream_b = FakeKinesis()
    with pytest.raises(CheckpointError, match="unfinished run to stream-a, not to stream-b; pass --restart"):
        runner(checkpoint, stream_b, "stream-b").run(open_source(str(members)))
    assert stream_b.stream == []

    progress = runner(checkpoint, stream_b, "stream-b").run(open_source(str(members)), restart=True)
    assert progress.exported == len(stream_b.stream) == 600


def test_a_stopped_batch_resumed_lists_its_rejects_once(tmp_path: Path):
    # The batch's rejects are written (and flushed) before its records are sent; when the send
    # fails, the checkpoint stays before the batch and the resumed run writes them again.
    bad = {501, 502, 503}
    members = write_members(tmp_path / "members.jsonl", 600, bad)
    checkpoint = tmp_path / "members.jsonl.checkpoint.json"
    with pytest.raises(BackfillStopped):
        runner(checkpoint, denied_from_call(2)).run(open_source(str(members)))

    run = runner(checkpoint, FakeKinesis())
    progress = run.run(open_source(str(members)))

    listed = [json.loads(line)["line"] for line in run.rejects_file.read_text().splitlines()]
    assert progress.rejected == 3
    assert listed == sorted(bad), f"rejects file lists {listed}"


KILLED_RUN = """
import json, os, sys
from pathlib import Path
from kinesis_export_cli.backfill import Backfill, RateLimit, open_source
from kinesis_export.config import load_config
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis
from tests.support import EXAMPLE_CONFIG

def die(call, entries):
    if call == 2:
        os._exit(137)  # as SIGKILL: no buffer is flushed, no `finally` runs

members, checkpoint = sys.argv[1], Path(sys.argv[2])
run = Backfill(RecordPlan(load_config(EXAMPLE_CONFIG)), KinesisWriter(FakeKinesis(die), "stream-a"),
               RateLimit(10**6, 10**9), checkpoint)
run.run(open_source(members))
"""


def test_a_kill_mid_batch_leaves_each_reject_listed_once(tmp_path: Path):
    # Batch 2 (lines 501-1000) holds 400 bad lines: their ~30 KB of rejects overflow the text
    # buffer, so part of them reach the file before the process is killed during PutRecords; the
    # resumed run appends the whole batch's rejects again, after a possibly half-written line.
    bad = set(range(501, 901))
    members = write_members(tmp_path / "members.jsonl", 1000, bad)
    checkpoint = tmp_path / "members.jsonl.checkpoint.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambdas"), str(ROOT / "cli"), str(ROOT)])}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(members), str(checkpoint)], env=env, timeout=120, cwd=ROOT
    )
    assert killed.returncode == 137
    assert json.loads(checkpoint.read_text())["line"] == 500

    run = runner(checkpoint, FakeKinesis())
    progress = run.run(open_source(str(members)))

    text = run.rejects_file.read_text()
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entries.append(json.loads(line)["line"])
        except ValueError:
            raise AssertionError(f"rejects file line {number} is torn: {line[:80]!r}") from None
    assert progress.rejected == 400
    assert entries == sorted(bad), f"{len(entries)} entries for 400 bad lines"


def test_one_huge_line_is_rejected_without_being_read_whole(tmp_path: Path):
    # "memory stays flat whatever its size": a line can never be a record over 1 MiB, yet a 64 MiB
    # line (a file without newlines, a wrong file) is read, decoded and parsed whole.
    members = tmp_path / "members.jsonl"
    with members.open("wb") as out:
        out.write(b'{"eventId": "' + b"x" * (64 * 1024 * 1024) + b'"}\n')
    run = runner(tmp_path / "members.jsonl.checkpoint.json", FakeKinesis())
    source = open_source(str(members))

    try:
        progress, peak = traced_peak(lambda: run.run(source))
    finally:
        source.close()

    assert progress.rejected == 1
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB for one line"


@pytest.mark.parametrize(
    ("max_record_size_kib", "exported", "rejects"),
    [
        (1024, 0, [(1, "line is over 4 MiB: not read"), (2, "line is over 4 MiB: not read")]),
        (10240, 1, [(2, "line is over 13 MiB: not read")]),
    ],
)
def test_the_longest_line_read_follows_the_largest_record_the_stream_takes(
    tmp_path: Path, max_record_size_kib: int, exported: int, rejects: list[tuple[int, str]]
):
    # given a member whose line, and record, are 6 MiB, and a 14 MiB line
    members = tmp_path / "members.jsonl"
    with members.open("w", encoding="utf-8") as out:
        out.write(json.dumps(profile_event("m-1", attributes={"person": {"email": "x" * (6 * 1024 * 1024)}})) + "\n")
        out.write(json.dumps({"eventId": "x" * (14 * 1024 * 1024)}) + "\n")
    kinesis = FakeKinesis()
    run = runner(tmp_path / "members.jsonl.checkpoint.json", kinesis, maxRecordSizeKiB=max_record_size_kib)

    # when they are backfilled to a stream of 1 MiB records, or of 10 MiB ones
    source = open_source(str(members))
    try:
        progress = run.run(source)
    finally:
        source.close()

    # then the 6 MiB line is read, and exported, only where its record fits; the longer line never is
    assert progress.exported == len(kinesis.stream) == exported
    listed = [json.loads(line) for line in run.rejects_file.read_text().splitlines()]
    assert [(entry["line"], entry["reason"]) for entry in listed] == rejects
    assert {entry["code"] for entry in listed} == {"RECORD_TOO_LARGE"}
