from kinesis_export.rejects import Rejection, RejectsQueue
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

    assert unsent == set()
    assert sqs.calls == [10, 10, 7, 1]
    assert [e["MessageBody"] for e in sqs.sent] == [r.body for r in small + large]
