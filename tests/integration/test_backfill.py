"""Backfill end to end against moto's server: a large file, a killed run resumed, bad lines."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest

from kinesis_export_cli.local import read_stream
from kinesis_export_cli.main import main
from tests.integration.conftest import REGION
from tests.support import HIGH_PROPENSITY, ROOT, profile_event

BAD_LINES = {7: "not json", 5003: '{"eventId": "x"}', 77777: "[]"}


def members_file(path: Path, count: int) -> Path:
    """One event per line; line n is profile n (ECID member-n), with a few bad lines among them."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        for number in range(1, count + 1):
            line = BAD_LINES.get(number) or json.dumps(profile_event(f"member-{number}", event_id=f"e-{number}"))
            out.write(line + "\n")
    return path


def written_keys(stream: str) -> Counter[str]:
    kinesis = boto3.client("kinesis", region_name=REGION)
    return Counter(record.partition_key for record in read_stream(kinesis, stream))


def expected_keys(count: int) -> set[str]:
    return {f"member-{n}" for n in range(1, count + 1) if n not in BAD_LINES}


@pytest.mark.soak
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


def backfill_command(config: Path, source: Path, *extra: str) -> list[str]:
    return ["backfill", str(config), str(source), "--quiet", "--records-per-second", "1e9", *extra]


def write_members(path: Path, names: list[str], *, newline: str = "\n") -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as out:
        for name in names:
            out.write(json.dumps(profile_event(name)) + newline)
    return path


def test_a_new_file_under_a_used_name_is_exported_from_its_first_line(destination, tmp_path, capsys):
    # given last night's file, fully exported
    config, stream = destination
    members = write_members(tmp_path / "members.jsonl", ["monday-1", "monday-2"])
    assert main(backfill_command(config, members)) == 0
    capsys.readouterr()

    # when tonight's file, under the same name, is backfilled
    write_members(members, ["tuesday-1", "tuesday-2", "tuesday-3"])
    status = main(backfill_command(config, members))

    # then all of it is exported, and the totals are this run's
    assert status == 0
    assert set(written_keys(stream)) == {"monday-1", "monday-2", "tuesday-1", "tuesday-2", "tuesday-3"}
    assert "3 lines: 3 exported, 0 filtered, 0 rejected" in capsys.readouterr().out


def test_a_rerun_of_a_finished_file_exports_it_again(destination, tmp_path, capsys):
    config, stream = destination
    members = write_members(tmp_path / "members.jsonl", ["member-1", "member-2"])
    assert main(backfill_command(config, members)) == 0

    assert main(backfill_command(config, members)) == 0

    assert written_keys(stream) == Counter({"member-1": 2, "member-2": 2})
    assert capsys.readouterr().out.splitlines()[-1].startswith("2 lines: 2 exported")


def truncated_gzip(path: Path, names: list[str], keep: float = 0.9) -> Path:
    """A gzip file of those members cut short (as by an interrupted download): its tail is missing."""
    write_members(path, names)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_a_truncated_gzip_stops_with_one_line_and_the_lines_before_it_stay_checkpointed(destination, tmp_path, capsys):
    config, stream = destination
    names = [f"member-{n}" for n in range(1, 1201)]
    members = truncated_gzip(tmp_path / "members.jsonl.gz", names)

    status = main(backfill_command(config, members))

    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{members} is truncated or corrupt after line" in err
    checkpoint = json.loads((tmp_path / "members.jsonl.gz.checkpoint.json").read_text())
    written = set(written_keys(stream))
    assert checkpoint["line"] > 1000, "the lines read before the cut are exported and checkpointed"
    assert written == {f"member-{n}" for n in range(1, checkpoint["line"] + 1)}


@pytest.mark.parametrize("content", [b"not gzip at all\n", gzip.compress(b"x" * 100_000)[:20] + b"\xff" * 200])
def test_a_corrupt_gzip_is_one_line(destination, tmp_path, capsys, content):
    config, _ = destination
    members = tmp_path / "members.jsonl.gz"
    members.write_bytes(content)

    status = main(backfill_command(config, members))

    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{members} is truncated or corrupt after line 0" in err


def test_an_unfinished_checkpoint_of_another_file_is_one_line_and_restart_discards_it(destination, tmp_path, capsys):
    # given a run that stopped part way through a file
    config, stream = destination
    members = truncated_gzip(tmp_path / "members.jsonl.gz", [f"old-{n}" for n in range(1, 1201)])
    assert main(backfill_command(config, members)) == 1
    capsys.readouterr()

    # when another file takes its name
    write_members(members, ["new-1", "new-2"])
    status = main(backfill_command(config, members))

    # then the run refuses, in one line that says what to do, and exports nothing
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"does not match {members}" in err and "--restart" in err
    assert not {"new-1", "new-2"} & set(written_keys(stream))

    # and with --restart the new file is exported from its first line
    assert main(backfill_command(config, members, "--restart")) == 0
    assert {"new-1", "new-2"} <= set(written_keys(stream))


