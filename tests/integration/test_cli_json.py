"""`--json`: what check, rejects and backfill print as text, as one JSON document a script can read."""

from __future__ import annotations

import json

from kinesis_export_cli.local import poll_once
from kinesis_export_cli.main import main
from tests.integration.conftest import REGION
from tests.support import EXAMPLE_CONFIG, profile_event


def test_check_json_is_the_report_and_the_status_is_the_text_commands(start_pipeline, tmp_path, capsys):
    # given a config for a stream that exists, and one for a stream that does not
    pipeline = start_pipeline()
    paths = {}
    for name in (pipeline.stream_name, "missing-stream"):
        config = json.loads(EXAMPLE_CONFIG.read_text())
        config["stream"] = {"name": name, "region": REGION}
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(config))

    # when each is checked with --json
    passed = main(["check", str(paths[pipeline.stream_name]), "--json"])
    passed_out = capsys.readouterr()
    failed = main(["check", str(paths["missing-stream"]), "--json"])
    failed_out = capsys.readouterr()

    # then stdout is one JSON document with the report's lines, and the exit status is as without --json
    assert passed == 0 and passed_out.err == ""
    assert json.loads(passed_out.out) == {
        "ok": True,
        "passed": ["credentials resolve (executionRole)", f"stream {pipeline.stream_name} is ACTIVE in {REGION}"],
        "problems": [],
    }
    assert failed == 1 and failed_out.err == ""
    assert json.loads(failed_out.out) == {
        "ok": False,
        "passed": ["credentials resolve (executionRole)"],
        "problems": [f"stream.name: no stream named 'missing-stream' in {REGION} for these credentials"],
    }


def test_rejects_json_lists_each_reject_with_its_code_and_reason_and_counts_them(start_pipeline, capsys):
    # given two invalid messages parked by the function
    pipeline = start_pipeline()
    for raw in ("not json", json.dumps({"eventId": "e"})):
        pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=raw)
    poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)
    capsys.readouterr()  # the function's logs

    # when they are listed with --json
    status = main(["rejects", pipeline.rejects_url, "--json"])

    # then each is there with the ids, codes and reasons the text output prints, and nothing else
    listed = json.loads(capsys.readouterr().out)
    assert status == 1
    assert listed["byCode"] == {"INVALID_JSON": 1, "INVALID_EVENT": 1} and listed["deleted"] is False
    reasons = {r["code"]: r["reason"] for r in listed["rejects"]}
    assert set(reasons) == {"INVALID_JSON", "INVALID_EVENT"}
    assert reasons["INVALID_EVENT"] == "identityMap: required; segmentMembership: required"
    assert all(set(r) == {"sourceMessageId", "code", "reason"} and r["sourceMessageId"] for r in listed["rejects"])

    # and, kept (no --delete), an empty list once they are deleted
    assert main(["rejects", pipeline.rejects_url, "--delete"]) == 1
    capsys.readouterr()
    assert main(["rejects", pipeline.rejects_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rejects": [], "byCode": {}, "deleted": False}


def test_backfill_json_gives_the_totals_and_where_the_bad_lines_are(destination, tmp_path, capsys):
    # given a members file of three good lines and one bad one
    config, _ = destination
    members = tmp_path / "members.jsonl"
    lines = [json.dumps(profile_event(f"member-{n}", event_id=f"e-{n}")) for n in range(3)]
    members.write_text("\n".join([*lines[:2], "not json", lines[2]]) + "\n")

    # when it is backfilled with --json
    status = main(["backfill", str(config), str(members), "--quiet", "--json"])

    # then stdout is the totals, and the status says a line was rejected
    assert status == 1
    assert json.loads(capsys.readouterr().out) == {
        "lines": 4,
        "exported": 3,
        "filtered": 0,
        "rejected": 1,
        "rejectsFile": str(tmp_path / "members.jsonl.checkpoint.rejects.jsonl"),
    }
