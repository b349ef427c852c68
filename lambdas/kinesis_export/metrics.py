"""The names of the EMF metrics the functions emit, written once: the handlers emit them, the stack's
dashboard graphs them (infra/monitoring.py), and a test checks the first against the second."""

from __future__ import annotations

# What became of the events a batch received (each element of an array counting once); Failed
# counts the messages reported failed, which fail whole.
EVENTS_RECEIVED = "EventsReceived"
EVENTS_EXPORTED = "EventsExported"
EVENTS_FILTERED = "EventsFiltered"
EVENTS_WITHOUT_CONSENT = "EventsWithoutConsent"  # of the filtered
EVENTS_DUPLICATE = "EventsDuplicate"  # with idempotency only
EVENTS_REJECTED = "EventsRejected"
EVENTS_FAILED = "EventsFailed"
EVENT_OUTCOMES = (
    EVENTS_RECEIVED,
    EVENTS_EXPORTED,
    EVENTS_FILTERED,
    EVENTS_WITHOUT_CONSENT,
    EVENTS_DUPLICATE,
    EVENTS_REJECTED,
    EVENTS_FAILED,
)

# How the writing went.
PUT_RECORDS_CALLS = "PutRecordsCalls"
PUT_RECORDS_RETRIES = "PutRecordsRetries"
MESSAGES_CONTINUED = "MessagesContinued"  # long messages whose rest went back to the ingest queue
WRITING = (PUT_RECORDS_CALLS, PUT_RECORDS_RETRIES, MESSAGES_CONTINUED)

# The backfill worker of the Distributed Map.
BACKFILL_EXPORTED = "BackfillExported"
BACKFILL_REJECTED = "BackfillRejected"
