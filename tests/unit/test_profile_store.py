"""The profile state table's adapter over a fake DynamoDB client: calls of 100 keys, retries, failures, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from kinesis_export.deadline import Deadline
from kinesis_export.profile_store import MAX_ROUNDS, DynamoProfileStore
from kinesis_export.profiles import Conflict, Stored
from tests.fakes import client_error


class FakeDynamoDB:
    """BatchGetItem and PutItem on one table in memory; the first `unprocessed` keys asked for are left unprocessed."""

    def __init__(self, unprocessed: int = 0, down: bool = False) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.batches: list[list[str]] = []
        self.unprocessed = unprocessed
        self.down = down
        self.puts: list[dict[str, Any]] = []

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        if self.down:
            raise client_error("ThrottlingException", operation="BatchGetItem")
        [(table, request)] = RequestItems.items()
        assert request["ConsistentRead"] is True
        keys = [key["profile"]["S"] for key in request["Keys"]]
        assert len(keys) <= 100
        self.batches.append(keys)
        left, self.unprocessed = keys[: self.unprocessed], max(0, self.unprocessed - len(keys))
        found = [self.items[key] for key in keys if key in self.items and key not in left]
        answer: dict[str, Any] = {"Responses": {table: found}}
        if left:
            answer["UnprocessedKeys"] = {table: {"Keys": [{"profile": {"S": key}} for key in left]}}
        return answer

    def put_item(self, *, TableName: str, Item: dict[str, Any], **condition: Any) -> None:
        key = Item["profile"]["S"]
        held = self.items.get(key)
        if condition["ConditionExpression"].startswith("attribute_not_exists"):
            ok = held is None
        else:
            ok = held is not None and held["version"] == condition["ExpressionAttributeValues"][":expected"]
        if not ok:
            raise client_error("ConditionalCheckFailedException", operation="PutItem")
        self.puts.append(condition)
        self.items[key] = Item


def store(client: FakeDynamoDB) -> DynamoProfileStore:
    return DynamoProfileStore(client, "profiles", "crm-prospects", sleep=lambda _: None)


def test_items_are_keyed_by_destination_and_profile_and_written_only_on_the_version_read():
    client = FakeDynamoDB()
    table = store(client)

    table.put("P1", b"{}", version=1, expected=None, expires_at=1_700_000_000)
    table.put("P1", b'{"a":1}', version=2, expected=1, expires_at=1_700_000_100)
    with pytest.raises(Conflict):
        table.put("P1", b"{}", version=2, expected=1, expires_at=1_700_000_200)
    with pytest.raises(Conflict):
        table.put("P1", b"{}", version=1, expected=None, expires_at=1_700_000_200)

    assert client.items["crm-prospects#P1"] == {
        "profile": {"S": "crm-prospects#P1"},
        "version": {"N": "2"},
        "state": {"B": b'{"a":1}'},
        "expiresAt": {"N": "1700000100"},
    }
    assert table.get("P1") == Stored(2, b'{"a":1}', 1_700_000_100)
    assert table.get("P2") is None


def test_a_refused_write_other_than_a_conflict_is_raised_as_it_came():
    client = FakeDynamoDB()

    def throttled(**_: Any) -> None:
        raise client_error("ProvisionedThroughputExceededException", operation="PutItem")

    client.put_item = throttled  # type: ignore[method-assign]

    with pytest.raises(Exception) as raised:
        store(client).put("P1", b"{}", version=1, expected=None, expires_at=1)

    assert not isinstance(raised.value, Conflict)


def test_many_profiles_are_read_in_calls_of_100_and_unprocessed_keys_asked_for_again():
    client = FakeDynamoDB(unprocessed=30)
    table = store(client)
    for n in range(0, 250, 2):
        table.put(f"P{n}", b"{}", version=1, expected=None, expires_at=1)

    found = table.read([f"P{n}" for n in range(250)], Deadline.after(5))

    assert sorted(len(batch) for batch in client.batches) == [30, 50, 100, 100]
    assert found["P0"] == Stored(1, b"{}", 1) and found["P1"] is None
    assert sum(value is not None for value in found.values()) == 125


def test_keys_left_unprocessed_every_round_and_failed_calls_fail_their_keys_alone():
    assert store(FakeDynamoDB(unprocessed=10**6)).read(["P1"], Deadline.after(5)) == {
        "P1": f"BatchGetItem left the key unprocessed {MAX_ROUNDS} times"
    }
    assert store(FakeDynamoDB(down=True)).read(["P1", "P2"], Deadline.after(5)) == {
        "P1": "BatchGetItem failed: ThrottlingException",
        "P2": "BatchGetItem failed: ThrottlingException",
    }
