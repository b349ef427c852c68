"""One SQS batch through the export path: parse, build records, write, park rejects, report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .events import InvalidInput, parse_event
from .records import NO_CONSENT, Record, RecordPlan, Skip
from .rejects import Rejection, RejectsQueue
from .writer import Deadline, KinesisWriter


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
    failed_message_ids: list[str] = field(default_factory=list)  # in the batch's order
    failures: dict[str, str] = field(default_factory=dict)  # message id -> reason
    rejections: list[Rejection] = field(default_factory=list)
    put_records_calls: int = 0
    put_records_retries: int = 0

    @property
    def failed(self) -> int:
        return len(self.failed_message_ids)


def export_batch(
    messages: Sequence[Message],
    plan: RecordPlan,
    writer: KinesisWriter,
    rejects: RejectsQueue | None,
    deadline: Deadline,
) -> BatchReport:
    """Export a batch; a message is acknowledged only once written, filtered or parked as a reject."""
    report = BatchReport(received=len(messages))
    records: list[Record] = []
    record_messages: list[str] = []
    for message in messages:
        try:
            built = plan.build(parse_event(message.body))
        except InvalidInput as error:
            report.rejections.append(Rejection(message.message_id, message.body, error.code, error.reason))
            continue
        if isinstance(built, Skip):
            report.filtered += 1
            report.without_consent += built is NO_CONSENT
        else:
            records.append(built)
            record_messages.append(message.message_id)

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

    written = writer.write(records, deadline)
    report.put_records_calls = written.calls
    report.put_records_retries = written.retried
    report.exported = len(records) - len(written.failed)
    for index, reason in written.failed.items():
        report.failures[record_messages[index]] = reason

    # Report failures in the batch's own order.
    report.failed_message_ids = [m.message_id for m in messages if m.message_id in report.failures]
    return report
