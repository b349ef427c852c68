"""Reading synthesized templates: resources by construct path, references by logical ID."""

from __future__ import annotations

from typing import Any

EXAMPLE = "KinesisExport-crm-prospects"
EXISTING = "KinesisExport-loyalty-existing"
PROVISIONED = "KinesisExport-partners-provisioned"


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
