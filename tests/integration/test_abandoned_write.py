"""A PutRecords call abandoned at the deadline may still land: nothing of its message is written before it.

Found by an adversarial review: a continuation is visible at once, so the next invocation wrote the
abandoned record again and the records after it while the abandoned call was still on its way; when it
landed, the profile's latest record on the stream was an older state than its array ended with. A
message with a record in an abandoned call is now redelivered whole, after its visibility timeout.
"""

from __future__ import annotations

import json
import time

from kinesis_export_cli.local import poll_once, read_stream
from tests.support import profile_event

NAMES = ["e0-realized", "e1-exited", "e2-realized"]


def test_a_message_with_a_record_in_an_abandoned_call_is_not_continued(start_pipeline, fault_proxy, monkeypatch):
    # Given one profile's array of three events; the second PutRecords call (e1) is held 4 s before it
    # reaches the stream (a stalled connection), every other call goes straight through
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "500")
    pipeline = start_pipeline()

    def fault(call, entries):
        fault_proxy.latency = 4.0 if call == 2 else 0.0
        return None

    fault_proxy.fault = fault
    events = [
        profile_event(
            "one-profile",
            event_id=name,
            status=name.split("-")[1],
            attributes={"person": {"name": {"lastName": name}}},
        )
        for name in NAMES
    ]
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=json.dumps(events))

    # When an invocation of 3 s takes it (and abandons the e1 call), and SQS delivers it again after its
    # visibility timeout (at least the function's timeout: the abandoned call has landed by then)
    first = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=3)
    time.sleep(4.5)
    second = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=3)

    # Then the first delivery was reported failed, not continued, and the profile's records end with its
    # array's last event, every event in order
    assert (first[0], len(first[1])) == (1, 1)
    assert second == (1, [])
    order = [
        record.json()["person"]["name"]["lastName"] for record in read_stream(pipeline.kinesis, pipeline.stream_name)
    ]
    assert list(dict.fromkeys(order)) == NAMES
    assert order[-1] == NAMES[-1], f"stream for the profile: {order}"
