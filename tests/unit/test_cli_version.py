"""`kinesis-export --version`, and the console script pyproject.toml declares."""

from __future__ import annotations

import argparse
import importlib
import tomllib

import pytest

from kinesis_export_cli.main import DISTRIBUTION, build_parser, main
from tests.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_is_the_installed_distributions(tmp_path, monkeypatch, capsys):
    # given the distribution installed at version 1.2.3 (its metadata first on the path)
    info = tmp_path / "kinesis_segment_export-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: 1.2.3\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    # when the version is asked for
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    # then it is printed, and the exit status is 0
    assert exited.value.code == 0
    assert capsys.readouterr().out == "kinesis-export 1.2.3\n"


def test_the_version_is_of_the_distribution_pyproject_names():
    assert PYPROJECT["project"]["name"] == DISTRIBUTION


def test_the_console_script_is_the_command_lines_main():
    target = PYPROJECT["project"]["scripts"]["kinesis-export"]
    module, _, function = target.partition(":")

    assert getattr(importlib.import_module(module), function) is main


def test_every_command_and_option_has_help_text():
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]

    assert set(commands.choices) == {"demo", "check", "backfill", "rejects", "redrive"}
    assert all(choice.help for choice in commands._choices_actions)
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.dest}"


@pytest.mark.parametrize("command", [[], ["demo"], ["check"], ["backfill"], ["rejects"], ["redrive"]])
def test_help_lists_the_exit_statuses(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for status in ("0", "1", "2", "130"):
        assert f"\n  {status} " in text.split("exit status:")[1]
