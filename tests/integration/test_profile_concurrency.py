"""No lost update: thousands of interleaved change events of a few profiles, through several concurrent exporters
(each its own DynamoDB and Kinesis clients, as separate Lambda containers are) against moto's server on loopback."""

from __future__ import annotations

import json
import os
import queue
import random
import threading
from typing import Any

from kinesis_export import wiring
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import export_batch
from kinesis_export.profiles import Profiles
from kinesis_export_cli.local import read_stream
from tests.integration.profile_table import items, stateful_pipeline
from tests.support import HIGH_PROPENSITY, WHITE_PAPER

PROFILES = [f"4051836657123456789012345678901234567{n}" for n in range(3)]
SEGMENTS = [HIGH_PROPENSITY, WHITE_PAPER]
ATTRIBUTES = {"person.email": ("person", "email"), "mobilePhone.number": ("mobilePhone", "number")}
EVENTS = 2_400
PIPELINES = 4
BATCH = 20


def change_events(rng: random.Random) -> list[dict[str, Any]]:
    """Events of the few profiles, each a segment change, an attribute change or both, at times all distinct,
    in an order that is not theirs; some bring a device id."""
    times = rng.sample(range(1, 86_400), 2 * EVENTS)
    events = []
    for n in range(EVENTS):
        profile = rng.choice(PROFILES)
        event: dict[str, Any] = {
            "eventId": f"evt-{n}",
            "identityMap": {"ECID": [{"id": profile, "primary": True}]},
            "timestamp": stamp(times[2 * n]),
        }
        kind = rng.choice(["segment", "attribute", "both"])
        if kind != "attribute":
            status = rng.choice(["realized", "existing", "exited"])
            when = stamp(times[2 * n + 1])
            event["segmentMembership"] = {
                "ups": {rng.choice(SEGMENTS): {"status": status, "lastQualificationTime": when}}
            }
        if kind != "segment":
            path = rng.choice(list(ATTRIBUTES))
            parent, leaf = ATTRIBUTES[path]
            event["attributes"] = {parent: {leaf: f"{leaf}-{n}"}}
        if rng.random() < 0.05:
            event["identityMap"]["ECID"].append({"id": f"device-{rng.randrange(8)}"})
        events.append(event)
    return events


def stamp(second: int) -> str:
    return f"2020-05-25T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def newest(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What each profile's state must hold after all of them: each segment's newest status, each attribute's newest
    value, every id."""
    expected: dict[str, dict[str, Any]] = {p: {"segments": {}, "attributes": {}, "ids": set()} for p in PROFILES}
    for event in events:
        ids = [identity["id"] for identity in event["identityMap"]["ECID"]]
        profile = expected[ids[0]]
        profile["ids"].update(ids)
        for segment, membership in event.get("segmentMembership", {"ups": {}})["ups"].items():
            held = profile["segments"].get(segment)
            if held is None or membership["lastQualificationTime"] > held[1]:
                profile["segments"][segment] = (membership["status"], membership["lastQualificationTime"])
        for path, (parent, leaf) in ATTRIBUTES.items():
            if parent in event.get("attributes", {}):
                held = profile["attributes"].get(path)
                if held is None or event["timestamp"] > held[1]:
                    profile["attributes"][path] = (event["attributes"][parent][leaf], event["timestamp"])
    return expected


def test_concurrent_exporters_lose_no_update_of_the_profiles_they_share(start_pipeline, monkeypatch):
    # given a profile state table, and several exporters (containers) started against it
    pipeline, table = stateful_pipeline(start_pipeline, monkeypatch)
    exporters = [pipeline.function] + [wiring.exporter(os.environ) for _ in range(PIPELINES - 1)]
    events = change_events(random.Random(18))
    batches: queue.Queue[list[tuple[str, str]]] = queue.Queue()
    messages = [(f"m-{n}", json.dumps(event)) for n, event in enumerate(events)]
    for start in range(0, len(messages), BATCH):
        batches.put(messages[start : start + BATCH])
    done: list[str] = []
    errors: list[BaseException] = []

    def run(exporter: wiring.Exporter) -> None:
        # Each takes the next batch, as Lambda's poller hands them out; a failed message comes back in a later batch.
        try:
            while True:
                try:
                    batch = batches.get(timeout=2)
                except queue.Empty:
                    return
                report = export_batch(
                    batch, exporter.plan, exporter.writer, None, Deadline.after(30), profiles=exporter.profiles
                )
                failed = set(report.failed_message_ids)
                done.extend(message_id for message_id, _ in batch if message_id not in failed)
                if failed:
                    batches.put([message for message in batch if message[0] in failed])
        except BaseException as error:  # reported by the test, not lost in its thread
            errors.append(error)

    # when they export the interleaved events concurrently
    threads = [threading.Thread(target=run, args=(exporter,)) for exporter in exporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    # then every message was acknowledged
    assert errors == []
    assert sorted(done) == sorted(message_id for message_id, _ in messages)

    # and each profile's state holds every segment's newest status, every attribute's newest value, every id
    plan = exporters[0].profiles.plan  # type: ignore[union-attr]
    states = {key.split("#", 1)[1]: plan.load(bytes(item["state"]["B"])) for key, item in items(table).items()}
    for profile, expected in newest(events).items():
        state = states[profile]
        assert state.segments == expected["segments"], profile
        assert {path: value for path, (value, _) in state.attributes.items()} == {
            path: value for path, (value, _) in expected["attributes"].items()
        }, profile
        assert set(state.identities["ecid"]) == expected["ids"], profile

    # (and the exporters did contend for the profiles: their writes conflicted, and were merged again)
    conflicts = sum(exporter.profiles.conflicts for exporter in exporters if isinstance(exporter.profiles, Profiles))
    assert conflicts > 0, "no write ever conflicted: the test did not interleave"

    # and each exported event has its record on the stream, every one of them of one of the profiles
    on_stream = read_stream(pipeline.kinesis, pipeline.stream_name)
    assert {record.partition_key for record in on_stream} == set(PROFILES)
    assert len(on_stream) >= sum(1 for event in events if "segmentMembership" in event)
