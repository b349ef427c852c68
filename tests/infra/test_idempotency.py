"""The idempotency table: only with `idempotency`, the layout Powertools expects, and exactly the access it needs."""

from __future__ import annotations

from infra.exporter import FUNCTION_LOGICAL_ID
from tests.infra.conftest import Assembly
from tests.infra.templates import PROVISIONED, arn, inline_statements, of_type, ref, resource


def test_idempotency_table_is_on_demand_encrypted_recoverable_and_expires_items(fixtures: Assembly) -> None:
    table = resource(fixtures.templates[PROVISIONED], "Idempotency/Table")

    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = {key: value for key, value in table["Properties"].items() if key != "Tags"}
    # SSEEnabled without a key: the AWS-managed key aws/dynamodb
    assert properties == {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
    }
    assert table["DeletionPolicy"] == "Delete"


def test_exporter_may_read_write_and_delete_items_of_that_table_only(fixtures: Assembly) -> None:
    template = fixtures.templates[PROVISIONED]

    dynamodb = [s for s in inline_statements(template, "Exporter/Role") if "dynamodb" in str(s["Action"])]

    assert dynamodb == [
        {
            "Sid": "TrackEventIds",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": arn(template, "Idempotency/Table"),
        }
    ]
    variables = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert variables["IDEMPOTENCY_TABLE_NAME"] == ref(template, "Idempotency/Table")


def test_without_idempotency_there_is_no_table_and_no_dynamodb_access(example: Assembly, fixtures: Assembly) -> None:
    for assembly in (example, fixtures):
        for name, template in assembly.export_templates.items():
            if name == PROVISIONED:
                continue
            assert not [r for r in of_type(template, "AWS::DynamoDB::Table") if "Idempotency" in r], name
            assert "TrackEventIds" not in str(template["Resources"]), name
            variables = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
            assert "IDEMPOTENCY_TABLE_NAME" not in variables, name
