"""A continuation is never larger than the message it continues.

Found by an adversarial review: the rest was re-encoded from the decoded elements, and `1e15` (4 bytes)
came back as `1000000000000000.0` (18 bytes). A message within SQS's size limit whose rest re-encoded
past it could not be continued: redelivered whole, it wrote its head again every time and never
finished. The rest is now made of the elements' own text in the message.
"""

from __future__ import annotations

import json

from kinesis_export_cli.local import poll_once, read_stream
from tests.support import profile_event

MAX_RECEIVE_COUNT = 5  # the config's default: deliveries before the dead-letter queue


def long_message(count: int) -> tuple[list[str], str]:
    # Each event carries, outside the exported attributes (so not in its record), numbers written in
    # exponent form: valid JSON, valid events.
    names = [f"event-{n:03d}" for n in range(count)]
    scores = "[" + ",".join(["1e15"] * 500) + "]"
    elements = [
        json.dumps(profile_event("one-profile", event_id=name, attributes={"person": {"name": {"lastName": name}}}))[
            :-1
        ]
        + f', "scores": {scores}}}'
        for name in names
    ]
    return names, "[" + ",".join(elements) + "]"


def test_a_long_message_whose_rest_would_re_encode_past_the_queue_limit_still_finishes(
    start_pipeline, fault_proxy, monkeypatch
):
    # Given one message of 300 events of one profile (written one round trip each, in order), 0.8 MiB:
    # within SQS's 1 MiB limit
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "500")
    pipeline = start_pipeline()
    fault_proxy.answer_latency = 0.01
    names, text = long_message(300)
    assert len(text.encode()) < 1024 * 1024
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=text)

    # When Lambda's poller hands it to invocations of 2.5 s until the queue is empty (each continuation is
    # a new message, with deliveries of its own before the DLQ; the original's redeliveries are counted)
    deliveries = redelivered = 0
    while deliveries < 100 and redelivered < MAX_RECEIVE_COUNT:
        delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=2.5)
        if not delivered:
            break
        deliveries += 1
        redelivered += bool(failed)

    # Then every event is on the stream, in order, the head once
    records = read_stream(pipeline.kinesis, pipeline.stream_name)
    order = [record.json()["person"]["name"]["lastName"] for record in records]
    assert deliveries > 1, "the message should not fit in one invocation"
    # (redelivered whole only when a call abandoned at a deadline may still land: rare, and it writes the head again)
    assert redelivered <= 1 and order.count(names[0]) == 1 + redelivered, f"head written {order.count(names[0])} times"
    assert list(dict.fromkeys(order)) == names, f"{len(set(order))} of {len(names)} events written"
