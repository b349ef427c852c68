"""SAM CLI runs the synthesized function in a container, offline: `make sam-test`, which CI runs after `make test`.

The engine is installed and started if missing (sam/engine.sh, as root), the base image is AWS's or the
stand-in (sam/base-image.sh), and the function reaches moto's server on 127.0.0.1 from the host's network.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinesis_export_cli.saminvoke import SAM_PYTHON, run_with_sam
from tests.infra.conftest import Assembly, synthesize
from tests.infra.templates import EXAMPLE
from tests.support import EXAMPLE_CONFIG, ROOT

pytestmark = pytest.mark.container

SAMPLE_EVENT = ROOT / "events" / "sqs-segment-events.json"
FIXTURES = ROOT / "tests" / "infra" / "fixtures"


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    subprocess.run([str(ROOT / "sam" / "engine.sh")], check=True)
    yield


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize(EXAMPLE_CONFIG, tmp_path_factory.mktemp("example"))


def test_sam_runs_the_function_in_a_container_and_its_records_reach_the_stream(engine: None, example: Assembly) -> None:
    # given the sample SQS event: six messages; three to export, one naming no segment of the example's, two invalid
    sample = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    assert len(sample["Records"]) == 6

    # when SAM CLI invokes the synthesized function with it, in its container
    run = run_with_sam(example.outdir / f"{EXAMPLE}.template.json", SAMPLE_EVENT, "ExportFunction")

    # then the function answers that nothing failed, the invalid messages are parked as rejects,
    assert run.answer == {"batchItemFailures": []}, run.output[-3000:]
    assert sorted(m["MessageAttributes"]["errorCode"]["StringValue"] for m in run.rejects) == [
        "INVALID_EVENT",
        "INVALID_JSON",
    ]
    # and the valid ones are on the stream, in the seeds' format, keyed by their primary identity
    documents = [record.json() for record in run.records]
    assert len(documents) == 3
    for record, document in zip(run.records, documents, strict=True):
        assert set(document) >= {"segmentMembership", "identityMap"}
        assert record.partition_key in {i["id"] for ids in document["identityMap"].values() for i in ids}


def test_every_synthesized_template_passes_sam_validate_lint(tmp_path: Path, example: Assembly) -> None:
    # given every template the app makes: the example and each fixture (export and access stacks)
    fixtures = synthesize(FIXTURES, tmp_path / "fixtures")
    templates = [*example.outdir.glob("*.template.json"), *fixtures.outdir.glob("*.template.json")]
    assert len(templates) == 8  # the example, six fixtures, and the assume-role fixture's access stack

    # when SAM CLI validates each with cfn-lint (its warnings acknowledged in .cfnlintrc, each with its reason)
    verdicts = {
        template.name: subprocess.run(
            [str(SAM_PYTHON.parent / "sam"), "validate", "--lint", "-t", str(template), "--region", "us-east-1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0", "HOME": str(tmp_path)},
            check=False,
        )
        for template in templates
    }

    # then each is valid
    assert {name: v.returncode for name, v in verdicts.items()} == {name: 0 for name in verdicts}, {
        name: v.stdout + v.stderr for name, v in verdicts.items() if v.returncode
    }
