"""Test data shared by unit and integration tests: the example destination and sample events."""

from __future__ import annotations

import importlib
import json
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "destinations" / "example.json"
HIGH_PROPENSITY = "7841ba61-23c1-4bb3-a495-00d3g5fe1e93"
WHITE_PAPER = "59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae"

# What a handler module's import finds in its environment, in the tests (`handler_module`).
EXAMPLE_FUNCTION_ENVIRONMENT = {
    "DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG),
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def handler_module(name: str) -> ModuleType:
    """`kinesis_export.handlers.<name>`, imported once as Lambda's start-up does, for the example destination.

    The module builds its own function at import; tests build theirs with `kinesis_export.wiring` and
    take the entry point from the module's `handler_for`.
    """
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in EXAMPLE_FUNCTION_ENVIRONMENT.items():
            patch.setenv(variable, value)
        return importlib.import_module(f"kinesis_export.handlers.{name}")


SEEDS_PROFILE: dict[str, Any] = {
    "eventId": "0f8d1c9e-5a4b-4c1e-9d7a-2b6e8f0a1c3d",
    "identityMap": {
        "ECID": [
            {"id": "14575006536349286404619648085736425115", "primary": True},
            {"id": "66478888669296734530114754794777368480"},
        ],
        "email_lc_sha256": [{"id": "655332b5fa2aea4498bf7a290cff017cb4"}, {"id": "66baf76ef9de8b42df8903f00e0e3dc0b7"}],
    },
    "segmentMembership": {
        "ups": {
            HIGH_PROPENSITY: {"status": "exited", "lastQualificationTime": "2020-05-25T21:24:39Z"},
            WHITE_PAPER: {"status": "existing", "lastQualificationTime": "2020-05-25T23:37:33Z"},
        }
    },
    "attributes": {"person": {"email": "yourstruly@adobe.con"}},
}


def profile_event(ecid: str, *, event_id: str = "e-1", status: str = "realized", **extra: Any) -> dict[str, Any]:
    """A small valid event for one profile, in the example destination's first segment."""
    event: dict[str, Any] = {
        "eventId": event_id,
        "identityMap": {"ECID": [{"id": ecid, "primary": True}]},
        "segmentMembership": {
            "ups": {HIGH_PROPENSITY: {"status": status, "lastQualificationTime": "2020-05-25T21:24:39Z"}}
        },
    }
    event.update(extra)
    return event


def body(event: dict[str, Any]) -> str:
    return json.dumps(event)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not standard JSON: {name}")


def strict_json(data: str | bytes) -> Any:
    """JSON as a standard parser reads it (JavaScript's JSON.parse, Jackson by default): NaN and Infinity refused."""
    return json.loads(data, parse_constant=_refuse_constant)


class PersonalData:
    """Marked personal values to plant in test input, and a check that none of them got out.

    Each marker is unique (`pii-<hex>`), shaped as what it stands for (an e-mail address, a phone
    number, a name), so that a value found in a log line or a reason is known to come from the input.
    """

    def __init__(self) -> None:
        self.planted: list[str] = []

    def mark(self, kind: str = "value") -> str:
        marker = f"pii-{uuid.uuid4().hex[:12]}"
        self.planted.append(marker)
        shapes = {"email": f"{marker}@example.com", "phone": f"+1-555-{marker}", "name": f"Jane {marker}"}
        return shapes.get(kind, marker)

    def found_in(self, text: str) -> list[str]:
        """The markers that appear in a text (a log, a reason, an answer), whole or as their hex part."""
        return [marker for marker in self.planted if marker in text or marker.removeprefix("pii-") in text]


def config_problems(data: object) -> list[str]:
    """A config's problems, one line each; none for a valid config."""
    from kinesis_export.config import ConfigError, parse_config

    try:
        parse_config(data)
    except ConfigError as error:
        return error.problems
    return []


def traced_peak(call: Callable[[], T]) -> tuple[T, int]:
    """What a call returns, and the most memory Python allocated while it ran (tracemalloc's peak)."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def emf_documents(printed: str) -> list[dict[str, Any]]:
    """The EMF documents printed: JSON lines with an `_aws` section."""
    return [json.loads(line) for line in printed.splitlines() if line.startswith("{") and '"_aws"' in line]


def emitted_metrics(printed: str) -> dict[str, list[float]]:
    """Every EMF metric printed, by name, with its values (those of every document that holds it)."""
    values: dict[str, list[float]] = {}
    for document in emf_documents(printed):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return values
