"""Reading synthesized templates: resources by construct path, references by logical ID."""

from __future__ import annotations

from typing import Any

EXAMPLE = "KinesisExport-crm-prospects"
EXISTING = "KinesisExport-loyalty-existing"
PROVISIONED = "KinesisExport-partners-provisioned"
ASSUME_ROLE = "KinesisExport-partner-cross-account"
ACCESS = "KinesisExportAccess-partner-cross-account"
ACCESS_KEY = "KinesisExport-agency-access-key"
BACKFILL = "KinesisExport-members-backfill"
FIFO = "KinesisExport-journeys-fifo"


def logical_id(template: dict[str, Any], path: str) -> str:
    """The logical ID of the one resource whose construct path ends with `path` (e.g. Exporter/Role)."""
    found = [
        name
        for name, resource in template["Resources"].items()
        if resource.get("Metadata", {}).get("aws:cdk:path", "").endswith(f"/{path}/Resource")
        or resource.get("Metadata", {}).get("aws:cdk:path", "").endswith(f"/{path}")
    ]
    assert len(found) == 1, f"{path}: {found}"
    return found[0]


def resource(template: dict[str, Any], path: str) -> dict[str, Any]:
    return template["Resources"][logical_id(template, path)]


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def arn(template: dict[str, Any], path: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(template, path), "Arn"]}


def ref(template: dict[str, Any], path: str) -> dict[str, Any]:
    return {"Ref": logical_id(template, path)}


def inline_statements(template: dict[str, Any], role_path: str) -> list[dict[str, Any]]:
    """The statements of a role's one inline policy."""
    role = resource(template, role_path)["Properties"]
    [policy] = role["Policies"]
    return policy["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def attached_statements(template: dict[str, Any], role_path: str) -> list[list[dict[str, Any]]]:
    """The statements of each AWS::IAM::Policy attached to a role (what helpers add beside its own policy)."""
    role = ref(template, role_path)
    return [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
    ]
