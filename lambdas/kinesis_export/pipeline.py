"""One SQS batch through the export path: parse, build records, write, park rejects, report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import InvalidInput, parse_event
from .records import NO_CONSENT, Record, RecordPlan, Skip
from .rejects import Rejection, RejectsQueue
from .writer import Deadline, KinesisWriter

if TYPE_CHECKING:
    from .idempotency import EventLedger


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    body: str


@dataclass
class BatchReport:
    """Counts for metrics, and the messages to report as failed (retried by SQS, never dropped)."""

    received: int = 0
    exported: int = 0
    filtered: int = 0
    without_consent: int = 0  # of the filtered: the profile's consent to share is "n"
    rejected: int = 0
    duplicates: int = 0  # with idempotency: already written (or being written), so not written again
    idempotency_errors: int = 0  # idempotency table updates that failed after the write (not failures)
    failed_message_ids: list[str] = field(default_factory=list)  # in the batch's order
    failures: dict[str, str] = field(default_factory=dict)  # message id -> reason
    rejections: list[Rejection] = field(default_factory=list)
    put_records_calls: int = 0
    put_records_retries: int = 0

    @property
    def failed(self) -> int:
        return len(self.failed_message_ids)


@dataclass
class Prepared:
    """A batch's events built: the records (with where each came from), the skips, the rejects."""

    records: list[Record] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)  # a message id, a line number, an item index
    event_ids: list[str] = field(default_factory=list)  # each record's event's eventId
    filtered: int = 0
    without_consent: int = 0
    rejected: list[tuple[Any, InvalidInput]] = field(default_factory=list)


def prepare(items: Iterable[tuple[Any, str | bytes | dict[str, Any]]], plan: RecordPlan) -> Prepared:
    """Parse and build each (source, event) pair: a record, a skip, or a reject with its reason."""
    prepared = Prepared()
    for source, event in items:
        try:
            parsed = parse_event(event)
            built = plan.build(parsed)
        except InvalidInput as error:
            prepared.rejected.append((source, error))
            continue
        if isinstance(built, Skip):
            prepared.filtered += 1
            prepared.without_consent += built is NO_CONSENT
        else:
            prepared.records.append(built)
            prepared.sources.append(source)
            prepared.event_ids.append(parsed["eventId"])
    return prepared


def export_batch(
    messages: Sequence[Message],
    plan: RecordPlan,
    writer: KinesisWriter,
    rejects: RejectsQueue | None,
    deadline: Deadline,
    ledger: EventLedger | None = None,
) -> BatchReport:
    """Export a batch; a message is acknowledged only once written, filtered or parked as a reject
    (or, with a ledger, found to be a duplicate of an event already written)."""
    prepared = prepare(((m.message_id, m.body) for m in messages), plan)
    bodies = {m.message_id: m.body for m in messages}
    report = BatchReport(
        received=len(messages),
        filtered=prepared.filtered,
        without_consent=prepared.without_consent,
        rejections=[Rejection(i, bodies[i], error.code, error.reason) for i, error in prepared.rejected],
    )

    # Park rejects first: it is quick, and leaves the writer all the time that remains.
    if report.rejections:
        if rejects is None:
            unparked = {rejection.message_id for rejection in report.rejections}
            why = "invalid input, and no rejects queue is configured (REJECTS_QUEUE_URL)"
        else:
            unparked = rejects.send(report.rejections)
            why = "invalid input, and the rejects queue did not take it"
        for rejection in report.rejections:
            if rejection.message_id in unparked:
                report.failures[rejection.message_id] = f"{why}: {rejection.code}"
        report.rejected = len(report.rejections) - len(unparked)

    # Which records to write, by index in prepared.records: all of them, or those the ledger claimed.
    to_write = list(range(len(prepared.records)))
    if ledger is not None:
        claims = ledger.claim(prepared.event_ids, deadline)
        to_write = claims.claimed
        report.duplicates = len(claims.duplicates)
        for index, reason in claims.failed.items():
            report.failures[prepared.sources[index]] = reason

    written = writer.write([prepared.records[i] for i in to_write], deadline)
    report.put_records_calls = written.calls
    report.put_records_retries = written.retried
    report.exported = len(to_write) - len(written.failed)
    for position, reason in written.failed.items():
        report.failures[prepared.sources[to_write[position]]] = reason

    if ledger is not None:
        ids = [prepared.event_ids[i] for i in to_write]
        report.idempotency_errors = ledger.settle(
            written=[event_id for position, event_id in enumerate(ids) if position not in written.failed],
            failed=[ids[position] for position in written.failed],
        )

    # Report failures in the batch's own order.
    report.failed_message_ids = [m.message_id for m in messages if m.message_id in report.failures]
    return report
