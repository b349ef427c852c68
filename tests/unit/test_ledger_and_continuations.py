"""The idempotency ledger's failed claims, per-key order, and continuations (fake clients).

Found by an adversarial review: an event whose claim failed never reached the writer, so the later
records of its key were written all the same, overtaking it; and a claim that failed ambiguously (the
store wrote the INPROGRESS item, the answer was lost) was never released, so a continuation read at once
took the event for a duplicate of itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinesis_export.deadline import Deadline
from kinesis_export.idempotency import EventLedger
from kinesis_export.pipeline import ORIGIN_INDEXES_ATTRIBUTE, ORIGIN_MESSAGE_ATTRIBUTE, Origin, export_batch
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeIngest, FakeKinesis, FakePersistence, client_error
from tests.support import profile_event

PRODUCERS_ID = "0f8d1c9e-5a4b-4c1e-9d7a-2b6e8f0a1c3d"  # SQS message ids are UUIDs


def event(name: str, profile: str = "one-profile") -> dict[str, Any]:
    return profile_event(profile, event_id=f"evt-{name}", attributes={"person": {"name": {"lastName": name}}})


def run(example_config, messages, kinesis, persistence, ingest):
    writer = KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None)
    return export_batch(
        messages,
        RecordPlan(example_config),
        writer,
        None,
        Deadline.after(30),
        EventLedger(persistence),
        Queue(ingest, "https://sqs.local/ingest"),
    )


def deliver_continuations(example_config, kinesis, persistence, ingest, limit=10):
    """Play the poller: each continuation sent is delivered (at once) as a new message."""
    delivered = 0
    while ingest.bodies and delivered < limit:
        body = ingest.bodies.pop(0)
        report = run(example_config, [(f"cont-{delivered}", body)], kinesis, persistence, ingest)
        assert report.failed_message_ids == []
        delivered += 1


def names_on(kinesis: FakeKinesis) -> list[str]:
    return [json.loads(data)["person"]["name"]["lastName"] for _, data in kinesis.stream]


def test_a_failed_claim_holds_back_the_later_records_of_its_key(example_config):
    # Given one profile's array of two events, then a message of a third, and the idempotency table
    # throttling the first one's claim
    kinesis, ingest = FakeKinesis(), FakeIngest()
    persistence = FakePersistence(throttle=frozenset({"evt-first"}))
    messages = [("m1", json.dumps([event("first"), event("second")])), ("m2", json.dumps(event("third")))]

    # When the batch is exported
    report = run(example_config, messages, kinesis, persistence, ingest)

    # Then nothing of that profile overtook the first event: both messages come back whole, and nothing
    # of them was continued or written
    assert report.failed_message_ids == ["m1", "m2"] and report.continued == 0
    assert names_on(kinesis) == [] and ingest.bodies == []
    assert "not claimed" in report.failures["m2"]

    # and their redelivery (the claims released) writes all three, in order
    again = run(example_config, messages, kinesis, persistence, ingest)
    assert again.failed_message_ids == []
    assert names_on(kinesis) == ["first", "second", "third"]


def test_an_ambiguous_claim_is_never_released_and_its_continuation_is_dropped_as_a_duplicate(example_config):
    # Given an array of two profiles' events; the claim of the second is stored, but its answer is lost
    kinesis, ingest = FakeKinesis(), FakeIngest()
    persistence = FakePersistence(lose_answer=frozenset({"evt-b"}))
    messages = [("m1", json.dumps([event("a", "profile-a"), event("b", "profile-b")]))]

    # When the batch is exported, and its continuation delivered at once
    report = run(example_config, messages, kinesis, persistence, ingest)
    deliver_continuations(example_config, kinesis, persistence, ingest)

    # Then everything was acknowledged, so b must be on the stream: it is not (its own claim, never
    # released, made its continuation a "duplicate")
    assert report.failed_message_ids == [] and report.continued == 1
    assert ingest.bodies == []
    assert sorted(names_on(kinesis)) == ["a", "b"], names_on(kinesis)


class FlakyRejects:
    """The rejects queue: refuses the first SendMessageBatch call, keeps what later ones send."""

    def __init__(self) -> None:
        self.calls = 0
        self.sent: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise client_error("ServiceUnavailable", status=503, operation="SendMessageBatch")
        self.sent.extend(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def test_a_reject_parked_from_a_continuation_names_the_producers_message_and_index(example_config):
    # Given an array whose third element is invalid, and a rejects queue that fails its first call
    from kinesis_export.rejects import RejectsQueue

    kinesis, ingest, rejects_sqs = FakeKinesis(), FakeIngest(), FlakyRejects()
    rejects = RejectsQueue(Queue(rejects_sqs, "https://sqs.local/rejects"))
    writer = KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None)
    array = json.dumps([event("a", "profile-a"), event("b", "profile-b"), {"not": "an event"}])

    def export(message_id: str, text: str, origin: tuple[str, str] | None = None):
        return export_batch(
            [(message_id, text)],
            RecordPlan(example_config),
            writer,
            rejects,
            Deadline.after(30),
            None,
            Queue(ingest, "https://sqs.local/ingest"),
            {message_id: origin} if origin else None,
        )

    # When it is exported (the reject not parked: the message continues with it), then its continuation
    first = export(PRODUCERS_ID, array)
    assert first.continued == 1 and first.failed_message_ids == []
    second = export("continuation-message-id", ingest.bodies.pop(), ingest.origins.pop())
    assert second.failed_message_ids == [] and second.rejected == 1

    # Then the parked reject names where it came from, as the README promises: the producer's message id
    # and the element's index in it, not the continuation's
    [parked] = rejects_sqs.sent
    attributes = {name: value["StringValue"] for name, value in parked["MessageAttributes"].items()}
    assert (attributes["sourceMessageId"], attributes["sourceIndex"]) == (PRODUCERS_ID, "2"), attributes


@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, unique=True).map(sorted))
def test_a_continuations_indexes_read_back_as_they_were_written(indexes):
    origin = Origin(PRODUCERS_ID, indexes)
    attributes = origin.attributes()

    read = Origin.read(
        attributes[ORIGIN_MESSAGE_ATTRIBUTE]["StringValue"],
        attributes[ORIGIN_INDEXES_ATTRIBUTE]["StringValue"],
        len(indexes),
    )

    assert read == origin


@pytest.mark.parametrize(
    ("message_id", "indexes", "count"),
    [
        (PRODUCERS_ID, "", 1),
        (PRODUCERS_ID, "x", 1),
        (PRODUCERS_ID, "1-", 1),
        (PRODUCERS_ID, "-1", 1),
        (PRODUCERS_ID, "0-99999999999", 1),  # more than the message has: never built
        (PRODUCERS_ID, "3,,4", 2),
        (PRODUCERS_ID, "1-2-3", 3),
        (PRODUCERS_ID, "0-2", 2),
        (PRODUCERS_ID, "0", 2),  # fewer
        ("jane.doe@example.com", "0-1", 2),  # not an SQS message id: nothing else is named as a source
    ],
)
def test_continuation_attributes_that_do_not_fit_the_message_are_not_trusted(message_id, indexes, count):
    assert Origin.read(message_id, indexes, count) is None
