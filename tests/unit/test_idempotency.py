"""The idempotency option: its config, and that a destination without it never loads Powertools' utility."""

import subprocess
import sys

import pytest

from kinesis_export.config import ConfigError, parse_config
from tests.support import ROOT


def test_idempotency_is_off_by_default_and_remembers_an_hour_when_on(example_config):
    data = example_config.model_dump(by_alias=True, exclude_unset=True)

    assert example_config.idempotency is None
    assert parse_config({**data, "idempotency": {}}).idempotency.ttl_seconds == 3600


def test_idempotency_ttl_outside_a_minute_to_a_week_is_refused(example_config):
    data = example_config.model_dump(by_alias=True, exclude_unset=True)

    with pytest.raises(ConfigError, match=r"idempotency\.ttlSeconds: Input should be greater than or equal to 60"):
        parse_config({**data, "idempotency": {"ttlSeconds": 59}})


def test_the_export_path_does_not_import_powertools_idempotency_until_a_ledger_is_built():
    code = (
        "import sys, kinesis_export.pipeline, kinesis_export.idempotency; "
        "print(any(m.startswith('aws_lambda_powertools.utilities.idempotency') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "lambdas", capture_output=True, text=True, check=True
    ).stdout

    assert out.strip() == "False"
