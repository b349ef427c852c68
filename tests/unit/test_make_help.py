"""`make help` lists the targets from the Makefile's own comments, and installs nothing to do it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> str:
    return subprocess.run(["make", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout


def test_make_help_lists_each_target_with_its_description():
    listed = {line.split()[0]: line for line in make("help").splitlines()}

    assert "demo" in listed and "sample events" in listed["demo"]
    assert "test" in listed and "every test" in listed["test"]
    assert {"help", "lint", "unit", "integration", "check", "backfill", "synth", "deploy", "clean"} <= set(listed)


def test_make_help_needs_no_virtual_environment():
    # `make -n` prints what would run: only the listing, no venv or pip
    planned = make("-n", "help")

    assert "venv" not in planned and "pip" not in planned
