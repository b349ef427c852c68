"""A producer's forged continuation attributes do not name a reject's source.

Found by a second adversarial review: a producer can set any message attribute, and `continuesMessageId`
was trusted from any message whose array had as many elements as the indexes named: the parked reject's
`sourceMessageId` became whatever the producer wrote, personal data included, which the `rejects`
command prints. An origin is now trusted only when its id looks like an SQS message id.
"""

from __future__ import annotations

import json

from kinesis_export_cli.local import poll_once, receive_all
from kinesis_export_cli.main import main
from tests.support import PersonalData, profile_event


def test_a_forged_continuation_attribute_neither_renames_a_rejects_source_nor_reaches_the_rejects_command(
    start_pipeline, capfd
):
    # Given a producer's array of a valid event and an invalid one, sent with continuation attributes
    # of its own making: an e-mail address as the message id, and indexes of its choice
    pii = PersonalData()
    email = pii.mark("email")
    pipeline = start_pipeline()
    body = json.dumps([profile_event("p", event_id="e1"), {"not": "an event"}])
    sent = pipeline.sqs.send_message(
        QueueUrl=pipeline.ingest_url,
        MessageBody=body,
        MessageAttributes={
            "continuesMessageId": {"DataType": "String", "StringValue": email},
            "continuesIndexes": {"DataType": "String", "StringValue": "40,41"},
        },
    )

    # When the function takes it, and an operator lists the rejects
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=10)
    assert (delivered, failed) == (1, [])
    capfd.readouterr()
    listed = main(["rejects", str(pipeline.rejects_url)])
    printed = capfd.readouterr()
    [parked] = receive_all(pipeline.sqs, pipeline.rejects_url)

    # Then the reject names the message SQS delivered (the function sent no continuation, so nothing
    # else can be its origin), at the element's real index, and the command prints no personal data
    attributes = {name: value["StringValue"] for name, value in parked["MessageAttributes"].items()}
    assert (attributes["sourceMessageId"], attributes["sourceIndex"]) == (sent["MessageId"], "1"), attributes
    assert listed == 1 and "1 rejected messages" in printed.out
    assert pii.found_in(printed.out + printed.err) == [], printed.out
