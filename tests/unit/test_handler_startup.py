import json
import subprocess
import sys

import pytest

from kinesis_export import wiring
from kinesis_export.config import ConfigError
from tests.support import EXAMPLE_CONFIG, EXAMPLE_FUNCTION_ENVIRONMENT, ROOT


def test_function_with_only_its_config_file_starts_with_defaults():
    exporter = wiring.exporter({"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"})

    assert exporter.rejects is None
    assert exporter.ingest is None
    assert exporter.ledger is None
    assert exporter.settings.writer_concurrency == 4


def invalid_config(tmp_path) -> str:
    config = tmp_path / "destination.json"
    config.write_text(json.dumps({"name": "Bad Name", "stream": {"name": "s"}, "segments": [], "identities": [{}]}))
    return str(config)


def test_function_refuses_to_start_with_an_invalid_config(tmp_path):
    with pytest.raises(ConfigError) as raised:
        wiring.exporter({"DESTINATION_CONFIG_FILE": invalid_config(tmp_path)})

    assert raised.value.problems == [
        "name: must be 1-40 lowercase letters, digits or hyphens",
        "segments: List should have at least 1 item after validation, not 0",
        "identities[0].namespace: required",
    ]


@pytest.mark.parametrize("name", ["export", "backfill", "check"])
def test_each_handler_module_builds_its_function_at_import_so_an_invalid_config_fails_the_start_up(name, tmp_path):
    environment = EXAMPLE_FUNCTION_ENVIRONMENT | {"DESTINATION_CONFIG_FILE": invalid_config(tmp_path)}

    started = subprocess.run(
        [sys.executable, "-c", f"import kinesis_export.handlers.{name}"],
        env=environment | {"PYTHONPATH": str(ROOT / "lambdas")},
        capture_output=True,
        text=True,
        check=False,
    )

    assert started.returncode == 1
    assert "ConfigError" in started.stderr
    assert "name: must be 1-40 lowercase letters, digits or hyphens" in started.stderr


def idempotent_config(tmp_path) -> str:
    config = json.loads(EXAMPLE_CONFIG.read_text())
    config["idempotency"] = {"ttlSeconds": 3600}
    path = tmp_path / "destination.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_an_exporter_with_idempotency_and_no_table_refuses_to_start(tmp_path):
    with pytest.raises(ConfigError) as raised:
        wiring.exporter({"DESTINATION_CONFIG_FILE": idempotent_config(tmp_path), "AWS_REGION": "us-east-1"})

    assert raised.value.problems == ["IDEMPOTENCY_TABLE_NAME: required when the config sets idempotency"]


def test_an_exporter_with_idempotency_keeps_its_ledger_on_the_named_table_and_the_backfill_worker_needs_none(tmp_path):
    environ = {"DESTINATION_CONFIG_FILE": idempotent_config(tmp_path), "AWS_REGION": "us-east-1"}

    exporter = wiring.exporter(environ | {"IDEMPOTENCY_TABLE_NAME": "events-written"})
    worker = wiring.worker(environ)

    assert exporter.ledger is not None
    assert exporter.ledger._persistence.table_name == "events-written"
    assert not hasattr(worker, "ledger")
