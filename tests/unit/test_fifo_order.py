"""From a FIFO queue: the answer keeps each message group's order, and no message is continued."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from kinesis_export import wiring
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import GROUP_ORDER_REASON, export_batch, held_for_group_order
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.local import LambdaContext, sqs_lambda_event
from tests.fakes import FakeIngest, FakeKinesis, FakeSqs, client_error
from tests.support import EXAMPLE_CONFIG, body, handler_module, profile_event

INGEST_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ingest.fifo"
REJECTS_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/rejects"

# A batch: each message's group (None: a standard queue's message) and whether it failed on its own.
batches = st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.booleans()), max_size=20)


def _apply(batch: list[tuple[str | None, bool]]) -> tuple[list[str], dict[str, str], set[str], list[str]]:
    ids = [f"m{n}" for n in range(len(batch))]
    groups = {message_id: group for message_id, (group, _) in zip(ids, batch, strict=True) if group is not None}
    failed = {message_id for message_id, (_, fails) in zip(ids, batch, strict=True) if fails}
    return ids, groups, failed, held_for_group_order(ids, groups, failed)


@given(batches)
def test_after_a_failed_message_every_later_message_of_its_group_is_reported_failed(batch):
    ids, groups, failed, held = _apply(batch)
    reported = failed | set(held)

    for group in set(groups.values()):
        of_group = [message_id for message_id in ids if groups.get(message_id) == group]
        first = next((n for n, message_id in enumerate(of_group) if message_id in failed), len(of_group))
        # the group's acknowledged messages all come before its first failure: SQS redelivers the rest in order
        assert set(of_group[first:]) <= reported
        assert not set(of_group[:first]) & reported


@given(batches)
def test_only_later_messages_of_a_failed_group_are_held_and_in_the_batchs_order(batch):
    ids, groups, failed, held = _apply(batch)

    assert not set(held) & failed
    assert held == [message_id for message_id in ids if message_id in held]
    for message_id in held:
        earlier = ids[: ids.index(message_id)]
        assert any(m in failed and groups.get(m) == groups[message_id] for m in earlier)
    # a message without a group (a standard queue's) is never held back
    assert all(message_id in groups for message_id in held)


def test_a_failed_message_holds_back_the_rest_of_its_group_and_no_other(example_config):
    # given m1 of group A with a valid event and an invalid one the rejects queue refuses, then m2 of group A
    # and m3 of group B, each valid
    array = "[" + ",".join([body(profile_event("a", event_id="a1")), "7"]) + "]"
    messages = [
        ("m1", array),
        ("m2", body(profile_event("a", event_id="a2"))),
        ("m3", body(profile_event("b", event_id="b1"))),
    ]
    kinesis = FakeKinesis()
    writer = KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None)
    rejects = RejectsQueue(Queue(FakeSqs(refuse=frozenset({"m1"})), REJECTS_URL))

    # when the batch is exported as from a FIFO queue
    report = export_batch(
        messages,
        RecordPlan(example_config),
        writer,
        rejects,
        Deadline.after(30),
        groups={"m1": "A", "m2": "A", "m3": "B"},
    )

    # then m1 fails, m2 is held back behind it (its record written all the same), and m3 goes on
    assert report.failed_message_ids == ["m1", "m2"]
    assert report.failures["m2"] == GROUP_ORDER_REASON
    assert "rejects queue did not take it" in report.failures["m1"]
    assert report.exported == 3 and len(kinesis.stream) == 3


def test_without_groups_a_failed_message_holds_back_nothing(example_config):
    # given the same batch from a standard queue
    array = "[" + ",".join([body(profile_event("a", event_id="a1")), "7"]) + "]"
    messages = [("m1", array), ("m2", body(profile_event("a", event_id="a2")))]
    writer = KinesisWriter(FakeKinesis(), example_config.stream.name, sleep=lambda _: None)
    rejects = RejectsQueue(Queue(FakeSqs(refuse=frozenset({"m1"})), REJECTS_URL))

    report = export_batch(messages, RecordPlan(example_config), writer, rejects, Deadline.after(30))

    assert report.failed_message_ids == ["m1"]


def _second_write_denied(call: int, entries: list[dict[str, object]]) -> Exception | None:
    return client_error("AccessDeniedException") if call > 1 else None


def test_a_partly_written_message_of_a_group_is_redelivered_whole_not_continued(example_config):
    # given a message of two events of one profile whose second write is refused, and an ingest queue
    array = "[" + ",".join(body(profile_event("a", event_id=f"a{n}")) for n in (1, 2)) + "]"
    ingest = FakeIngest()
    writer = KinesisWriter(FakeKinesis(fault=_second_write_denied), example_config.stream.name, sleep=lambda _: None)

    # when it comes from a FIFO queue, and then from a standard one
    fifo = export_batch(
        [("m1", array)],
        RecordPlan(example_config),
        writer,
        None,
        Deadline.after(30),
        ingest=Queue(ingest, INGEST_URL),
        groups={"m1": "A"},
    )
    sent_from_fifo = list(ingest.bodies)
    writer = KinesisWriter(FakeKinesis(fault=_second_write_denied), example_config.stream.name, sleep=lambda _: None)
    standard = export_batch(
        [("m1", array)], RecordPlan(example_config), writer, None, Deadline.after(30), ingest=Queue(ingest, INGEST_URL)
    )

    # then from the FIFO queue nothing goes back to the queue and the message fails whole; from the standard
    # queue its rest is continued
    assert sent_from_fifo == [] and fifo.failed_message_ids == ["m1"] and fifo.continued == 0
    assert standard.continued == 1 and standard.failed_message_ids == []


def test_with_ingest_fifo_the_function_never_continues_whatever_its_environment_says(tmp_path, caplog):
    # given a FIFO config, and an environment that names the ingest queue all the same
    config = json.loads(EXAMPLE_CONFIG.read_text()) | {"ingest": {"fifo": True}}
    path = tmp_path / "fifo.json"
    path.write_text(json.dumps(config))
    environment = {"DESTINATION_CONFIG_FILE": str(path), "AWS_REGION": "us-east-1", "INGEST_QUEUE_URL": INGEST_URL}

    with caplog.at_level(logging.WARNING):
        exporter = wiring.exporter(environment, kinesis=FakeKinesis(), sqs=FakeIngest())

    # then it has no queue to continue to, and says why at start-up
    assert exporter.ingest is None
    assert "INGEST_QUEUE_URL ignored" in caplog.text
    # while a standard config keeps it
    standard = wiring.exporter(environment | {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG)}, kinesis=FakeKinesis())
    assert standard.ingest is not None


def test_the_handler_reads_each_records_message_group(example_config):
    # given an exporter whose rejects queue refuses m1's reject, and a FIFO event of three messages
    kinesis, sqs = FakeKinesis(), FakeSqs(refuse=frozenset({"m1"}))
    environment = {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"}
    exporter = wiring.exporter(environment | {"REJECTS_QUEUE_URL": REJECTS_URL}, kinesis=kinesis, sqs=sqs)
    handler = handler_module("export").handler_for(exporter)
    messages = [
        {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "not json", "Attributes": {"MessageGroupId": "A"}},
        {
            "MessageId": "m2",
            "ReceiptHandle": "r2",
            "Body": body(profile_event("a")),
            "Attributes": {"MessageGroupId": "A"},
        },
        {
            "MessageId": "m3",
            "ReceiptHandle": "r3",
            "Body": body(profile_event("b")),
            "Attributes": {"MessageGroupId": "B"},
        },
    ]

    # when it is invoked
    answer = handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest.fifo", "us-east-1"), LambdaContext()
    )

    # then m2 comes back with m1, and m3 is acknowledged
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert sorted(key for key, _ in kinesis.stream) == ["a", "b"]
