"""Fixtures shared by every test."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kinesis_export.config import DestinationConfig, load_config
from tests.support import EXAMPLE_CONFIG, SEEDS_PROFILE


@pytest.fixture(scope="session")
def example_config() -> DestinationConfig:
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture
def seeds_profile() -> dict[str, Any]:
    return copy.deepcopy(SEEDS_PROFILE)


@pytest.fixture(autouse=True)
def function_logs_in_each_tests_own_output() -> Iterator[None]:
    """Powertools binds a service's log handler to the sys.stdout of the moment its first Logger is made, and
    later Loggers of that service reuse it: one made inside an earlier test's capture would log into that closed
    capture (a logging error, slow, for every line). Each test's functions start their service's logger afresh."""
    yield
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and getattr(logger, "init", False):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            for marker in ("init", "powertools_handler"):
                if hasattr(logger, marker):
                    delattr(logger, marker)
