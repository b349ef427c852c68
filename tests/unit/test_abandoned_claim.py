"""A claim with no answer by the deadline may still land: its message is not continued.

Found by a second adversarial review: a message was held back from continuing while a PutRecords call
carrying its records might still land, but not while a claim (the idempotency table's conditional
PutItem) might. A claim queued behind others starts late, so its in-progress expiry falls after the
write deadline; landing after `forget` deleted the item, it made the continuation, visible at once,
take its event for a duplicate of itself: acknowledged, never written.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from kinesis_export.deadline import Deadline
from kinesis_export.idempotency import EventLedger
from kinesis_export.pipeline import export_batch
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeIngest, FakeKinesis, FakePersistence, FakeSqs
from tests.support import profile_event


class SlowTable(FakePersistence):
    """The claim of `slow` takes 0.5 s; that of `held` is in flight (reaches the table) only when the test says so."""

    def __init__(self, slow: str, held: str) -> None:
        super().__init__()
        self.slow, self.held = slow, held
        self.release, self.landed = threading.Event(), threading.Event()

    def save_inprogress(self, data: dict[str, Any], remaining_time_in_millis: int | None = None) -> None:
        event_id = data["eventId"]
        started = time.time()
        if event_id == self.slow:
            self.slow = ""
            time.sleep(0.5)
        if event_id == self.held:
            self.held = ""
            self.release.wait(10)
            self._store(event_id, started, remaining_time_in_millis)
            self.landed.set()
            return
        self._store(event_id, started, remaining_time_in_millis)


def test_an_event_whose_claim_was_abandoned_is_not_lost_by_its_continuation(example_config):
    # Given an array of an invalid element and two events, a table answering claims one at a time, the
    # first slowly, the second not before the deadline (its request still on its way)
    kinesis, ingest, table = FakeKinesis(), FakeIngest(), SlowTable(slow="evt-a", held="evt-x")
    events = [profile_event("profile-a", event_id="evt-a"), profile_event("profile-x", event_id="evt-x")]
    body = json.dumps([1, *events])

    def export(message_id: str, text: str, seconds: float):
        return export_batch(
            [(message_id, text)],
            RecordPlan(example_config),
            KinesisWriter(kinesis, example_config.stream.name),
            RejectsQueue(Queue(FakeSqs(), "https://sqs.local/rejects")),
            Deadline.after(seconds),
            EventLedger(table, concurrency=1),
            Queue(ingest, "https://sqs.local/ingest"),
        )

    # When it is exported (the reject parked, so it made progress), and the late claim then reaches the table
    first = export("m1", body, 2.0)
    table.release.set()
    assert table.landed.wait(5)

    # Then it is not continued (the continuation, visible at once, would find evt-x's claim in progress and
    # take it for a duplicate of itself): it is redelivered whole, after its visibility timeout
    assert first.failed_message_ids == ["m1"] and first.continued == 0 and ingest.bodies == []
    time.sleep(2.0)  # the visibility timeout outlasts the invocation, and with it the late claim
    again = export("m1", body, 30)
    assert again.failed_message_ids == []
    assert {key for key, _ in kinesis.stream} == {"profile-a", "profile-x"}
