import json
import re

import pytest

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

    unsent = RejectsQueue(sqs, "https://sqs.local/rejects").send(small + large)

    assert unsent == []
    assert sqs.calls == [10, 10, 7, 1]
    assert [e["MessageBody"] for e in sqs.sent] == [r.body for r in small + large]


def test_an_elements_reject_carries_its_index_and_a_whole_bodys_does_not():
    sqs = FakeSqs()
    element = Rejection("m1", "42", "INVALID_EVENT", "[3] must be a JSON object", index=3)
    whole = Rejection("m2", "not json", "INVALID_JSON", "body is not JSON")

    RejectsQueue(sqs, "https://sqs.local/rejects").send([element, whole])

    first, second = (entry["MessageAttributes"] for entry in sqs.sent)
    assert first["sourceIndex"] == {"DataType": "Number", "StringValue": "3"}
    assert first["sourceMessageId"]["StringValue"] == "m1"
    assert "sourceIndex" not in second


def test_the_rejections_the_queue_did_not_take_are_returned():
    rejections = [Rejection("m1", "a", "INVALID_EVENT", "[0] x", 0), Rejection("m2", "b", "INVALID_EVENT", "y")]

    refused = RejectsQueue(FakeSqs(refuse=frozenset({"m1"})), "q").send(rejections)
    down = RejectsQueue(FakeSqs(down=True), "q").send(rejections)

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
