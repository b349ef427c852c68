"""The writer against a fake Kinesis client: every call is recorded, faults are scripted."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from kinesis_export.credentials import SecretError
from kinesis_export.deadline import Deadline
from kinesis_export.records import Record
from kinesis_export.writer import ErrorClass, KinesisWriter, error_class
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


def call_bytes(call: list[dict[str, Any]]) -> int:
    return sum(len(e["Data"]) + len(e["PartitionKey"]) for e in call)


def test_calls_of_records_up_to_one_mebibyte_hold_at_most_five_mebibytes():
    kinesis = FakeKinesis()
    big = 900 * 1024

    write(records(*(f"k{n}" for n in range(12)), size=big), kinesis)

    assert [len(call) for call in kinesis.calls] == [5, 5, 2]
    assert all(call_bytes(call) <= 5 * 1024 * 1024 for call in kinesis.calls)


def test_records_over_one_mebibyte_go_in_calls_of_their_own_up_to_the_largest():
    # given small records around a 1.5 MiB one and one at the largest size a stream takes (10 MiB, key included)
    largest = Record("huge", b"x" * (10 * 1024 * 1024 - len("huge")))
    batch = [*records("a", "b"), Record("large", b"x" * (3 * 512 * 1024)), largest, *records("c")]
    kinesis = FakeKinesis()

    # when they are written
    result = write(batch, kinesis)

    # then each large one went alone, the small ones together, and every call is within the 10 MiB limit
    assert result.failed == {}
    assert sorted([e["PartitionKey"] for e in call] for call in kinesis.calls) == [["a", "b", "c"], ["huge"], ["large"]]
    assert max(call_bytes(call) for call in kinesis.calls) == 10 * 1024 * 1024


def test_a_large_record_the_stream_refuses_fails_alone_and_the_others_are_written():
    # given a stream that takes less than the config says: Kinesis refuses a call holding a record over its limit
    def refuse_large(call: int, entries: list[dict[str, Any]]) -> Exception | None:
        return client_error("ValidationException") if any(call_bytes([e]) > 1024 * 1024 for e in entries) else None

    kinesis = FakeKinesis(refuse_large)
    batch = [*records("a", "b"), Record("large", b"x" * (3 * 512 * 1024)), *records("c", "large")]

    # when the records are written
    result = write(batch, kinesis)

    # then the large record fails for good, with the later record of its key, and no other record with it
    assert set(result.failed) == {2, 4}
    assert result.failed[2].startswith("ValidationException")
    assert sorted(key for key, _ in kinesis.stream) == ["a", "b", "c"]


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
        def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
            answer = super().put_records(StreamName=StreamName, Records=Records)
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


class StalledKinesis(FakeKinesis):
    """Calls that do not answer until released (or 10 s have passed), like an answer dripped a byte at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.release.wait(timeout=10)
        return super().put_records(StreamName=StreamName, Records=Records)


def test_calls_with_no_answer_by_the_deadline_are_abandoned_and_their_records_failed():
    # given 12 calls' worth of records, 2 calls at a time, and a Kinesis that does not answer
    kinesis = StalledKinesis()
    writer = KinesisWriter(kinesis, "stream", concurrency=2)
    batch = records(*(f"key-{n}" for n in range(12 * 500)), size=1)

    # when the deadline comes after 0.2 s
    try:
        result = writer.write(batch, Deadline.after(0.2))
        written_by_then = len(kinesis.stream)
    finally:
        kinesis.release.set()

    # then every record is reported failed: those of the 2 calls started, outcome unknown; the rest never sent
    assert written_by_then == 0
    assert len(result.failed) == len(batch)
    reasons = Counter(result.failed.values())
    assert reasons["no answer before the deadline (written or not: unknown)"] == 2 * 500
    assert reasons["deadline reached before it was sent"] == 10 * 500
    assert result.calls == 2
    # and only the records of the calls abandoned count as errors: the others were never sent
    assert result.errors == {ErrorClass.OTHER: 2 * 500}


def test_a_writer_whose_calls_were_abandoned_writes_again_with_new_workers():
    kinesis = StalledKinesis()
    writer = KinesisWriter(kinesis, "stream", concurrency=1)
    try:
        writer.write(records("a"), Deadline.after(0.1))
        # when the stalled worker is still stuck, a later batch still gets a worker of its own
        stuck = writer.write(records("b"), Deadline.after(0.1))
    finally:
        kinesis.release.set()

    assert set(stuck.failed) == {0}, "the stalled Kinesis holds every call"
    assert "no answer" in stuck.failed[0], "the second call was sent (a new worker), not left queued"


def test_what_aws_quotes_of_the_request_is_left_out_of_reasons():
    error = client_error("ValidationException")
    error.response["Error"]["Message"] = (
        "1 validation error detected: Value 'jane.doe@example.com' at 'records.1.member.partitionKey' failed"
    )
    kinesis = FakeKinesis(lambda call, entries: error)

    result = write(records("jane.doe@example.com"), kinesis)

    assert "jane.doe" not in result.failed[0]
    assert result.failed[0].startswith("ValidationException: 1 validation error detected: Value '…' at '…'")


