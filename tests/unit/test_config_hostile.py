"""Destination config validation under hostile configs (found by a third adversarial review).

Validation stays linear in the config's size, each problem is one line naming the field without
echoing a value, and the function's settings are refused with one line, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinesis_export.config import ConfigError, Settings, load_config
from tests.support import EXAMPLE_CONFIG, config_problems


def example() -> dict:
    return json.loads(EXAMPLE_CONFIG.read_text())


def governance_config(actions: int, policies: int, attributes: int) -> dict:
    """Every policy denies label L1 to every action; every attribute carries L1."""
    config = example()
    names = [f"act{n}" for n in range(actions)]
    config["marketingActions"] = names
    config["policies"] = [
        {"id": f"p{n}", "name": "n", "marketingActions": names, "deniedLabels": ["L1"]} for n in range(policies)
    ]
    config["attributes"] = [{"path": f"a{n}", "labels": ["L1"]} for n in range(attributes)]
    return config


def test_the_governance_report_grows_no_faster_than_the_config():
    # README: "Validation takes time in proportion to the config's size". Doubling every list
    # doubles the config, but multiplies the problems (one per field x label x action x policy) by 8:
    # at the documented limits (50 actions, 100 policies, 600 fields, 32 labels) that is ~10^8 lines.
    small, large = governance_config(10, 10, 50), governance_config(20, 20, 100)
    size_ratio = len(json.dumps(large)) / len(json.dumps(small))
    output_ratio = sum(map(len, config_problems(large))) / sum(map(len, config_problems(small)))

    assert output_ratio <= 2 * size_ratio, (
        f"config grew {size_ratio:.1f}x, its problem report {output_ratio:.1f}x "
        f"({len(config_problems(large)):,} lines from a {len(json.dumps(large)):,}-byte config)"
    )


def test_a_long_policy_name_does_not_swell_the_report():
    # A policy's `name` has no length limit and is echoed in each violation: a 100 KB name and 100
    # labelled attributes make a 10 MB report from a ~100 KB config.
    config = governance_config(1, 1, 100)
    config["policies"][0]["name"] = "n" * 100_000

    report = "\n".join(config_problems(config))

    assert len(report) <= 10 * len(json.dumps(config)), f"{len(report):,} bytes of problems"


def test_an_unknown_credentials_mode_is_named_without_echoing_it():
    # pydantic's union_tag_invalid message quotes the input: the value (here personal data with a
    # newline) reaches the report, and breaks "one line per problem".
    config = example()
    config["credentials"] = {"mode": "jane.doe@example.com\nsecond line"}

    report = "\n".join(config_problems(config))

    assert "jane.doe@example.com" not in report, report
    assert len(report.splitlines()) == len(config_problems(config)), "one line per problem"


def test_a_free_text_namespace_is_not_echoed_in_a_governance_line():
    config = example()
    config["identities"][0]["namespace"] = "jane.doe@example.com\nforged: line"
    config["identities"][0]["labels"] = ["NotALabel"]

    problems = config_problems(config)

    assert problems, "the unknown label is reported"
    assert all("\n" not in problem for problem in problems), problems
    assert not any("jane.doe@example.com" in problem for problem in problems), problems


def test_an_unknown_key_with_a_newline_is_still_one_line():
    config = example()
    config["jane.doe@example.com\nforged"] = 1

    problems = config_problems(config)

    assert all("\n" not in problem for problem in problems), problems


def test_a_config_file_that_is_not_utf8_is_a_config_error_not_a_traceback(tmp_path: Path):
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(example()).replace("CRM", "CRM caf\u00e9").encode("latin-1"))

    with pytest.raises(ConfigError):  # today: UnicodeDecodeError escapes load_config
        load_config(path)


def test_a_deeply_nested_config_is_a_config_error_not_a_traceback(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")

    with pytest.raises(ConfigError):  # today: RecursionError escapes load_config
        load_config(path)


def test_a_unicode_digit_setting_is_one_line_not_a_traceback():
    # "²".isdigit() is True, int("²") raises ValueError: the function dies at start-up with a traceback.
    with pytest.raises(ConfigError, match="WRITER_CONCURRENCY"):
        Settings.from_environ({"DESTINATION_CONFIG_FILE": "x.json", "WRITER_CONCURRENCY": "\u00b2"})
