"""Profile state against moto's DynamoDB on loopback: change events through the function, the backfill seeding the
state, and the table's adapter (calls of 100 keys, conditional writes)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import boto3
import pytest

from kinesis_export.deadline import Deadline
from kinesis_export.profile_store import DynamoProfileStore
from kinesis_export.profiles import Conflict, Stored
from kinesis_export_cli.local import poll_once, read_stream
from kinesis_export_cli.main import main
from tests.integration.conftest import REGION
from tests.integration.profile_table import create_profile_table, items, stateful_pipeline
from tests.support import HIGH_PROPENSITY, WHITE_PAPER

ECID = "14575006536349286404619648085736425115"


def change(event_id: str, at: str, **content: object) -> str:
    return json.dumps(
        {"eventId": event_id, "identityMap": {"ECID": [{"id": ECID, "primary": True}]}, "timestamp": at, **content}
    )


def enters(segment: str, at: str) -> dict[str, object]:
    return {"segmentMembership": {"ups": {segment: {"status": "realized", "lastQualificationTime": at}}}}


def test_change_events_through_the_function_become_records_of_the_whole_profile(start_pipeline, monkeypatch):
    # given the function with profileState, and three change events of one profile in the ingest queue
    pipeline, table = stateful_pipeline(start_pipeline, monkeypatch)
    for body in (
        change("e1", "2020-05-25T21:00:00Z", **enters(HIGH_PROPENSITY, "2020-05-25T21:00:00Z")),
        change("e2", "2020-05-25T21:05:00Z", attributes={"person": {"email": "yourstruly@adobe.com"}}),
        change("e3", "2020-05-25T21:10:00Z", **enters(WHITE_PAPER, "2020-05-25T21:10:00Z")),
    ):
        pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=body)
    written_at = time.time()

    # when Lambda's poller delivers them in one batch
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    # then three records, in order, each of the profile's state after its event
    assert (delivered, failed) == (3, [])
    records = [record.json() for record in read_stream(pipeline.kinesis, pipeline.stream_name)]
    assert [list(r["segmentMembership"]["ups"]) for r in records] == [
        [HIGH_PROPENSITY],
        [HIGH_PROPENSITY],
        [HIGH_PROPENSITY, WHITE_PAPER],
    ]
    email = {"email": "yourstruly@adobe.com"}
    assert [r.get("person") for r in records] == [None, email, email]
    # and the profile's state was written once for the batch, under the destination's name, with its time to live
    [(key, item)] = items(table).items()
    assert key == f"{pipeline.function.config.name}#{ECID}"
    assert item["version"] == {"N": "1"}
    assert 0 <= int(item["expiresAt"]["N"]) - (int(written_at) + 30 * 86_400) <= 5


def test_a_backfill_seeds_the_state_so_that_a_later_change_event_makes_a_full_record(
    start_pipeline, monkeypatch, tmp_path: Path
):
    # given the current members of a segment, with their e-mail, backfilled by the command line into the table
    pipeline, table = stateful_pipeline(start_pipeline, monkeypatch)
    members = tmp_path / "members.jsonl"
    members.write_text(
        "\n".join(
            json.dumps(
                {
                    "eventId": f"b{n}",
                    "identityMap": {"ECID": [{"id": f"{ECID[:-1]}{n}", "primary": True}]},
                    "segmentMembership": enters(HIGH_PROPENSITY, "2020-05-25T20:00:00Z")["segmentMembership"],
                    "attributes": {"person": {"email": f"member{n}@example.com"}},
                }
            )
            for n in range(3)
        )
        + "\n"
    )
    config = os.environ["DESTINATION_CONFIG_FILE"]
    assert main(["backfill", config, str(members), "--quiet", "--profile-table", table]) == 0
    assert len(items(table)) == 3

    # when a change event says only that member 1 entered the second segment
    pipeline.sqs.send_message(
        QueueUrl=pipeline.ingest_url,
        MessageBody=json.dumps(
            {
                "eventId": "c1",
                "identityMap": {"ECID": [{"id": f"{ECID[:-1]}1", "primary": True}]},
                "timestamp": "2020-05-25T21:00:00Z",
                **enters(WHITE_PAPER, "2020-05-25T21:00:00Z"),
            }
        ),
    )
    assert poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler) == (1, [])

    # then its record carries both segments and the backfilled e-mail
    last = [r for r in read_stream(pipeline.kinesis, pipeline.stream_name) if r.partition_key == f"{ECID[:-1]}1"][-1]
    assert last.json()["person"] == {"email": "member1@example.com"}
    assert list(last.json()["segmentMembership"]["ups"]) == [HIGH_PROPENSITY, WHITE_PAPER]


def test_the_backfill_of_a_destination_with_profile_state_needs_its_table(start_pipeline, monkeypatch, capsys):
    stateful_pipeline(start_pipeline, monkeypatch)

    assert main(["backfill", os.environ["DESTINATION_CONFIG_FILE"], "members.jsonl", "--quiet"]) == 2
    assert "--profile-table" in capsys.readouterr().err


@pytest.fixture
def table_on_moto(moto_endpoint, monkeypatch) -> DynamoProfileStore:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint)
    name = f"profiles-{os.urandom(4).hex()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    create_profile_table(name)
    return DynamoProfileStore(client, name, "crm-prospects")


def test_the_adapter_reads_many_profiles_in_calls_of_100_and_writes_only_on_the_version_read(table_on_moto):
    store = table_on_moto
    for n in range(0, 250, 5):
        store.put(f"P{n}", b'{"n": %d}' % n, version=1, expected=None, expires_at=2_000_000_000)

    found = store.read([f"P{n}" for n in range(250)], Deadline.after(10))

    assert found["P5"] == Stored(1, b'{"n": 5}', 2_000_000_000) and found["P6"] is None
    assert sum(value is not None for value in found.values()) == 50
    store.put("P5", b"{}", version=2, expected=1, expires_at=2_000_000_000)
    with pytest.raises(Conflict):
        store.put("P5", b"{}", version=2, expected=1, expires_at=2_000_000_000)
    with pytest.raises(Conflict):
        store.put("P10", b"{}", version=1, expected=None, expires_at=2_000_000_000)
    assert store.get("P5") == Stored(2, b"{}", 2_000_000_000)
