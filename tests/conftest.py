"""Fixtures shared by every test."""

from __future__ import annotations

import copy
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
