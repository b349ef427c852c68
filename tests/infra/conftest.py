"""Each app is synthesized once per session (nag included), then read back as templates.

Synthesis takes seconds (a Node.js process runs the CDK), so every test shares these results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app import APP_CONTEXT, build_app
from tests.support import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class Assembly:
    """A synthesized app: its cloud assembly directory and each stack's template."""

    outdir: Path
    templates: dict[str, dict[str, Any]]

    def template(self, stack_name: str) -> Template:
        return Template.from_json(self.templates[stack_name])

    @property
    def export_templates(self) -> dict[str, dict[str, Any]]:
        """The export stacks' templates (`KinesisExport-<name>`), without the access stacks."""
        return {name: template for name, template in self.templates.items() if name.startswith("KinesisExport-")}

    def acknowledged(self, stack_name: str) -> dict[str, set[str]]:
        """The cdk-nag rules acknowledged in a stack, by construct path (below the stack)."""
        metadata = json.loads((self.outdir / f"{stack_name}.metadata.json").read_text(encoding="utf-8"))
        rules: dict[str, set[str]] = {}
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    construct = path.removeprefix(f"/{stack_name}/")
                    rules.setdefault(construct, set()).update(rule.split("::", 1)[1] for rule in entry["data"])
        return rules

    def environment(self, stack_name: str) -> str:
        """The stack's environment in the cloud assembly: aws://<account>/<region>, with unknown-* for none."""
        manifest = json.loads((self.outdir / "manifest.json").read_text(encoding="utf-8"))
        return manifest["artifacts"][stack_name]["environment"]  # type: ignore[no-any-return]


def synthesize(target: Path, outdir: Path) -> Assembly:
    """Synthesize like `npx cdk synth` does: cdk.json's feature flags, no environment, nag on."""
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"] | APP_CONTEXT
    app = App(context=context, outdir=str(outdir))
    stacks = build_app(app, target)
    app.synth()
    templates = {
        stack.stack_name: json.loads((outdir / stack.template_file).read_text(encoding="utf-8")) for stack in stacks
    }
    return Assembly(outdir, templates)


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """destinations/example.json: a stream this pipeline creates (on-demand, AWS-managed key)."""
    return synthesize(ROOT / "destinations" / "example.json", tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """The fixture folder: an existing stream with a customer key, a provisioned stream with one, an
    assumed role for a stream in another account and region (with a customer key), an access key."""
    return synthesize(FIXTURES, tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(scope="session")
def assemblies(example: Assembly, fixtures: Assembly) -> list[Assembly]:
    return [example, fixtures]