def test_an_unexpected_error_of_the_client_fails_its_records_instead_of_the_batch():
    # given a client that raises what nobody foresaw: taken as an answer it could not read, so retried
    def fault(call: int, entries: Any) -> Exception:
        return RuntimeError("the answer could not be read")

    result = write(records("a", "b"), FakeKinesis(fault))

    assert set(result.failed) == {0, 1}
    assert "PutRecords answer unreadable (RuntimeError)" in result.failed[0]
    assert result.retried >= 2


@pytest.mark.parametrize(
    "error",
    [NoCredentialsError(), SecretError("secret arn:aws:secretsmanager:us-east-1:1:secret:s must be JSON")],
    ids=["no-credentials", "secret-of-the-wrong-shape"],
)
def test_credentials_that_cannot_be_had_fail_the_records_without_a_retry(error):
    kinesis = FakeKinesis(lambda call, entries: error)

    result = write(records("a", "b"), kinesis)

    assert set(result.failed) == {0, 1} and result.retried == 0 and len(kinesis.calls) == 1
    assert result.failed[0].startswith(type(error).__name__)


def test_records_a_call_did_not_write_are_counted_by_class_at_every_attempt():
    # given four records: the first call fails whole (503), the second fails four entries, three of them retried
    entry_faults = {
        0: "ProvisionedThroughputExceededException",
        1: "KMSThrottlingException",
        2: "KMSDisabledException",  # not retried: fails for good
        3: "InternalFailure",
    }
    faults = {1: client_error("ServiceUnavailable", 503), 2: entry_faults}
    kinesis = FakeKinesis(lambda call, entries: faults.get(call))

    # when they are written
    result = write(records("a", "b", "c", "d"), kinesis)

    # then every record not written by a call counts once per call, retried or not
    assert result.errors == {ErrorClass.INTERNAL_FAILURE: 4 + 1, ErrorClass.THROTTLED: 1, ErrorClass.KMS: 2}
    assert set(result.failed) == {2} and result.retried == 4 + 3
    assert len(kinesis.calls) == 3


@pytest.mark.parametrize(
    ("fault", "counted"),
    [
        (client_error("AccessDeniedException"), ErrorClass.ACCESS_DENIED),
        (client_error("ResourceNotFoundException"), ErrorClass.NOT_FOUND),
        (client_error("KMSAccessDeniedException"), ErrorClass.KMS),
        (client_error("InvalidArgumentException"), ErrorClass.OTHER),
        (NoCredentialsError(), ErrorClass.OTHER),
    ],
    ids=["access-denied", "not-found", "kms", "invalid-argument", "no-credentials"],
)
def test_a_call_failed_for_good_counts_each_of_its_records_in_its_class(fault, counted):
    kinesis = FakeKinesis(lambda call, entries: fault)

    result = write(records("a", "b", "c"), kinesis)

    assert result.errors == {counted: 3} and len(kinesis.calls) == 1


def test_calls_retried_after_errors_that_are_not_kinesis_codes_count_as_other():
    faults = {1: EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), 2: RuntimeError("unreadable")}
    kinesis = FakeKinesis(lambda call, entries: faults.get(call))

    result = write(records("a", "b"), kinesis)

    assert result.failed == {} and result.errors == {ErrorClass.OTHER: 4}


def test_a_batch_written_at_once_counts_no_errors():
    result = write(records("a", "b"), FakeKinesis())

    assert result.errors == {}


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ProvisionedThroughputExceededException", 0, ErrorClass.THROTTLED),
        ("ThrottlingException", 400, ErrorClass.THROTTLED),
        ("LimitExceededException", 400, ErrorClass.THROTTLED),
        ("InternalFailure", 0, ErrorClass.INTERNAL_FAILURE),
        ("InternalFailure", 500, ErrorClass.INTERNAL_FAILURE),
        ("ServiceUnavailable", 503, ErrorClass.INTERNAL_FAILURE),
        ("KMSThrottlingException", 0, ErrorClass.KMS),
        ("KMSAccessDeniedException", 400, ErrorClass.KMS),
        ("KMSDisabledException", 0, ErrorClass.KMS),
        ("KMSNotFoundException", 0, ErrorClass.KMS),
        ("KMSInvalidStateException", 0, ErrorClass.KMS),
        ("KMSOptInRequired", 0, ErrorClass.KMS),
        ("AccessDeniedException", 400, ErrorClass.ACCESS_DENIED),
        ("AccessDenied", 403, ErrorClass.ACCESS_DENIED),
        ("ResourceNotFoundException", 400, ErrorClass.NOT_FOUND),
        ("ValidationException", 400, ErrorClass.OTHER),
        ("ExpiredTokenException", 400, ErrorClass.OTHER),
    ],
)
def test_error_codes_are_classed_by_what_an_operator_does_about_them(code, status, expected):
    assert error_class(code, status) is expected


def test_each_record_written_has_the_time_its_call_returned_and_no_failed_one_has():
    # given a retried record and one that fails for good
    kinesis = FakeKinesis(
        lambda call, entries: (
            {1: "ProvisionedThroughputExceededException", 2: "KMSDisabledException"} if call == 1 else None
        )
    )
    before = time.time()

    # when they are written
    result = write(records("a", "b", "c"), kinesis)

    # then the written ones have a time, the retried one's no earlier than its first call's, the failed one none
    after = time.time()
    assert set(result.written_at) == {0, 1} and set(result.failed) == {2}
    assert before <= result.written_at[0] <= result.written_at[1] <= after
