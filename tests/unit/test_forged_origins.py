"""Forged continuation attributes cost nothing: a producer can set any message attribute.

Found by a second adversarial review: `continuesIndexes` was unspanned for every message of a batch,
before anything else: "0-99999" (7 characters) became 100,000 ints, 3.6 MB, and 500 such messages 1.8 GB
in a 512 MB function, which died with every message of its batch, again on every delivery. Indexes are
now read only for a message holding an array, and no more of them than it has elements.
"""

from __future__ import annotations

import importlib
import json
import sys
import tracemalloc

import pytest

from tests.support import EXAMPLE_CONFIG, profile_event

HANDLER_MODULE = "kinesis_export.handlers.export"


@pytest.fixture
def export_module(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("REJECTS_QUEUE_URL", "WRITER_CONCURRENCY", "INGEST_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DESTINATION_CONFIG_FILE", str(EXAMPLE_CONFIG))
    monkeypatch.delitem(sys.modules, HANDLER_MODULE, raising=False)
    return importlib.import_module(HANDLER_MODULE)


def forged(message_id: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "body": body,
        "messageAttributes": {
            "continuesMessageId": {"stringValue": "x", "dataType": "String"},
            "continuesIndexes": {"stringValue": "0-99999", "dataType": "String"},
        },
    }


def test_forged_continuation_indexes_cost_memory_in_proportion_to_the_batch_not_100000_ints_a_message(
    export_module,
):
    # Given 20 tiny messages (a valid event each; the batch could be 500 or 10,000) whose producer
    # set continuesIndexes to "0-99999"
    body = json.dumps(profile_event("p", event_id="e"))
    records = [forged(f"m{n}", body) for n in range(20)]
    payload = sum(len(json.dumps(record)) for record in records)

    # When the handler reads their origins
    tracemalloc.start()
    try:
        origins = export_module._origins(records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it holds about what the batch holds, not 3.6 MB a message (1.8 GB for a default batch of 500;
    # none of these messages is even an array, so none of it is ever used)
    assert peak < 4 * 1024 * 1024, (
        f"{peak / 2**20:.0f} MB for a {payload / 1024:.0f} KB batch of {len(records)} messages "
        f"({sum(len(o.indexes) for o in origins.values()):,} indexes)"
    )
