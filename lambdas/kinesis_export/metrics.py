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

# Records a PutRecords call did not write, by the class of its error (writer.error_class), at every
# attempt: an entry's error counts its record, a whole call's error each record of the call.
PUT_RECORDS_THROTTLED = "PutRecordsThrottled"
PUT_RECORDS_INTERNAL_FAILURES = "PutRecordsInternalFailures"
PUT_RECORDS_KMS_ERRORS = "PutRecordsKmsErrors"
PUT_RECORDS_ACCESS_DENIED = "PutRecordsAccessDenied"
PUT_RECORDS_NOT_FOUND = "PutRecordsNotFound"
PUT_RECORDS_OTHER_ERRORS = "PutRecordsOtherErrors"
KINESIS_ERRORS = (
    PUT_RECORDS_THROTTLED,
    PUT_RECORDS_INTERNAL_FAILURES,
    PUT_RECORDS_KMS_ERRORS,
    PUT_RECORDS_ACCESS_DENIED,
    PUT_RECORDS_NOT_FOUND,
    PUT_RECORDS_OTHER_ERRORS,
)

# One value per event written, in milliseconds, for percentiles: from its message's arrival in the
# ingest queue (SentTimestamp), and from its latest lastQualificationTime, to its record on the stream.
EXPORT_LATENCY = "ExportLatency"
QUALIFICATION_AGE = "QualificationAge"
LATENCIES = (EXPORT_LATENCY, QUALIFICATION_AGE)
# Of the events written: those whose lastQualificationTime was later than the write (a producer's clock
# ahead, or a time made up), whose QualificationAge is taken as 0.
EVENTS_QUALIFIED_AHEAD = "EventsQualifiedAhead"

# With profileState only: writes of a profile's state that found another version (another invocation
# wrote the profile first: read, merged and written again), and events whose message failed because
# their profile's state could not be read or written (throttled, refused, no answer, written
# concurrently six times in a row, unreadable).
PROFILE_STATE_CONFLICTS = "ProfileStateConflicts"
PROFILE_STATE_FAILURES = "ProfileStateFailures"
PROFILE_STATE = (PROFILE_STATE_CONFLICTS, PROFILE_STATE_FAILURES)

# Every metric of the exporter (EventsDuplicate with idempotency only, ProfileState* with profileState
# only; ExportLatency for messages with a SentTimestamp, which Lambda's SQS events always carry).
EXPORTER = (*EVENT_OUTCOMES, *WRITING, *KINESIS_ERRORS, *LATENCIES, EVENTS_QUALIFIED_AHEAD, *PROFILE_STATE)

# The backfill worker of the Distributed Map.
BACKFILL_EXPORTED = "BackfillExported"
BACKFILL_REJECTED = "BackfillRejected"
