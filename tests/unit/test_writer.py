"""The writer against a fake Kinesis client: every call is recorded, faults are scripted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import EndpointConnectionError

from kinesis_export.deadline import Deadline
from kinesis_export.records import Record
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis, client_error


class FakeClock:
    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def sleep(self, seconds: float) -> None:
        self.left -= seconds


def records(*keys: str, size: int = 10) -> list[Record]:
    return [Record(key, f"{n:0{size}d}".encode()) for n, key in enumerate(keys)]


def write(batch: list[Record], kinesis: FakeKinesis, seconds: float = 30.0, concurrency: int = 1):
    clock = FakeClock(seconds)
    writer = KinesisWriter(kinesis, "stream", concurrency=concurrency, sleep=clock.sleep)
    return writer.write(batch, Deadline(lambda: clock.left))


def test_calls_hold_at_most_500_records():
    kinesis = FakeKinesis()

    result = write(records(*(f"k{n}" for n in range(1200))), kinesis)

    assert [len(call) for call in kinesis.calls] == [500, 500, 200]
    assert result.failed == {} and result.calls == 3


def test_calls_hold_at_most_five_mebibytes():
    kinesis = FakeKinesis()
    big = 900 * 1024

    write(records(*(f"k{n}" for n in range(12)), size=big), kinesis)

    assert [len(call) for call in kinesis.calls] == [5, 5, 2]
    assert all(sum(len(e["Data"]) + len(e["PartitionKey"]) for e in call) <= 5 * 1024 * 1024 for call in kinesis.calls)


def test_only_failed_entries_are_sent_again():
    kinesis = FakeKinesis(
        lambda call, entries: {1: "ProvisionedThroughputExceededException", 3: "InternalFailure"} if call == 1 else None
    )

    result = write(records("a", "b", "c", "d"), kinesis)

    assert [e["PartitionKey"] for e in kinesis.calls[1]] == ["b", "d"]
    assert result.failed == {} and result.retried == 2
    assert sorted(key for key, _ in kinesis.stream) == ["a", "b", "c", "d"]


def test_records_of_one_key_reach_the_stream_in_batch_order_despite_retries():
    # Fail the first entry of every odd call: a key's head fails while other keys go ahead.
    kinesis = FakeKinesis(lambda call, entries: {0: "ProvisionedThroughputExceededException"} if call % 2 else None)
    batch = records("a", "b", "a", "a", "b", "c", "a", "b")

    result = write(batch, kinesis)

    assert result.failed == {}
    for key in "abc":
        written = [data for k, data in kinesis.stream if k == key]
        assert written == [r.data for r in batch if r.partition_key == key]
    assert all(len({e["PartitionKey"] for e in call}) == len(call) for call in kinesis.calls), "a key twice in a call"


def test_fatal_entry_error_fails_that_record_and_the_later_ones_of_its_key_only():
    kinesis = FakeKinesis(lambda call, entries: {0: "KMSAccessDeniedException"} if call == 1 else None)

    result = write(records("a", "b", "a", "b"), kinesis)

    assert set(result.failed) == {0, 2}
    assert result.failed[0].startswith("KMSAccessDeniedException")
    assert "an earlier record of its partition key failed" in result.failed[2]
    assert [key for key, _ in kinesis.stream] == ["b", "b"]


def test_throttled_call_is_retried_whole():
    kinesis = FakeKinesis(lambda call, entries: client_error("ThrottlingException") if call < 3 else None)

    result = write(records("a", "b"), kinesis)

    assert result.failed == {} and len(kinesis.calls) == 3
    assert len(kinesis.stream) == 2


def test_server_and_connection_errors_are_retried():
    faults = {1: client_error("InternalFailure", 500), 2: EndpointConnectionError(endpoint_url="http://127.0.0.1:1")}
    kinesis = FakeKinesis(lambda call, entries: faults.get(call))

    result = write(records("a"), kinesis)

    assert result.failed == {} and len(kinesis.calls) == 3


def test_access_denied_fails_fast_without_retrying():
    kinesis = FakeKinesis(lambda call, entries: client_error("AccessDeniedException"))

    result = write(records("a", "b"), kinesis)

    assert len(kinesis.calls) == 1
    assert set(result.failed) == {0, 1} and result.failed[0].startswith("AccessDeniedException")


def test_retries_stop_at_the_deadline_and_report_every_unwritten_record():
    kinesis = FakeKinesis(lambda call, entries: client_error("ProvisionedThroughputExceededException"))

    result = write(records("a", "b", "a"), kinesis, seconds=5.0)

    assert set(result.failed) == {0, 1, 2}
    assert all("deadline" in reason for reason in result.failed.values())
    assert 3 <= len(kinesis.calls) < 200


def test_answer_with_the_wrong_number_of_entries_is_not_trusted():
    class ShortAnswer(FakeKinesis):
        def put_records(self, stream_name: str, records: Sequence[Record]) -> dict[str, Any]:
            answer = super().put_records(stream_name, records)
            if len(self.calls) == 1:
                answer["Records"] = answer["Records"][:1]
            return answer

    kinesis = ShortAnswer()

    result = write(records("a", "b"), kinesis)

    assert result.failed == {} and len(kinesis.calls) == 2


def test_concurrent_calls_write_every_record_in_key_order():
    kinesis = FakeKinesis(
        lambda call, entries: {0: "ProvisionedThroughputExceededException"} if call % 3 == 0 else None
    )
    batch = records(*(f"k{n % 700}" for n in range(2100)))

    result = write(batch, kinesis, concurrency=4)

    assert result.failed == {}
    for key in ("k0", "k1", "k699"):
        assert [d for k, d in kinesis.stream if k == key] == [r.data for r in batch if r.partition_key == key]