def test_a_checkpoint_past_the_end_of_the_file_is_one_line(destination, tmp_path, capsys):
    # given an unfinished checkpoint of this very file, edited to say more lines are done than it has
    config, _ = destination
    members = write_members(tmp_path / "members.jsonl", ["member-1", "member-2"])
    assert main(backfill_command(config, members)) == 0
    checkpoint = tmp_path / "members.jsonl.checkpoint.json"
    saved = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({**saved, "line": 5000, "finished": False}))
    capsys.readouterr()

    status = main(backfill_command(config, members))

    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"past the end of {members}" in err and "--restart" in err


@pytest.mark.parametrize("saved", ["not json {", json.dumps({"line": "many"}), json.dumps([1, 2])])
def test_a_corrupt_checkpoint_is_one_line_and_restart_discards_it(destination, tmp_path, capsys, saved):
    config, stream = destination
    members = write_members(tmp_path / "members.jsonl", ["member-1"])
    (tmp_path / "members.jsonl.checkpoint.json").write_text(saved)

    status = main(backfill_command(config, members))

    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "cannot be read" in err and "--restart" in err
    assert main(backfill_command(config, members, "--restart")) == 0
    assert set(written_keys(stream)) == {"member-1"}


def test_a_byte_order_mark_crlf_line_ends_and_a_line_of_invalid_utf8_are_handled(destination, tmp_path, capsys):
    config, stream = destination
    lines = [json.dumps(profile_event(f"member-{n}")).encode() for n in range(1, 4)]
    lines[1] = lines[1].replace(b'"e-1"', b'"e-\xff\xfe"')  # not UTF-8
    members = tmp_path / "members.jsonl"
    members.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")

    status = main(backfill_command(config, members))

    assert status == 1, "the line that is not UTF-8 is rejected"
    assert set(written_keys(stream)) == {"member-1", "member-3"}
    rejects = [json.loads(line) for line in (tmp_path / "members.jsonl.checkpoint.rejects.jsonl").open()]
    assert [(r["line"], r["code"]) for r in rejects] == [(2, "INVALID_JSON")]
    assert "3 lines: 2 exported, 0 filtered, 1 rejected" in capsys.readouterr().out


MARKER = "pii-marker-7c1e@example.com"
HOSTILE_LINES = [
    {"eventId": MARKER, "identityMap": {MARKER: [{"id": MARKER}]}, "segmentMembership": {"ups": {MARKER: {}}}},
    {"eventId": "e", "identityMap": {"ECID": [{"id": MARKER}]}, "segmentMembership": {MARKER: MARKER}},
    {MARKER: MARKER},
    profile_event(MARKER, status=MARKER),
    {**profile_event("member-1"), "attributes": {"person": {MARKER: [MARKER], "email": {MARKER: 1}}}},
    [MARKER],
    MARKER,
]


def hostile_members(path: Path) -> Path:
    """Lines holding a marked personal value as keys and values, and a line that is the value alone."""
    path.write_text("\n".join(json.dumps(line) for line in HOSTILE_LINES) + "\n" + MARKER + "\n")
    return path


def test_nothing_personal_from_hostile_lines_is_printed(destination, tmp_path, capfd):
    config, _ = destination
    members = hostile_members(tmp_path / "members.jsonl")

    assert main(backfill_command(config, members)) == 1

    captured = capfd.readouterr()
    assert "rejected" in captured.out
    assert MARKER not in captured.out + captured.err


def test_nothing_personal_from_hostile_lines_is_in_the_rejects_file(destination, tmp_path):
    config, _ = destination
    members = hostile_members(tmp_path / "members.jsonl")

    main(backfill_command(config, members))

    rejects = (tmp_path / "members.jsonl.checkpoint.rejects.jsonl").read_text()
    assert len(rejects.splitlines()) == 7, "every line but member-1's is rejected"
    assert MARKER not in rejects


def test_an_s3_object_is_bound_by_its_etag_and_a_new_object_under_its_key_starts_over(destination, tmp_path):
    config, stream = destination
    s3 = boto3.client("s3", region_name=REGION)
    bucket = f"members-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="members.jsonl", Body=json.dumps(profile_event("monday-1")) + "\n")
    checkpoint = tmp_path / "members.checkpoint.json"
    command = backfill_command(config, Path(f"s3://{bucket}/members.jsonl"), "--checkpoint", str(checkpoint))
    command[2] = f"s3://{bucket}/members.jsonl"  # Path() would fold the double slash
    assert main(command) == 0
    saved = json.loads(checkpoint.read_text())
    head = s3.head_object(Bucket=bucket, Key="members.jsonl")
    assert saved["file"] == {"size": head["ContentLength"], "etag": head["ETag"]}

    s3.put_object(Bucket=bucket, Key="members.jsonl", Body=json.dumps(profile_event("tuesday-1")) + "\n")

    assert main(command) == 0
    assert set(written_keys(stream)) == {"monday-1", "tuesday-1"}


def test_a_missing_file_is_one_line_and_exit_status_2(destination, tmp_path, capsys):
    config, _ = destination

    status = main(backfill_command(config, tmp_path / "absent.jsonl"))

    err = capsys.readouterr().err
    assert (status, err) == (2, f"cannot read {tmp_path / 'absent.jsonl'}: No such file or directory\n")
