"""The command line's ordinary failures, found by a third adversarial review, against moto's server.

Every ordinary failure is one line on stderr and an exit status, never a traceback: a checkpoint or
rejects file that cannot be written (also with --restart), a config that is not UTF-8; and `rejects`
never says none wait when it was told to read none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from kinesis_export_cli.local import LOCAL_CREDENTIALS
from kinesis_export_cli.main import main
from tests.integration.conftest import REGION
from tests.support import EXAMPLE_CONFIG, ROOT, profile_event


def members(path: Path, count: int = 3) -> Path:
    path.write_text("".join(json.dumps(profile_event(f"m-{n}")) + "\n" for n in range(count)))
    return path


def one_line_failure(argv: list[str], capsys: pytest.CaptureFixture[str], status: int | None = None) -> str:
    try:
        got = main(argv)
    except Exception as error:
        pytest.fail(f"traceback: {type(error).__name__}: {error}")
    err = capsys.readouterr().err
    assert got != 0 and (status is None or got == status), (got, err)
    assert len(err.strip().splitlines()) == 1, err
    return err


def backfill_argv(config: Path, source: Path, *extra: str) -> list[str]:
    return ["backfill", str(config), str(source), "--quiet", "--records-per-second", "1e9", *extra]


def test_a_checkpoint_in_a_missing_directory_is_one_line(destination, tmp_path, capsys):
    config, _ = destination
    source = members(tmp_path / "members.jsonl")

    one_line_failure(backfill_argv(config, source, "--checkpoint", str(tmp_path / "no-such-dir" / "cp.json")), capsys)


def test_a_checkpoint_under_a_file_is_one_line_with_and_without_restart(destination, tmp_path, capsys):
    # An unwritable place that is unwritable for root too: a "directory" that is a file.
    config, _ = destination
    source = members(tmp_path / "members.jsonl")

    checkpoint = str(source / "cp.json")
    # Worded: "checkpoint ... cannot be read (NotADirectoryError); pass --restart to discard it ..."
    one_line_failure(backfill_argv(config, source, "--checkpoint", checkpoint), capsys, status=2)

    # Following that advice is a traceback: unlink(missing_ok=True) forgives only FileNotFoundError.
    one_line_failure(backfill_argv(config, source, "--checkpoint", checkpoint, "--restart"), capsys)


def test_a_rejects_file_that_cannot_be_opened_is_one_line(destination, tmp_path, capsys):
    config, _ = destination
    source = members(tmp_path / "members.jsonl")
    (tmp_path / "members.jsonl.checkpoint.rejects.jsonl").mkdir()  # where the rejects file must go

    one_line_failure(backfill_argv(config, source), capsys)


def test_restart_with_a_checkpoint_that_is_a_directory_is_one_line(destination, tmp_path, capsys):
    config, _ = destination
    source = members(tmp_path / "members.jsonl")
    (tmp_path / "members.jsonl.checkpoint.json").mkdir()
    # Without --restart this is worded ("cannot be read (IsADirectoryError); pass --restart");
    # following that advice is what raises.
    one_line_failure(backfill_argv(config, source), capsys, status=2)

    one_line_failure(backfill_argv(config, source, "--restart"), capsys)


def test_check_with_a_config_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(EXAMPLE_CONFIG.read_text().replace("CRM", "CRM caf\u00e9").encode("latin-1"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambdas"), "AWS_REGION": REGION}

    run = subprocess.run(
        [sys.executable, "-m", "kinesis_export", "check", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_rejects_with_a_limit_of_zero_or_less_is_a_usage_error(moto_endpoint, monkeypatch, capsys, limit):
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName=f"attack3-rejects-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(
        QueueUrl=queue,
        MessageBody="{}",
        MessageAttributes={"errorCode": {"DataType": "String", "StringValue": "INVALID_JSON"}},
    )

    with pytest.raises(SystemExit) as exited:
        main(["rejects", queue, "--limit", limit])

    # A usage error, not "0 rejected messages (none)" with a reject waiting
    printed = capsys.readouterr()
    assert exited.value.code == 2
    assert "none" not in printed.out and "--limit: must be a whole number above 0" in printed.err
