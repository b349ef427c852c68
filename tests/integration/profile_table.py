"""A profile state table on moto's server, for the integration tests of profileState."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from tests.integration.conftest import REGION


def create_profile_table(name: str) -> None:
    """The table as the stack creates it (infra/profiles.py): key `profile`, on demand."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "profile", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "profile", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def stateful_pipeline(start_pipeline: Any, monkeypatch: pytest.MonkeyPatch, **config_changes: Any) -> tuple[Any, str]:
    """A pipeline with profileState (30 days), and its table, named in the function's environment."""
    name = f"profiles-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PROFILE_TABLE_NAME", name)
    pipeline = start_pipeline(profileState={"ttlDays": 30}, **config_changes)
    create_profile_table(name)
    return pipeline, name


def items(table: str) -> dict[str, dict[str, Any]]:
    """Every item of the table, by its key."""
    scanned = boto3.client("dynamodb", region_name=REGION).scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["profile"]["S"]: item for item in scanned}
