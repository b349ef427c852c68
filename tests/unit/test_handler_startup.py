import importlib
import json
import sys

import pytest

from kinesis_export.config import ConfigError
from tests.support import EXAMPLE_CONFIG

HANDLER_MODULE = "kinesis_export.handlers.export"


def start_function(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("DESTINATION_CONFIG_FILE", "REJECTS_QUEUE_URL", "WRITER_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, HANDLER_MODULE, raising=False)
    return importlib.import_module(HANDLER_MODULE)


def test_function_with_only_its_config_file_starts_with_defaults(monkeypatch):
    module = start_function(monkeypatch, {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG)})

    assert module.rejects is None
    assert module.settings.writer_concurrency == 4


def test_function_refuses_to_start_with_an_invalid_config(monkeypatch, tmp_path):
    config = tmp_path / "destination.json"
    config.write_text(json.dumps({"name": "Bad Name", "stream": {"name": "s"}, "segments": [], "identities": [{}]}))

    with pytest.raises(ConfigError) as raised:
        start_function(monkeypatch, {"DESTINATION_CONFIG_FILE": str(config)})

    assert raised.value.problems == [
        "name: must be 1-40 lowercase letters, digits or hyphens",
        "segments: List should have at least 1 item after validation, not 0",
        "identities[0].namespace: required",
    ]
