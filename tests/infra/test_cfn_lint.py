"""cfn-lint finds no error in any synthesized template."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infra.conftest import Assembly


def test_every_template_passes_cfn_lint_without_errors(assemblies: list[Assembly]) -> None:
    templates = [path for assembly in assemblies for path in sorted(assembly.outdir.glob("*.template.json"))]
    # the example; six export stacks and one access stack from the fixtures
    assert len(templates) == 8

    errors = [
        f"{Path(match.filename or '').name}: {match.rule.id} {match.message}"
        for template in templates
        # Every region the stacks may go to: the configs name us-east-1, eu-west-1 and us-west-2.
        for match in lint_file(template, ManualArgs(regions=["us-east-1", "eu-west-1", "us-west-2"]))
        if match.rule.id.startswith("E")
    ]

    assert errors == []
