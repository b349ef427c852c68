import json
import re
import threading

import pytest

from kinesis_export.deadline import Deadline
from kinesis_export.queues import Queue
from kinesis_export.rejects import Rejection, RejectsQueue, element_body
from tests.fakes import FakeSqs


class CountingSqs(FakeSqs):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def send_message_batch(self, **kwargs):
        self.calls.append(len(kwargs["Entries"]))
        return super().send_message_batch(**kwargs)


def test_rejects_are_sent_ten_at_a_time_within_256_kib():
    sqs = CountingSqs()
    small = [Rejection(f"m{n}", "x", "INVALID_JSON", "body is not JSON") for n in range(25)]
    large = [Rejection(f"big{n}", "y" * 100_000, "INVALID_EVENT", "eventId: required") for n in range(3)]

    unsent = RejectsQueue(Queue(sqs, "https://sqs.local/rejects")).send(small + large, Deadline.after(5))

    assert unsent == []
    assert sorted(sqs.calls) == [1, 7, 10, 10]
    assert sorted(e["MessageBody"] for e in sqs.sent) == sorted(r.body for r in small + large)


def test_an_elements_reject_carries_its_index_and_a_whole_bodys_does_not():
    sqs = FakeSqs()
    element = Rejection("m1", "42", "INVALID_EVENT", "[3] must be a JSON object", index=3)
    whole = Rejection("m2", "not json", "INVALID_JSON", "body is not JSON")

    RejectsQueue(Queue(sqs, "https://sqs.local/rejects")).send([element, whole], Deadline.after(5))

    by_id = {entry["MessageAttributes"]["sourceMessageId"]["StringValue"]: entry for entry in sqs.sent}
    first, second = (by_id[message_id]["MessageAttributes"] for message_id in ("m1", "m2"))
    assert first["sourceIndex"] == {"DataType": "Number", "StringValue": "3"}
    assert first["sourceMessageId"]["StringValue"] == "m1"
    assert "sourceIndex" not in second


def test_the_rejections_the_queue_did_not_take_are_returned():
    rejections = [Rejection("m1", "a", "INVALID_EVENT", "[0] x", 0), Rejection("m2", "b", "INVALID_EVENT", "y")]

    refused = RejectsQueue(Queue(FakeSqs(refuse=frozenset({"m1"})), "q")).send(rejections, Deadline.after(5))
    down = RejectsQueue(Queue(FakeSqs(down=True), "q")).send(rejections, Deadline.after(5))

    assert refused == rejections[:1]
    assert down == rejections


# What SQS takes in a message body, as its SendMessage documentation lists it.
SQS_BODY = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


@pytest.mark.parametrize(
    "element",
    [
        {"eventId": "e", "attributes": {"name": "Zoë 中 😀", "odd": "\ufffe\uffff\u0001"}},
        ["nested", None, 1.5, 10**30],
        "a string",
    ],
)
def test_an_elements_body_is_its_own_json_in_characters_sqs_takes(element):
    text = element_body(element)

    assert json.loads(text) == element
    assert SQS_BODY.fullmatch(text)


class StalledSqs(FakeSqs):
    """A rejects queue that does not answer until released (or 10 s have passed)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def send_message_batch(self, **kwargs):
        self.release.wait(timeout=10)
        return super().send_message_batch(**kwargs)


def test_rejects_the_queue_has_not_taken_by_the_deadline_are_returned_unparked():
    sqs = StalledSqs()
    rejections = [Rejection(f"m{n}", "x", "INVALID_JSON", "body is not JSON") for n in range(45)]

    try:
        unparked = RejectsQueue(Queue(sqs, "q", concurrency=2)).send(rejections, Deadline.after(0.2))
        sent_by_then = list(sqs.sent)
    finally:
        sqs.release.set()

    assert sorted(r.message_id for r in unparked) == sorted(r.message_id for r in rejections)
    assert sent_by_then == []
