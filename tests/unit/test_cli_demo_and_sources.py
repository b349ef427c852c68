"""Ordinary failures of the command line found by review: one line and an exit status, never a traceback."""

from __future__ import annotations

import sys

import pytest

from kinesis_export_cli.main import main
from tests.support import EXAMPLE_CONFIG


def test_demo_without_moto_installed_says_how_to_install_it(monkeypatch, capsys):
    # given an install without the optional `demo` extra (importing moto's server fails)
    monkeypatch.setitem(sys.modules, "moto.server", None)

    status = main(["demo", "--config", str(EXAMPLE_CONFIG)])

    assert status == 2
    assert capsys.readouterr().err.splitlines() == [
        "moto's server is not installed: pip install 'kinesis-segment-export[demo]'"
    ]


@pytest.mark.parametrize("source", ["s3://bucket", "s3://bucket/", "s3:///key", "s3://bucket/folder/"])
def test_an_s3_source_that_names_no_object_is_refused_before_any_aws_call(source, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    status = main(["backfill", str(EXAMPLE_CONFIG), source])

    assert status == 2
    assert capsys.readouterr().err.splitlines() == [f"{source}: an S3 source is one object, s3://<bucket>/<key>"]
