"""Forged continuation attributes cost nothing: a producer can set any message attribute.

Found by a second adversarial review: `continuesIndexes` was unspanned for every message of a batch,
before anything else: "0-99999" (7 characters) became 100,000 ints, 3.6 MB, and 500 such messages 1.8 GB
in a 512 MB function, which died with every message of its batch, again on every delivery. Indexes are
now read only for a message holding an array, and no more of them than it has elements.
"""

from __future__ import annotations

import json
import uuid

import pytest

from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import export_batch
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis
from tests.support import handler_module, profile_event, traced_peak


@pytest.fixture
def export_module():
    return handler_module("export")


def forged(message_id: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "body": body,
        "messageAttributes": {
            "continuesMessageId": {"stringValue": str(uuid.uuid4()), "dataType": "String"},
            "continuesIndexes": {"stringValue": "0-99999", "dataType": "String"},
        },
    }


def test_forged_continuation_indexes_cost_memory_in_proportion_to_the_batch_not_100000_ints_a_message(
    export_module, example_config
):
    # Given 20 tiny messages (a valid event, or an array of two; the batch could be 500 or 10,000) whose
    # producer set continuesIndexes to "0-99999" beside an id shaped as SQS's
    event = json.dumps(profile_event("p", event_id="e"))
    bodies = [event if n % 2 else f"[{event},{event}]" for n in range(20)]
    records = [forged(f"m{n}", body) for n, body in enumerate(bodies)]
    payload = sum(len(json.dumps(record)) for record in records)
    writer = KinesisWriter(FakeKinesis(), example_config.stream.name)

    # When the handler reads their origins and exports the batch
    report, peak = traced_peak(
        lambda: export_batch(
            [(record["messageId"], record["body"]) for record in records],
            RecordPlan(example_config),
            writer,
            None,
            Deadline.after(30),
            continued=export_module._origins(records),
        )
    )

    # Then it holds about what the batch holds, not 3.6 MB a message (1.8 GB for a default batch of 500)
    assert report.failed_message_ids == []
    assert peak < 1024 * 1024, f"{peak / 2**20:.1f} MB for a {payload / 1024:.0f} KB batch of {len(records)}"
