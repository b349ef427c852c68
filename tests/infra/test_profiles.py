"""The profile state table: only with `profileState`, its layout, exactly the access the step needs, and its name
given to the exporter, the backfill worker and the operator."""

from __future__ import annotations

from infra.exporter import FUNCTION_LOGICAL_ID
from tests.infra.conftest import Assembly
from tests.infra.templates import BACKFILL, FIFO, arn, inline_statements, of_type, ref, resource

KEEP_STATE_ACTIONS = ["dynamodb:BatchGetItem", "dynamodb:PutItem"]


def test_profile_table_is_on_demand_encrypted_recoverable_and_expires_items(fixtures: Assembly) -> None:
    table = resource(fixtures.templates[BACKFILL], "Profiles/Table")

    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = {key: value for key, value in table["Properties"].items() if key != "Tags"}
    # SSEEnabled without a key: the AWS-managed key aws/dynamodb
    assert properties == {
        "AttributeDefinitions": [{"AttributeName": "profile", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "profile", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
    }
    assert table["DeletionPolicy"] == "Delete"


def test_exporter_and_backfill_worker_may_read_and_write_items_of_that_table_only(fixtures: Assembly) -> None:
    template = fixtures.templates[BACKFILL]
    expected = {
        "Sid": "KeepProfileState",
        "Effect": "Allow",
        "Action": KEEP_STATE_ACTIONS,
        "Resource": arn(template, "Profiles/Table"),
    }

    for role in ("Exporter/Role", "Backfill/WorkerRole"):
        dynamodb = [s for s in inline_statements(template, role) if "dynamodb" in str(s["Action"])]
        assert dynamodb == [expected], role

    for function in (FUNCTION_LOGICAL_ID, "BackfillFunction"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["PROFILE_TABLE_NAME"] == ref(template, "Profiles/Table"), function


def test_with_ingest_fifo_the_exporter_keeps_profile_state_and_never_continues(fixtures: Assembly) -> None:
    # given the FIFO fixture, with profileState
    template = fixtures.templates[FIFO]

    # then its exporter holds the table's access and name, and neither an ingest queue to continue to nor
    # the right to send there
    statements = inline_statements(template, "Exporter/Role")
    assert [s for s in statements if s.get("Sid") == "KeepProfileState"] == [
        {
            "Sid": "KeepProfileState",
            "Effect": "Allow",
            "Action": KEEP_STATE_ACTIONS,
            "Resource": arn(template, "Profiles/Table"),
        }
    ]
    assert "ContinueLongMessages" not in [s.get("Sid") for s in statements]
    variables = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert variables["PROFILE_TABLE_NAME"] == ref(template, "Profiles/Table")
    assert "INGEST_QUEUE_URL" not in variables
    assert template["Outputs"]["ProfileTableName"]["Value"] == ref(template, "Profiles/Table")


def test_the_stack_names_the_table_for_the_backfill_command(fixtures: Assembly) -> None:
    template = fixtures.templates[BACKFILL]

    assert template["Outputs"]["ProfileTableName"]["Value"] == ref(template, "Profiles/Table")


def test_without_profile_state_there_is_no_profile_table_and_no_access_to_one(
    example: Assembly, fixtures: Assembly
) -> None:
    for assembly in (example, fixtures):
        for name, template in assembly.export_templates.items():
            if name in (BACKFILL, FIFO):
                continue
            assert not [r for r in of_type(template, "AWS::DynamoDB::Table") if "Profiles" in r], name
            assert "KeepProfileState" not in str(template["Resources"]), name
            assert "dynamodb:BatchGetItem" not in str(template["Resources"]), name
            assert "ProfileTableName" not in template.get("Outputs", {}), name
            variables = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
            assert "PROFILE_TABLE_NAME" not in variables, name
