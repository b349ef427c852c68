"""The config's limits: what validation lets through, the function can start with and export."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from kinesis_export.config import (
    MAX_ATTRIBUTE_PARTS,
    MAX_ATTRIBUTES,
    MAX_IDENTITIES,
    MAX_KEY_CHARS,
    MAX_LABELS,
    MAX_MARKETING_ACTIONS,
    MAX_PATH_PART_CHARS,
    MAX_PATH_PARTS,
    MAX_POLICIES,
    MAX_SEGMENT_NAME_CHARS,
    MAX_SEGMENTS,
    load_config,
)
from kinesis_export.events import parse_event
from kinesis_export.governance import CORE_LABELS
from kinesis_export.records import Record, RecordPlan
from tests.support import EXAMPLE_CONFIG, config_problems


def example(**changes: Any) -> dict[str, Any]:
    return {**json.loads(EXAMPLE_CONFIG.read_text()), **changes}


def path(parts: int, chars: int = 2, tag: str = "p") -> str:
    """A dotted path of `parts` parts of `chars` characters each, distinct by tag and position."""
    return ".".join(f"{tag}{index}".ljust(chars, "x") for index in range(parts))


def test_a_path_deeper_than_the_function_takes_is_one_line_naming_the_field():
    deep = path(2_000)

    assert config_problems(example(attributes=["person.email", deep], consentPath=deep)) == [
        f"attributes[1].path: must have at most {MAX_PATH_PARTS} parts",
        f"consentPath: must have at most {MAX_PATH_PARTS} parts",
    ]


def test_ten_thousand_attributes_are_one_line_naming_the_field():
    attributes = [f"person.a{index}" for index in range(10_000)]

    assert config_problems(example(attributes=attributes)) == [
        f"attributes: at most {MAX_ATTRIBUTES} entries, not 10000"
    ]


def _over(limit: int, item: Any) -> list[Any]:
    return [item(index) for index in range(limit + 1)]


OVER_THE_LIMITS = {
    "path part": (
        {"attributes": ["person." + "e" * (MAX_PATH_PART_CHARS + 1)]},
        f"attributes[0].path: must have parts of at most {MAX_PATH_PART_CHARS} characters",
    ),
    "parts in all": (
        {"attributes": [path(MAX_PATH_PARTS, tag=f"a{n}-") for n in range(MAX_ATTRIBUTE_PARTS // MAX_PATH_PARTS + 1)]},
        f"attributes: at most {MAX_ATTRIBUTE_PARTS} path parts in all, not {MAX_ATTRIBUTE_PARTS + MAX_PATH_PARTS}",
    ),
    "segments": (
        {"segments": _over(MAX_SEGMENTS, lambda n: {"id": f"segment-{n}"})},
        f"segments: at most {MAX_SEGMENTS} entries, not {MAX_SEGMENTS + 1}",
    ),
    "segment id": (
        {"segments": [{"id": "s" * (MAX_KEY_CHARS + 1)}]},
        f"segments[0].id: String should have at most {MAX_KEY_CHARS} characters",
    ),
    "segment name": (
        {"segments": [{"id": "s", "name": "n" * (MAX_SEGMENT_NAME_CHARS + 1)}]},
        f"segments[0].name: String should have at most {MAX_SEGMENT_NAME_CHARS} characters",
    ),
    "identities": (
        {"identities": _over(MAX_IDENTITIES, lambda n: {"namespace": f"ns{n}"})},
        f"identities: at most {MAX_IDENTITIES} entries, not {MAX_IDENTITIES + 1}",
    ),
    "namespace": (
        {"identities": [{"namespace": "n" * (MAX_KEY_CHARS + 1)}]},
        f"identities[0].namespace: String should have at most {MAX_KEY_CHARS} characters",
    ),
    "exportAs": (
        {"identities": [{"namespace": "ECID", "exportAs": "e" * (MAX_KEY_CHARS + 1)}]},
        f"identities[0].exportAs: String should have at most {MAX_KEY_CHARS} characters",
    ),
    "labels": (
        {"attributes": [{"path": "person.email", "labels": _over(MAX_LABELS, lambda n: "C1")}]},
        f"attributes[0].labels: at most {MAX_LABELS} entries, not {MAX_LABELS + 1}",
    ),
    "marketing actions": (
        {"marketingActions": _over(MAX_MARKETING_ACTIONS, lambda n: "analytics")},
        f"marketingActions: at most {MAX_MARKETING_ACTIONS} entries, not {MAX_MARKETING_ACTIONS + 1}",
    ),
    "marketing action": (
        {"marketingActions": ["a" * (MAX_KEY_CHARS + 1)]},
        f"marketingActions[0]: String should have at most {MAX_KEY_CHARS} characters",
    ),
    "policies": (
        {
            "policies": _over(
                MAX_POLICIES, lambda n: {"id": f"p{n}", "name": "P", "marketingActions": ["a"], "deniedLabels": ["C1"]}
            )
        },
        f"policies: at most {MAX_POLICIES} entries, not {MAX_POLICIES + 1}",
    ),
}


@pytest.mark.parametrize("changes, line", OVER_THE_LIMITS.values(), ids=OVER_THE_LIMITS.keys())
def test_each_limit_passed_is_one_line_naming_the_field_not_the_value(changes, line):
    assert config_problems(example(**changes)) == [line]


def at_every_limit() -> dict[str, Any]:
    """A valid config at every limit at once: the most and longest entries, the deepest paths."""
    actions = [f"action-{n}" for n in range(MAX_MARKETING_ACTIONS)]
    custom_labels = [f"X{n}" for n in range(MAX_LABELS - len(CORE_LABELS))]
    labels = sorted(CORE_LABELS) + custom_labels
    # No violation: the policies on this destination's actions deny a label no field carries, and the
    # custom labels are known from a policy on an action it does not take.
    policies = [
        {"id": f"p{n}", "name": "P", "marketingActions": [*actions, "elsewhere"], "deniedLabels": ["Y1"]}
        for n in range(MAX_POLICIES - 1)
    ]
    policies.append({"id": "custom-labels", "name": "P", "marketingActions": ["elsewhere"], "deniedLabels": labels})
    # The picker's worst case: every part distinct and as long as allowed; the deepest paths first,
    # then two-part paths up to the limit of parts in all.
    deepest = (MAX_ATTRIBUTE_PARTS - 2 * MAX_ATTRIBUTES) // (MAX_PATH_PARTS - 2)
    attributes = [path(MAX_PATH_PARTS, MAX_PATH_PART_CHARS, f"d{n}-") for n in range(deepest)]
    attributes += [path(2, MAX_PATH_PART_CHARS, f"s{n}-") for n in range(MAX_ATTRIBUTES - deepest)]
    return example(
        name="n" * 40,
        segments=[
            {"id": f"{n}-".ljust(MAX_KEY_CHARS, "s"), "name": f"{n}-".ljust(MAX_SEGMENT_NAME_CHARS, "n")}
            for n in range(MAX_SEGMENTS)
        ],
        includeSegmentNames=True,
        identities=[
            {
                "namespace": f"{n}-".ljust(MAX_KEY_CHARS, "n"),
                "exportAs": f"{n}-".ljust(MAX_KEY_CHARS, "e"),
                "labels": labels,
            }
            for n in range(MAX_IDENTITIES)
        ],
        attributes=[{"path": attribute, "labels": labels} for attribute in attributes],
        consentPath=path(MAX_PATH_PARTS, MAX_PATH_PART_CHARS, "c"),
        marketingActions=actions,
        policies=policies,
    )


def nested(dotted: str, value: Any) -> dict[str, Any]:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def test_a_config_at_every_limit_starts_the_function_and_exports_an_event(tmp_path: Path):
    data = at_every_limit()
    deepest, shallow = data["attributes"][0]["path"], data["attributes"][-1]["path"]
    segment, identity = data["segments"][-1], data["identities"][-1]
    file = tmp_path / "destination.json"
    file.write_text(json.dumps(data))
    event = {
        "eventId": "e-1",
        "identityMap": {identity["namespace"]: [{"id": "profile-1", "primary": True}]},
        "segmentMembership": {
            "ups": {segment["id"]: {"status": "realized", "lastQualificationTime": "2020-05-25T21:24:39Z"}}
        },
        "attributes": {**nested(deepest, "deep"), **nested(shallow, "shallow"), **nested(data["consentPath"], "y")},
    }

    config = load_config(file)
    assert sum(a.path.count(".") + 1 for a in config.attributes) == MAX_ATTRIBUTE_PARTS
    record = RecordPlan(config).build(parse_event(json.dumps(event)))

    assert isinstance(record, Record)
    assert record.partition_key == "profile-1"
    assert json.loads(record.data) == {
        **nested(deepest, "deep"),
        **nested(shallow, "shallow"),
        "segmentMembership": {
            "ups": {
                segment["id"]: {
                    "lastQualificationTime": "2020-05-25T21:24:39Z",
                    "status": "realized",
                    "name": segment["name"],
                }
            }
        },
        "identityMap": {identity["exportAs"]: [{"id": "profile-1"}]},
    }


def test_duplicates_and_overlaps_among_many_paths_each_name_the_first_entry_they_repeat():
    # Paths in random order, with a path repeated, one inside an earlier one and one around earlier ones.
    paths = [f"group{n % 50}.field{n}.value" for n in range(MAX_ATTRIBUTES - 3)]
    random.Random(12).shuffle(paths)
    paths += [paths[100], paths[200] + ".inside", paths[300].rpartition(".")[0].rpartition(".")[0]]
    group = paths[-1]
    first_in_group = next(index for index, p in enumerate(paths) if p.startswith(group + "."))

    assert config_problems(example(attributes=paths)) == [
        f"attributes[{MAX_ATTRIBUTES - 3}]: listed twice, first as attributes[100]",
        f"attributes[{MAX_ATTRIBUTES - 2}]: overlaps attributes[200] (one holds the other); keep only one of them",
        f"attributes[{MAX_ATTRIBUTES - 1}]: overlaps attributes[{first_in_group}] (one holds the other); "
        "keep only one of them",
    ]
