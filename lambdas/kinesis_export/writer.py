"""PutRecords with chunking, retries within the Lambda deadline, and per-key order.

Order: PutRecords does not keep order between the entries of one call when some of them
fail, so a call never holds two records of the same partition key. Each round sends the
oldest unwritten record of every key; a key's next record goes only once the previous
one is on the stream. Calls of one round hold different keys, so they run concurrently.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from .batching import batches
from .credentials import SecretError
from .deadline import NOT_STARTED, Calls, Deadline, Late
from .records import ANY_STREAM_RECORD_BYTES, Record

# PutRecords limits: 500 entries, and 10 MiB (data plus partition keys) per call since records of up to
# 10 MiB came, 5 MiB before (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html).
# Calls of records up to 1 MiB keep to the 5 MiB every stream has always taken: the 10 MiB figure is read
# from the documentation, not tried, and a call refused for its size would fail 500 records. A record over
# 1 MiB, which only a stream configured for it takes, goes alone, up to 10 MiB.
MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024

# Entry errors worth another try: the shard was busy, or Kinesis failed inside.
RETRYABLE_ENTRY_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)
# Raised before anything is sent: the credentials cannot be had. Any other exception of a call is
# taken as an answer that could not be read, and retried.
NOT_SENT = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, SecretError)

# Whole-call errors worth another try (besides any 5xx and connection errors).
RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "KMSThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class ErrorClass(StrEnum):
    """Why PutRecords did not write a record, grouped by what an operator does about it (see `error_class`)."""

    THROTTLED = "throttled"  # the stream's or the account's throughput: more shards, on-demand, fewer producers
    INTERNAL_FAILURE = "internal failure"  # Kinesis failed inside (InternalFailure, any 5xx): AWS's side
    KMS = "KMS"  # the stream's key: KMS throttling, access, disabled, not found, ...
    ACCESS_DENIED = "access denied"  # the function's (or assumed role's) permissions
    NOT_FOUND = "not found"  # the stream
    OTHER = "other"  # any other code, a connection error, an answer that could not be read or did not come


THROTTLING_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException"}
)


def error_class(code: str, status: int = 0) -> ErrorClass:
    """The class of an entry's ErrorCode, or of a whole call's error code and HTTP status."""
    if code in THROTTLING_ERRORS:
        return ErrorClass.THROTTLED
    if code.startswith("KMS"):
        return ErrorClass.KMS
    # AccessDenied (no "Exception"): STS's, when the role to assume refuses the function.
    if code in ("AccessDeniedException", "AccessDenied"):
        return ErrorClass.ACCESS_DENIED
    if code == "ResourceNotFoundException":
        return ErrorClass.NOT_FOUND
    if code == "InternalFailure" or status >= 500:
        return ErrorClass.INTERNAL_FAILURE
    return ErrorClass.OTHER


class PutRecordsAPI(Protocol):
    """The one method the writer calls of a boto3 Kinesis client; tests pass a fake."""

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> Mapping[str, Any]: ...


@dataclass
class WriteResult:
    """What happened to each record: failed ones by index with the reason; the rest are on the stream, and when."""

    failed: dict[int, str] = field(default_factory=dict)
    unknown: set[int] = field(default_factory=set)  # of the failed: in a call abandoned at the deadline
    # Each record on the stream, by index: when the call that wrote it returned (epoch seconds).
    written_at: dict[int, float] = field(default_factory=dict)
    calls: int = 0
    retried: int = 0
    # Records a call did not write, by class, counted at every attempt (a record retried twice counts
    # twice); records never sent (the deadline came first) are not counted.
    errors: Counter[ErrorClass] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Retry:
    reason: str
    error: ErrorClass


@dataclass(frozen=True)
class _Fail:
    reason: str
    error: ErrorClass


_Unwritten = _Retry | _Fail  # why a record is not on the stream after a call


class KinesisWriter:
    """Writes records to one stream; one instance per container, reused across invocations."""

    def __init__(
        self,
        client: PutRecordsAPI,
        stream_name: str,
        *,
        concurrency: int = 4,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.stream_name = stream_name
        # Backoff between retry rounds: full jitter up to base_delay * 2**round, at most max_delay.
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._calls = Calls(concurrency, "put-records")

    def write(self, records: Sequence[Record], deadline: Deadline) -> WriteResult:
        result = WriteResult()
        # Each round sends the head of every key: its oldest record not yet on the stream. A key's
        # later records wait in `behind` (most keys have none: one record per profile and batch).
        heads: list[int] = []
        behind: dict[str, deque[int]] = {}
        keys: set[str] = set()
        for index, record in enumerate(records):
            key = record.partition_key
            if key not in keys:
                keys.add(key)
                heads.append(index)
            elif (queue := behind.get(key)) is None:
                behind[key] = deque((index,))
            else:
                queue.append(index)

        sizes = [record.size for record in records]
        failed_rounds = 0
        last_error = ""
        # A round is started only when one twice as long as the last would be answered in time: a call
        # abandoned at the deadline has an unknown outcome, its records are written again, and its
        # message cannot be continued (pipeline._continue). Twice: a round's time varies.
        last_round = 0.0
        while heads:
            if deadline.remaining() <= 2 * last_round:
                self._give_up(heads, behind, result, last_error)
                break
            started = time.monotonic()
            unwritten = self._send_round(records, sizes, heads, result, deadline)
            last_round = time.monotonic() - started
            # Next round: the next record of each key whose head is now on the stream, and the retries.
            if behind:
                heads = [
                    queue.popleft()
                    for index in heads
                    if index not in unwritten and (queue := behind.get(records[index].partition_key))
                ]
            else:
                heads = []
            retry = False
            for index, outcome in unwritten.items():
                if isinstance(outcome, _Retry):
                    retry = True
                    last_error = outcome.reason
                    result.retried += 1
                    heads.append(index)
                else:
                    # Later records of this key must not overtake the failed one: fail them too.
                    result.failed[index] = outcome.reason
                    for later in behind.pop(records[index].partition_key, ()):
                        result.failed[later] = f"an earlier record of its partition key failed: {outcome.reason}"
            if not retry:
                failed_rounds = 0
                continue
            failed_rounds += 1
            # Exponential backoff with full jitter.
            delay = random.uniform(0, min(self.max_delay, self.base_delay * 2**failed_rounds))
            if deadline.remaining() <= delay + 2 * last_round:
                self._give_up(heads, behind, result, last_error)
                break
            self._sleep(delay)
        return result

    @staticmethod
    def _give_up(heads: list[int], behind: dict[str, deque[int]], result: WriteResult, last_error: str) -> None:
        reason = "deadline reached before the record was written" + (
            f" (last error: {last_error})" if last_error else ""
        )
        for index in heads:
            result.failed[index] = reason
        for queue in behind.values():
            for index in queue:
                result.failed[index] = reason

    def _send_round(
        self, records: Sequence[Record], sizes: list[int], heads: list[int], result: WriteResult, deadline: Deadline
    ) -> dict[int, _Unwritten]:
        """One call per chunk of the heads, all within the deadline; the records not on the stream after it, and why.

        A call with no answer by the deadline fails its records for good: the deadline is past.
        """
        # A record over 1 MiB goes in a call of its own: should the stream take less than the config says,
        # Kinesis refuses the whole call (ValidationException), and only that record fails, not its neighbours.
        alone = [[index] for index in heads if sizes[index] > ANY_STREAM_RECORD_BYTES]
        shared = [index for index in heads if sizes[index] <= ANY_STREAM_RECORD_BYTES] if alone else heads
        chunks = alone + list(batches(shared, sizes.__getitem__, MAX_RECORDS_PER_CALL, MAX_BYTES_PER_CALL))
        answers = self._calls.run(lambda chunk: self._put(records, chunk), chunks, deadline)
        unwritten: dict[int, _Unwritten] = {}
        for chunk, answer in zip(chunks, answers, strict=True):
            if isinstance(answer, Late):
                unwritten.update(dict.fromkeys(chunk, _Fail(answer.reason, ErrorClass.OTHER)))
                if answer.started:
                    result.unknown.update(chunk)
                    result.errors[ErrorClass.OTHER] += len(chunk)
                continue
            answered_at, not_written = answer
            if not not_written:
                result.written_at.update(dict.fromkeys(chunk, answered_at))
                continue
            unwritten.update(not_written)
            result.errors.update(outcome.error for outcome in not_written.values())
            result.written_at.update((index, answered_at) for index in chunk if index not in not_written)
        result.calls += sum(answer is not NOT_STARTED for answer in answers)
        return unwritten

    def _put(self, records: Sequence[Record], chunk: list[int]) -> tuple[float, dict[int, _Unwritten]]:
        """One PutRecords call: when it returned (epoch seconds), and its records not on the stream after it.

        Every entry is checked (an error code, else a sequence number), never only FailedRecordCount.
        """
        try:
            response = self._client.put_records(
                StreamName=self.stream_name,
                Records=[{"Data": records[i].data, "PartitionKey": records[i].partition_key} for i in chunk],
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code") or "Unknown"
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            reason = f"{code}: {_masked(error.response.get('Error', {}).get('Message', ''))}".rstrip(": ")
            kind = error_class(code, status)
            retry = code in RETRYABLE_CALL_ERRORS or status >= 500
            return time.time(), dict.fromkeys(chunk, _Retry(reason, kind) if retry else _Fail(reason, kind))
        except (BotocoreConnectionError, HTTPClientError) as error:
            return time.time(), dict.fromkeys(chunk, _Retry(f"connection error: {error}", ErrorClass.OTHER))
        except NOT_SENT as error:  # no credentials, a secret of the wrong shape: another try would not help
            return time.time(), dict.fromkeys(chunk, _Fail(f"{type(error).__name__}: {error}", ErrorClass.OTHER))
        except Exception as error:
            # Anything else came with or after the answer (one botocore could not read: not UTF-8, not an
            # object): whether the records were written is unknown, so they are sent again.
            reason = f"PutRecords answer unreadable ({type(error).__name__})"
            return time.time(), dict.fromkeys(chunk, _Retry(reason, ErrorClass.OTHER))
        answered_at = time.time()

        # Never infer success: an answer that does not match the request is retried whole. This is also
        # how a 200 whose body is garbled or cut short arrives: botocore parses it to no Records.
        answered = response.get("Records") if isinstance(response, dict) else None
        if not isinstance(answered, list) or len(answered) != len(chunk):
            count = len(answered) if isinstance(answered, list) else 0
            reason = f"PutRecords answered {count} entries for {len(chunk)}"
            return answered_at, dict.fromkeys(chunk, _Retry(reason, ErrorClass.OTHER))
        unwritten: dict[int, _Unwritten] = {}
        for position, entry in enumerate(answered):
            if not isinstance(entry, dict):
                unwritten[chunk[position]] = _Retry(
                    "PutRecords answered an entry that is not an object", ErrorClass.OTHER
                )
            elif entry.get("ErrorCode"):
                error_code = str(entry["ErrorCode"])
                reason = f"{error_code}: {_masked(str(entry.get('ErrorMessage', '')))}"
                kind = error_class(error_code)
                unwritten[chunk[position]] = (
                    _Retry(reason, kind) if error_code in RETRYABLE_ENTRY_ERRORS else _Fail(reason, kind)
                )
            elif not entry.get("SequenceNumber"):
                # On the stream only when Kinesis says where: an entry with neither that nor an error is sent again.
                reason = "PutRecords answered an entry with no sequence number"
                unwritten[chunk[position]] = _Retry(reason, ErrorClass.OTHER)
        return answered_at, unwritten


# AWS's messages may quote what was sent ("Value 'jane@example.com' at 'records.1.member.partitionKey'
# failed to satisfy constraint"): a partition key can be a raw identity. What is quoted is left out.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _masked(message: str) -> str:
    return _QUOTED.sub("'…'", message)
