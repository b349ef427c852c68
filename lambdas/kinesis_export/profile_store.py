"""The profile state table (DynamoDB): one item per profile, read with BatchGetItem, written with a conditional PutItem.

An item: `profile` (the key: `<destination name>#<profile key>`, so that destinations could share a
table), `version` (a number, one more at every write), `state` (the state's JSON, as binary) and
`expiresAt` (UNIX seconds, DynamoDB's TTL attribute, moved on at every write). The state is kept as
one JSON value rather than a DynamoDB map: its size is known before the write (an item holds 400 KB),
and attribute values may be nested deeper than DynamoDB's 32 levels.

Two actions only: BatchGetItem (strongly consistent, 100 keys a call; the rare read again after a
conflict is a call of one key) and PutItem.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from .deadline import Calls, Deadline, Late
from .profiles import Conflict, Stored, error_code

# DynamoDB's limit of keys per BatchGetItem call.
MAX_KEYS_PER_CALL = 100
# BatchGetItem calls in flight at once.
DEFAULT_CONCURRENCY = 8
# Keys a call left unprocessed (throttled) are asked for again, after a pause of up to
# BASE_DELAY * 2**round (full jitter), this many rounds at most.
MAX_ROUNDS = 5
BASE_DELAY = 0.05

PARTITION_KEY = "profile"
TTL_ATTRIBUTE = "expiresAt"


class DynamoProfileStore:
    """Profile items in one table, through a boto3 DynamoDB client; one instance per container."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        key_prefix: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._prefix = f"{key_prefix}#"
        self._sleep = sleep
        self._calls = Calls(concurrency, "profile-reads")

    def read(self, keys: Sequence[str], deadline: Deadline) -> dict[str, Stored | str | None]:
        """Each profile's item (None: none yet), or why it could not be read; calls of 100 keys, concurrently."""
        chunks = [keys[start : start + MAX_KEYS_PER_CALL] for start in range(0, len(keys), MAX_KEYS_PER_CALL)]
        found: dict[str, Stored | str | None] = {}
        for chunk, answer in zip(chunks, self._calls.run(self._read_chunk, chunks, deadline), strict=True):
            if isinstance(answer, Late):
                found.update(dict.fromkeys(chunk, answer.reason))
            else:
                found.update(answer)
        return found

    def get(self, key: str) -> Stored | None:
        """One profile's item, strongly consistent; raises what the call raised, or when it stays unprocessed."""
        answer = self._read_chunk([key])[key]
        if isinstance(answer, str):
            raise RuntimeError(answer)
        return answer

    def put(self, key: str, state: bytes, version: int, expected: int | None, expires_at: int) -> None:
        """Write the item if its version is still `expected` (None: if there is none), else raise Conflict."""
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": PARTITION_KEY}}
            if expected is None
            else {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
            }
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    PARTITION_KEY: {"S": self._prefix + key},
                    "version": {"N": str(version)},
                    "state": {"B": state},
                    TTL_ATTRIBUTE: {"N": str(expires_at)},
                },
                **condition,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise Conflict() from None
            raise

    def _read_chunk(self, keys: Sequence[str]) -> dict[str, Stored | str | None]:
        """One BatchGetItem of at most 100 keys, unprocessed keys asked for again; a failure is each key's reason."""
        wanted = {self._prefix + key: key for key in keys}
        found: dict[str, Stored | str | None] = dict.fromkeys(keys)
        request = [{PARTITION_KEY: {"S": item_key}} for item_key in wanted]
        for round_ in range(MAX_ROUNDS):
            try:
                answer = self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": request, "ConsistentRead": True}}
                )
            except Exception as error:  # throttled whole, unreachable, refused: these keys' failure alone
                reason = f"BatchGetItem failed: {error_code(error)}"
                for item_key in (entry[PARTITION_KEY]["S"] for entry in request):
                    found[wanted[item_key]] = reason
                return found
            for item in answer.get("Responses", {}).get(self._table, []):
                key = wanted[item[PARTITION_KEY]["S"]]
                found[key] = _stored(item)
            request = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
            if not request:
                return found
            if round_ + 1 < MAX_ROUNDS:
                self._sleep(random.uniform(0, BASE_DELAY * 2**round_))
        for item_key in (entry[PARTITION_KEY]["S"] for entry in request):
            found[wanted[item_key]] = f"BatchGetItem left the key unprocessed {MAX_ROUNDS} times"
        return found


def _stored(item: dict[str, Any]) -> Stored | str:
    """An item as this version writes it, or why it cannot be read: that profile's failure alone, never the
    batch's (an item edited by hand, restored by a tool, or written by a later layout)."""
    try:
        return Stored(int(item["version"]["N"]), bytes(item["state"]["B"]), int(item[TTL_ATTRIBUTE]["N"]))
    except (KeyError, TypeError, ValueError):
        return "its stored item is not of this version's layout (version, state, expiresAt): delete or fix it"


def dynamodb_profile_store(
    table_name: str, key_prefix: str, region: str | None, concurrency: int = DEFAULT_CONCURRENCY
) -> DynamoProfileStore:
    """The function's store: a DynamoDB client of its own, short timeouts, botocore's standard retries (3 tries)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        region_name=region,
        config=Config(
            connect_timeout=2,
            read_timeout=3,
            # The step's writers and this store's readers, at once.
            max_pool_connections=concurrency + 16,
            retries={"mode": "standard", "max_attempts": 3},
            # This module makes every request, from a validated config: botocore's check of each is spared.
            parameter_validation=False,
        ),
    )
    return DynamoProfileStore(client, table_name, key_prefix, concurrency=concurrency)
