"""One SQS batch through the export path: parse, build records, write, park rejects, report.

A message body is one event, or a JSON array of events. Each element of an array is an event of
its own, in the array's order; its source is (message id, index). A message is acknowledged only
when every one of its events is written, filtered or parked as a reject, or when the unfinished
rest of its array went back to the ingest queue as a new message (`_continue`): otherwise the
whole message is reported failed, and SQS delivers all of it again (its other events are written
again: at least once, never lost).

From a FIFO queue, each message comes with its message group, and the answer keeps each group's
order (`held_for_group_order`): after a failed message, the later messages of its group are reported
failed too. Such a message is never continued: its rest, a new message, would queue behind the later
messages of its group.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from .deadline import Deadline
from .events import V1, V2, Contract, InvalidInput, element_texts, is_array, parse_array
from .profiles import Change, ProfilePlan, Profiles
from .queues import Outgoing, Queue, entry_size
from .records import NO_CONSENT, Record, RecordPlan, Skip
from .rejects import Rejection, RejectsQueue, element_body
from .writer import ErrorClass, KinesisWriter

if TYPE_CHECKING:
    from .idempotency import EventLedger


# An SQS message as the pipeline takes it: (message id, body). A plain tuple, made once per message,
# costs a third of a NamedTuple.
Message = tuple[str, str]
# Where an event came from: a message id, a line number or an item index; for an element of a body
# holding a JSON array, (that, the element's index).
Key = str | int
Source = Key | tuple[Key, int]
# What turns an event into its record: the config's plan, or with profileState the profile plan, which turns
# it into a Change for its profile's state (see `settle_profiles`).
Plan = RecordPlan | ProfilePlan

# Invalid elements of one array parked one by one, at most: beyond, the message is parked whole, as
# one reject (its valid elements with it, for a redrive once the producer is fixed). Each reject is a
# message of the rejects queue and a log line: a 256 KiB body of `[1,1,...]` would be 131,000 of them.
MAX_REJECTS_PER_MESSAGE = 100

# Time kept back from the writer, when some messages hold arrays, to send their unfinished rest
# back to the ingest queue (one SendMessageBatch round trip; a rest not sent in time is no loss:
# its message is redelivered whole).
CONTINUATION_SECONDS = 1.0

# Why a message whose own events are done is reported failed all the same (see held_for_group_order).
GROUP_ORDER_REASON = "an earlier message of its group failed"


@dataclass
class BatchReport:
    """Counts for metrics, and the messages to report as failed (retried by SQS, never dropped).

    The counts are of events: each element of a message holding a JSON array counts (a body that
    cannot be read as events at all, not JSON or an empty array, counts as one). `failed` is of
    messages: a message fails whole when any of its events is not done, whatever else was done.
    """

    received: int = 0  # events in the batch
    exported: int = 0  # events written in this invocation (those of a failed message included)
    filtered: int = 0
    without_consent: int = 0  # of the filtered: the profile's consent to share is "n"
    rejected: int = 0  # invalid events parked in the rejects queue
    duplicates: int = 0  # with idempotency: already written (or being written), so not written again
    idempotency_errors: int = 0  # idempotency table updates that failed after the write (not failures)
    failed_message_ids: list[str] = field(default_factory=list)  # in the batch's order
    failures: dict[str, str] = field(default_factory=dict)  # message id -> reason (its first event's that failed)
    rejections: list[Rejection] = field(default_factory=list)
    put_records_calls: int = 0
    put_records_retries: int = 0
    continued: int = 0  # messages acknowledged once the rest of their events went back to the ingest queue
    # Records PutRecords did not write, by class, at every attempt (retries included).
    put_records_errors: Counter[ErrorClass] = field(default_factory=Counter)
    # One value per event written, in milliseconds (a latency only with a SentTimestamp): see `_timings`.
    export_latencies_ms: list[int] = field(default_factory=list)
    qualification_ages_ms: list[int] = field(default_factory=list)
    qualified_ahead: int = 0  # of those: events whose qualification time was later than their write
    # With profileState: writes of a profile's state that found another version (each read, merged and
    # written again), and events failed because their profile's state could not be read or written.
    profile_conflicts: int = 0
    profile_failures: int = 0

    @property
    def failed(self) -> int:
        return len(self.failed_message_ids)


@dataclass
class Prepared:
    """A batch's events built: the records (with where each came from), the skips, the rejects.

    An event's source is the one its body came with (a message id, a line number, an item index)
    or, for an element of a body holding a JSON array, (that source, the element's index).
    """

    records: list[Record] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)  # each record's event's eventId
    filtered: int = 0
    without_consent: int = 0
    rejected: list[tuple[Source, InvalidInput]] = field(default_factory=list)
    # A body holding an array: how many elements. Only the count is kept: keeping every decoded element
    # alive until the batch's end cost arrays 4 µs an event (memory the allocator could not reuse).
    arrays: dict[Key, int] = field(default_factory=dict)
    unread: list[Key] = field(default_factory=list)  # sources not read before the deadline
    # With profileState: the events read, waiting for their profiles' state (settle_profiles), and those whose
    # profile's state could not be read or written, with the reason.
    pending: list[tuple[Source, Change]] = field(default_factory=list)
    unsettled: dict[Source, str] = field(default_factory=dict)
    conflicts: int = 0  # of the profiles' writes: those that found another version

    def extend(self, other: Prepared) -> None:
        self.records += other.records
        self.sources += other.sources
        self.event_ids += other.event_ids
        self.pending += other.pending
        self.filtered += other.filtered
        self.without_consent += other.without_consent
        self.rejected += other.rejected

    @property
    def received(self) -> int:
        """Events: one per body, or one per element of a body holding an array (an unreadable or unread one is one)."""
        waiting = len(self.pending) + len(self.unsettled)
        return len(self.records) + self.filtered + len(self.rejected) + len(self.unread) + waiting


def prepare_messages(messages: Iterable[Message], plan: Plan, deadline: Deadline | None = None) -> Prepared:
    """SQS message bodies, each an event or a JSON array of events: a record, a skip or a reject for each.

    A body holding an array is parsed once and each of its elements is an event. With a `deadline`,
    what is not read by then is left `unread`: reading costs CPU, which no timeout bounds, and a batch
    of a few million tiny array elements would take longer than any invocation has.
    """
    return _prepare(messages, plan, _contract(plan).parse_event, arrays=True, deadline=deadline)


def prepare_lines(lines: Iterable[tuple[int, bytes | str]], plan: Plan) -> Prepared:
    """Backfill lines by number, each one event: a JSON array, as any body that is not an object, is a reject."""
    return _prepare(lines, plan, _contract(plan).parse_event, arrays=False, deadline=None)


def prepare_items(items: Iterable[tuple[int, Any]], plan: Plan) -> Prepared:
    """Distributed Map items by index, each a decoded JSON value judged as an array's element is: an event,
    bare or in an EventBridge envelope; anything else (a number, a string, null) is a reject."""
    return _prepare(items, plan, _contract(plan).parse_element, arrays=False, deadline=None)


def _contract(plan: Plan) -> Contract[Any]:
    """The input contract a plan reads: v2 with profileState (optional segmentMembership, a timestamp), else v1."""
    return V2 if isinstance(plan, ProfilePlan) else V1


def _prepare(
    items: Iterable[tuple[Key, Any]],
    plan: Plan,
    parse: Callable[[Any], Any],
    *,
    arrays: bool,
    deadline: Deadline | None,
) -> Prepared:
    prepared = Prepared()
    for source, event in items:
        if deadline is not None and deadline.remaining() <= 0:
            prepared.unread.append(source)
            continue
        # An object body, the common case, is told by its first character before any call.
        if arrays and isinstance(event, str) and event[:1] != "{" and is_array(event):
            _prepare_elements(prepared, source, event, plan, deadline)
            continue
        try:
            parsed = parse(event)
            built = plan.build(parsed)
        except Exception as error:
            prepared.rejected.append((source, _as_invalid(error)))
            continue
        _keep(prepared, source, parsed["eventId"], built)
    return prepared


def _prepare_elements(prepared: Prepared, source: Key, body: str, plan: Plan, deadline: Deadline | None) -> None:
    """The elements of a body holding a JSON array, in order; an invalid one is rejected alone, with its index
    (up to MAX_REJECTS_PER_MESSAGE of them; beyond, the body is rejected whole)."""
    try:
        elements = parse_array(body)
    except Exception as error:
        prepared.rejected.append((source, _as_invalid(error)))
        return
    part = Prepared()
    parse_element = _contract(plan).parse_element
    for index, element in enumerate(elements):
        if deadline is not None and index % 1024 == 1023 and deadline.remaining() <= 0:
            prepared.unread.append(source)
            return
        try:
            parsed = parse_element(element)
            built = plan.build(parsed)
        except Exception as error:
            invalid = _as_invalid(error)
            part.rejected.append(((source, index), InvalidInput(invalid.code, f"[{index}] {invalid.reason}")))
            continue
        _keep(part, (source, index), parsed["eventId"], built)
    if len(part.rejected) > MAX_REJECTS_PER_MESSAGE:
        first = part.rejected[0][1]
        reason = (
            f"{len(part.rejected)} of its {len(elements)} elements are invalid (more than "
            f"{MAX_REJECTS_PER_MESSAGE} park the message whole); the first: {first.reason}"
        )
        prepared.rejected.append((source, InvalidInput(first.code, reason)))
        return
    prepared.arrays[source] = len(elements)
    prepared.extend(part)


def _as_invalid(error: Exception) -> InvalidInput:
    """Why one event cannot be exported, whatever its parse or build raised.

    Whatever one event holds, its failure is that event's alone: never an exception that fails
    the batch (the handler's, a backfill run's, a Map worker's) and brings its valid events back
    again and again. What the contract did not foresee is named by the exception's type only: its
    message may quote the input.
    """
    if isinstance(error, InvalidInput):
        return error
    return InvalidInput("INVALID_EVENT", f"cannot be exported: {type(error).__name__}")


def _keep(prepared: Prepared, source: Source, event_id: str, built: Record | Skip | Change) -> None:
    if isinstance(built, Skip):
        prepared.filtered += 1
        prepared.without_consent += built is NO_CONSENT
    elif isinstance(built, Change):
        prepared.pending.append((source, built))
    else:
        prepared.records.append(built)
        prepared.sources.append(source)
        prepared.event_ids.append(event_id)


def settle_profiles(prepared: Prepared, profiles: Profiles, deadline: Deadline) -> None:
    """With profileState: the events read merged into their profiles' state, which is written, and each
    event's record (of its profile's state after it), skip or reject kept, in the batch's order.

    This comes before any record is written (see profiles.py): an event whose profile's state could not
    be read or written is `unsettled`, and its message fails.
    """
    pending, prepared.pending = prepared.pending, []
    # The step's count runs since its start: this batch's are what it adds (a function runs one batch at a time).
    conflicts = profiles.conflicts
    outcomes = profiles.settle([change for _, change in pending], deadline)
    prepared.conflicts += profiles.conflicts - conflicts
    for (source, change), outcome in zip(pending, outcomes, strict=True):
        if isinstance(outcome, InvalidInput):
            index = _origin(source)[1]
            prepared.rejected.append(
                (source, outcome if index is None else InvalidInput(outcome.code, f"[{index}] {outcome.reason}"))
            )
        elif isinstance(outcome, Record | Skip):
            _keep(prepared, source, change.event_id, outcome)
        else:
            prepared.unsettled[source] = outcome.reason


def export_batch(
    messages: Sequence[Message],
    plan: RecordPlan,
    writer: KinesisWriter,
    rejects: RejectsQueue | None,
    deadline: Deadline,
    ledger: EventLedger | None = None,
    ingest: Queue | None = None,
    continued: Mapping[str, tuple[str, str]] | None = None,
    groups: Mapping[str, str] | None = None,
    sent_at: Mapping[str, int] | None = None,
    profiles: Profiles | None = None,
) -> BatchReport:
    """Export a batch; a message is acknowledged only once each of its events is written, filtered or
    parked as a reject (or, with a ledger, found to be a duplicate of an event already written), or
    once the rest of it is sent back to the ingest queue as a new message (see `_continue`).

    Every call to AWS is bounded by the deadline as a total, so this returns before it. `continued`
    holds, by message id, what a continuation's attributes say of its origin (continuesMessageId,
    continuesIndexes), as they came: a producer may set them too, so they are checked here.
    `groups` holds, by message id, the message group of each message from a FIFO queue: the answer
    then keeps each group's order (`held_for_group_order`), and no message is continued. `sent_at`
    holds, by message id, when its events arrived in the ingest queue (`arrival`), for ExportLatency.
    With `profiles` (profileState), events are read by its plan and merged into their profiles' state
    before any record is written (`settle_profiles`); a message whose profile's state failed is failed,
    and from a FIFO queue holds the later messages of its group as any failed message does.
    """
    # Reading may take half the time left, at most: the rest is the writer's.
    prepared = prepare_messages(messages, profiles.plan if profiles else plan, Deadline.after(deadline.remaining() / 2))
    if profiles is not None:
        # The profiles' state may take half of what is left, at most.
        settle_profiles(prepared, profiles, Deadline.after(deadline.remaining() / 2))
    report = BatchReport(
        received=prepared.received,
        filtered=prepared.filtered,
        without_consent=prepared.without_consent,
        profile_conflicts=prepared.conflicts,
        profile_failures=len(prepared.unsettled),
    )
    unfinished: dict[str, set[int | None]] = {}  # message id -> its events not done (None: the whole body)

    def fail(source: Any, reason: str) -> None:
        message_id, index = _origin(source)
        report.failures.setdefault(message_id, reason if index is None else f"[{index}] {reason}")
        unfinished.setdefault(message_id, set()).add(index)

    for source in prepared.unread:
        fail(source, "not read before the deadline: the batch held more than one invocation can read")
    for unsettled, reason in prepared.unsettled.items():
        fail(unsettled, f"its profile's state: {reason}")
    origins = _trusted_origins(continued or {}, prepared)
    bodies = dict(messages)

    @cache
    def own_texts(message_id: str) -> list[str]:
        return _element_texts(bodies[message_id], prepared.arrays[message_id])

    report.rejections = _rejections(bodies, prepared, origins, own_texts)

    # Rejects are parked while the writer writes: a slow rejects queue must not hold back valid events.
    # The valid events of a message failed there are written all the same: held back, they would let
    # later records of their partition keys overtake them; the redelivery writes them again.
    parking = rejects.start(report.rejections) if rejects is not None and report.rejections else None
    if rejects is None:
        for rejection in report.rejections:
            fail(
                (rejection.message_id, rejection.index),
                f"invalid input, and no rejects queue is configured (REJECTS_QUEUE_URL): {rejection.code}",
            )

    # With messages that may be continued, the writer stops in time for their rest to be sent. Never from a
    # FIFO queue (messages with a group): the rest would go behind the later messages of its group.
    continuing = ingest is not None and bool(prepared.arrays) and not groups
    write_deadline = deadline.earlier(CONTINUATION_SECONDS) if continuing else deadline

    # Which records to write, by index in prepared.records: all of them, or those the ledger claimed.
    to_write = list(range(len(prepared.records)))
    unwritten: list[int] = []  # records not written, by index: with a ledger, their claims are released
    claim_unknown: set[int] = set()  # records whose claim had no answer by the deadline (it may still land)
    if ledger is not None:
        claims = ledger.claim(prepared.event_ids, write_deadline)
        claim_unknown = claims.unknown
        report.duplicates = len(claims.duplicates)
        for record, reason in claims.failed.items():
            fail(prepared.sources[record], reason)
        # A record whose claim failed is not written: the later records of its key must not overtake it.
        to_write, held = _not_overtaking(prepared.records, claims.claimed, claims.failed)
        for record, reason in held.items():
            fail(prepared.sources[record], reason)
        unwritten = [*claims.failed, *held]

    written = writer.write([prepared.records[i] for i in to_write], write_deadline)
    report.put_records_calls = written.calls
    report.put_records_retries = written.retried
    report.exported = len(to_write) - len(written.failed)
    report.put_records_errors = written.errors
    _timings(report, prepared, to_write, written.written_at, sent_at or {})
    for position, reason in written.failed.items():
        fail(prepared.sources[to_write[position]], reason)
        unwritten.append(to_write[position])

    if parking is not None:
        unparked = parking.unparked(write_deadline)
        for rejection in unparked:
            fail(
                (rejection.message_id, rejection.index),
                f"invalid input, and the rejects queue did not take it: {rejection.code}",
            )
        report.rejected = len(report.rejections) - len(unparked)

    # A message is not continued while a call carrying one of its records (or one's claim) may still
    # land: the continuation, visible at once, could write the records after it first (or find its own
    # claim in progress). It is redelivered whole, after its visibility timeout.
    not_continued = {_origin(prepared.sources[to_write[position]])[0] for position in written.unknown}
    not_continued |= {_origin(prepared.sources[record])[0] for record in claim_unknown}
    # Nor while one of its events is still claimed: the continuation would take it for a duplicate.
    if ledger is not None and unwritten:
        kept = ledger.forget([prepared.event_ids[i] for i in unwritten], deadline)
        not_continued |= {_origin(prepared.sources[i])[0] for i in unwritten if prepared.event_ids[i] in kept}
        report.idempotency_errors += len(kept)

    if ingest is not None and continuing and report.failures:
        _continue(
            report,
            bodies,
            prepared.arrays,
            unfinished,
            not_continued,
            origins,
            own_texts,
            ingest,
            deadline,
            sent_at or {},
        )

    if ledger is not None:
        failed = set(unwritten)
        report.idempotency_errors += ledger.complete(
            [prepared.event_ids[i] for i in to_write if i not in failed], deadline
        )

    if groups and report.failures:
        for message_id in held_for_group_order([message_id for message_id, _ in messages], groups, report.failures):
            report.failures[message_id] = GROUP_ORDER_REASON

    # Report failures in the batch's own order.
    if report.failures:
        report.failed_message_ids = [message_id for message_id, _ in messages if message_id in report.failures]
    return report


def held_for_group_order(message_ids: Sequence[str], groups: Mapping[str, str], failed: Container[str]) -> list[str]:
    """The messages to report failed besides the `failed` ones, so that a FIFO queue keeps each group's order.

    Lambda's FIFO poller deletes the messages the answer leaves out and returns the others to the queue,
    where they hold back the rest of their message group until they are delivered again. A message
    acknowledged after a failed one of its group would be on the stream before the failed one's
    redelivery. So after a group's first failed message, every later message of that group in the batch
    (in the batch's order) is reported failed too, and the other groups go on. A message without a group
    (a standard queue's) holds back nothing.

    Powertools' SqsFifoPartialProcessor(skip_group_on_error=True) follows the same rule, but processes one
    message at a time; a batch here is written as a whole (concurrent PutRecords calls), so the rule is
    applied to its outcome.
    """
    stopped: set[str] = set()
    held: list[str] = []
    for message_id in message_ids:
        group = groups.get(message_id)
        if group is None:
            continue
        if message_id in failed:
            stopped.add(group)
        elif group in stopped:
            held.append(message_id)
    return held


def _timings(
    report: BatchReport,
    prepared: Prepared,
    to_write: list[int],
    written_at: Mapping[int, float],
    sent_at: Mapping[str, int],
) -> None:
    """Each written event's export latency and qualification age, in milliseconds.

    Latency runs from its message's arrival in the ingest queue to the return of the call that
    wrote its record; age, from the latest lastQualificationTime of its record's segments to the
    same. An age below zero (the time is after the write: a producer's clock ahead, or a time
    made up) is counted in `qualified_ahead` and taken as 0, so that every event still has its
    value. A latency below zero can only be the clocks of SQS and Lambda a few milliseconds apart.
    """
    latencies, ages = report.export_latencies_ms, report.qualification_ages_ms
    sources, records = prepared.sources, prepared.records
    for position, at in written_at.items():
        index = to_write[position]
        at_ms = int(at * 1000)  # whole milliseconds, as SentTimestamp: the arithmetic is on ints
        sent = sent_at.get(_origin(sources[index])[0])
        if sent is not None:
            latencies.append(at_ms - sent if at_ms > sent else 0)
        qualified = records[index].qualified
        if qualified:
            age = at_ms - int(datetime.fromisoformat(qualified).timestamp()) * 1000
            if age < 0:
                report.qualified_ahead += 1
                age = 0
            ages.append(age)


def _trusted_origins(continued: Mapping[str, tuple[str, str]], prepared: Prepared) -> dict[str, Origin]:
    """Where each continuation's elements came from, when its attributes say so of each element."""
    origins = {}
    for message_id, (source_id, indexes) in continued.items():
        count = prepared.arrays.get(message_id)
        if count is not None and (origin := Origin.read(source_id, indexes, count)) is not None:
            origins[message_id] = origin
    return origins


def _element_texts(body: str, count: int) -> list[str]:
    """The `count` elements of an array body as the producer wrote them (1e15 stays 1e15; re-encoded it would
    grow to 1000000000000000.0), or re-encoded when they cannot be read so."""
    texts = element_texts(body)
    if texts is None or len(texts) != count:
        texts = [element_body(element) for element in parse_array(body)]
    return texts


def _rejections(
    bodies: Mapping[str, str],
    prepared: Prepared,
    origins: Mapping[str, Origin],
    own_texts: Callable[[str], list[str]],
) -> list[Rejection]:
    """The batch's invalid events as rejects: a whole body as it came, an array's element as the producer wrote it."""
    rejections: list[Rejection] = []
    for source, error in prepared.rejected:
        message_id, index = _origin(source)
        if index is None:
            rejections.append(Rejection(message_id, bodies[message_id], error.code, error.reason))
            continue
        origin = origins.get(message_id)
        from_producer = (origin.message_id, origin.indexes[index]) if origin else None
        rejections.append(
            Rejection(message_id, own_texts(message_id)[index], error.code, error.reason, index, from_producer)
        )
    return rejections


def _not_overtaking(
    records: Sequence[Record], claimed: Sequence[int], failed: Iterable[int]
) -> tuple[list[int], dict[int, str]]:
    """The claimed records that no failed record of their partition key precedes, and the others held back."""
    first_failed: dict[str, int] = {}
    for index in sorted(failed):
        first_failed.setdefault(records[index].partition_key, index)
    if not first_failed:
        return list(claimed), {}
    to_write: list[int] = []
    held: dict[int, str] = {}
    for index in claimed:
        earlier = first_failed.get(records[index].partition_key)
        if earlier is not None and earlier < index:
            held[index] = "an earlier record of its partition key was not claimed in the idempotency table"
        else:
            to_write.append(index)
    return to_write, held


def _continue(
    report: BatchReport,
    bodies: Mapping[str, str],
    arrays: dict[Any, int],
    unfinished: dict[str, set[int | None]],
    not_continued: set[str],
    origins: Mapping[str, Origin],
    own_texts: Callable[[str], list[str]],
    ingest: Queue,
    deadline: Deadline,
    sent_at: Mapping[str, int],
) -> None:
    """Send the unfinished events of partly done array messages back to the ingest queue, as new messages.

    A message of many events of one profile is written one event per PutRecords round trip (per-key
    order), so it may not finish in one invocation. Redelivered whole, it would write its head again
    every time and might never finish; its rest, sent as a new message (its events in their order)
    and the original acknowledged, makes progress with every delivery. Only a message that made
    progress is continued: one whose every event failed is redelivered as it is, and so still ends
    in the dead-letter queue after maxReceiveCount deliveries if it never can be written.
    """
    rests: list[tuple[str, Outgoing]] = []
    for message_id, indexes in unfinished.items():
        count = arrays.get(message_id)
        rest = sorted(index for index in indexes if index is not None)
        if message_id in not_continued or count is None or len(rest) != len(indexes) or len(rest) >= count:
            continue
        # The elements as the producer wrote them: re-encoded, a rest could outgrow its message.
        texts = own_texts(message_id)
        body = "[" + ",".join(texts[index] for index in rest) + "]"
        origin = origins.get(message_id) or Origin(message_id, list(range(count)))
        attributes = origin.of_rest(rest).attributes()
        if (arrived := sent_at.get(message_id)) is not None:
            # Its events' latency counts from when they first arrived, not from their return.
            attributes[ORIGIN_SENT_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(arrived)}
        outgoing = Outgoing(body, attributes)
        if entry_size(outgoing) > len(bodies[message_id].encode("utf-8")):
            # Its origin's attributes would make it larger than the message it continues, which SQS
            # took; without them it is smaller (fewer elements), and a reject names the continuation.
            outgoing = Outgoing(body, {})
        rests.append((message_id, outgoing))
    if not rests:
        return
    unsent = set(ingest.send([outgoing for _, outgoing in rests], deadline))
    for position, (message_id, _) in enumerate(rests):
        if position not in unsent:
            del report.failures[message_id]
            report.continued += 1


@dataclass(frozen=True)
class Origin:
    """Where the events of a continuation came from: the producer's message, and each one's index in it.

    Carried in the continuation's message attributes, so that a reject parked from it, however many
    continuations later, names the message and index the producer knows.
    """

    message_id: str
    indexes: list[int]

    def of_rest(self, rest: Sequence[int]) -> Origin:
        """The origin of a rest of this message's elements (by their index in it)."""
        return Origin(self.message_id, [self.indexes[index] for index in rest])

    def attributes(self) -> dict[str, Any]:
        return {
            ORIGIN_MESSAGE_ATTRIBUTE: {"DataType": "String", "StringValue": self.message_id},
            ORIGIN_INDEXES_ATTRIBUTE: {"DataType": "String", "StringValue": _spans(self.indexes)},
        }

    @classmethod
    def read(cls, message_id: str, indexes: str, count: int) -> Origin | None:
        """From a message's attributes, for an array of `count` elements; None when they do not fit it.

        A producer may set any attribute: the id must look like an SQS message id (so that nothing
        else, personal data included, is named as a reject's source), and the indexes must be one
        per element (so that a forged range costs nothing).
        """
        if not _MESSAGE_ID.fullmatch(message_id):
            return None
        try:
            return cls(message_id, _unspans(indexes, count))
        except ValueError:
            return None


ORIGIN_MESSAGE_ATTRIBUTE = "continuesMessageId"
ORIGIN_INDEXES_ATTRIBUTE = "continuesIndexes"
# When the events of a continuation first arrived in the ingest queue (epoch milliseconds), for ExportLatency.
ORIGIN_SENT_ATTRIBUTE = "continuesSentTimestamp"
# SQS keeps a message 14 days at most: an origin older than that, by a continuation's own SentTimestamp, is none.
MAX_ORIGIN_AGE_MS = 14 * 24 * 3600 * 1000


def arrival(sent_timestamp: str | None, origin_sent: str | None) -> int | None:
    """When a message's events arrived in the ingest queue (epoch milliseconds), from what Lambda's SQS event says
    of it: its SentTimestamp or, for a continuation, its origin's (continuesSentTimestamp).

    A producer may set that attribute too: it is taken only when no later than the message's own time and no
    more than 14 days earlier, so a forged one can make its own events' latency look longer, no more (a metric
    only; a producer able to send can make it longer anyway, by sending more).
    """
    sent = _epoch_ms_text(sent_timestamp)
    if sent is None or origin_sent is None:
        return sent
    origin = _epoch_ms_text(origin_sent)
    return origin if origin is not None and sent - MAX_ORIGIN_AGE_MS <= origin <= sent else sent


def _epoch_ms_text(text: object) -> int | None:
    """Epoch milliseconds written in digits, or None: at most 15 of them (int() of a producer's 5,000 digits would
    raise ValueError, and fail the batch)."""
    return int(text) if isinstance(text, str) and len(text) <= 15 and text.isdecimal() else None


def _spans(indexes: Sequence[int]) -> str:
    """Indexes as runs, "0-3,7,9-12": a rest is mostly one run, the tail a deadline cut off."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)


def _unspans(text: str, count: int) -> list[int]:
    """Exactly `count` indexes from their runs, or ValueError."""
    indexes: list[int] = []
    for run in text.split(","):
        first, dash, last = run.partition("-")
        start, end = int(first), int(last if dash else first) + 1
        if end - start > count - len(indexes):
            raise ValueError("more indexes than the message has elements")
        indexes.extend(range(start, end))
    if len(indexes) != count:
        raise ValueError("fewer indexes than the message has elements")
    return indexes


_MESSAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _origin(source: Any) -> tuple[str, int | None]:
    """The message id of an event's source, and its index in the message's array (None for a whole body)."""
    return source if isinstance(source, tuple) else (source, None)
