"""What `sam local invoke -t cdk.out/<stack>.template.json ExportFunction -e events/<file>.json
--env-vars events/env.json` reads, checked without Docker (which SAM needs to run the function)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from infra.exporter import FUNCTION_LOGICAL_ID
from kinesis_export_cli.local import LOCAL_CREDENTIALS, moto_server
from tests.infra.conftest import Assembly
from tests.infra.templates import EXAMPLE, of_type
from tests.support import ROOT

ENV_FILE = ROOT / "events" / "env.json"
SAMPLE_EVENT = ROOT / "events" / "sqs-segment-events.json"
# What SAM's container does: start in the code directory, import the handler, invoke it once.
INVOKE = """
import json, sys
from kinesis_export.handlers.export import handler
from kinesis_export_cli.local import LambdaContext
print(json.dumps(handler(json.load(open(sys.argv[1])), LambdaContext())))
"""


def test_function_asset_metadata_points_at_code_with_the_config_beside_it(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        for name, template in assembly.export_templates.items():
            metadata = template["Resources"][FUNCTION_LOGICAL_ID]["Metadata"]

            assert metadata["aws:asset:property"] == "Code"
            package = assembly.outdir / metadata["aws:asset:path"]
            assert (package / "kinesis_export" / "handlers" / "export.py").is_file(), name
            config = json.loads((package / "destination.json").read_text(encoding="utf-8"))
            assert f"KinesisExport-{config['name']}" == name
            # caches and tests stay out of the package
            assert not [p for p in package.rglob("*") if p.name in ("__pycache__", "tests") or p.suffix == ".pyc"]


def test_env_file_names_the_function_and_only_variables_the_template_declares(assemblies: list[Assembly]) -> None:
    overrides = json.loads(ENV_FILE.read_text(encoding="utf-8"))

    assert list(overrides) == [FUNCTION_LOGICAL_ID]
    for assembly in assemblies:
        for template in assembly.export_templates.values():
            declared = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
            # SAM overrides only variables the template declares; others would be dropped silently. A FIFO
            # stack's function has no INGEST_QUEUE_URL to switch off: it never continues a message.
            fifo = any(q["Properties"].get("FifoQueue") for q in of_type(template, "AWS::SQS::Queue").values())
            expected = overrides[FUNCTION_LOGICAL_ID].keys() - ({"INGEST_QUEUE_URL"} if fifo else set())
            assert expected <= declared.keys()


def test_sample_events_are_sqs_events_the_handler_takes() -> None:
    samples = [path for path in sorted((ROOT / "events").glob("*.json")) if path != ENV_FILE]
    assert samples

    for path in samples:
        event = SQSEvent(json.loads(path.read_text(encoding="utf-8")))
        records = list(event.records)
        assert records, path.name
        for record in records:
            assert record.message_id and isinstance(record.body, str), path.name
            assert record.event_source == "aws:sqs", path.name


def test_package_dir_of_the_example_is_inside_the_cloud_assembly(example: Assembly) -> None:
    staged = example.outdir / "packages" / "crm-prospects"

    assert (staged / "destination.json").read_bytes() == (ROOT / "destinations" / "example.json").read_bytes()
    assert Path(staged / "kinesis_export").is_dir()


def test_the_package_runs_with_the_template_and_env_file_variables_against_a_local_kinesis(example: Assembly) -> None:
    # given the example's package, and the variables SAM would set: the template's, overridden by
    # events/env.json; the template names no Kinesis endpoint, so moto's is given as botocore reads it
    template = example.templates[EXAMPLE]
    package = example.outdir / template["Resources"][FUNCTION_LOGICAL_ID]["Metadata"]["aws:asset:path"]
    variables = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    overrides = json.loads(ENV_FILE.read_text(encoding="utf-8"))[FUNCTION_LOGICAL_ID]

    with moto_server() as endpoint:
        environment = variables | overrides | {"AWS_ENDPOINT_URL_KINESIS": endpoint}
        assert all(isinstance(value, str) for value in environment.values()), "env.json overrides every reference"
        local = {**LOCAL_CREDENTIALS, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        credentials = {name.lower(): value for name, value in LOCAL_CREDENTIALS.items()}
        kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", **credentials)
        kinesis.create_stream(StreamName="segment-exports", ShardCount=1)

        # when the function is invoked in its code directory, as in Lambda's /var/task (cli/ only
        # for the stand-in LambdaContext, which is not in the asset)
        result = subprocess.run(
            [sys.executable, "-c", INVOKE, str(SAMPLE_EVENT)],
            cwd=package,
            env={"PYTHONPATH": os.pathsep.join([".", str(ROOT / "cli")]), **local, **environment},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        # then it answers with a partial batch response, and records reach the stream
        assert result.returncode == 0, result.stderr
        response = json.loads(result.stdout.strip().splitlines()[-1])
        assert set(response) == {"batchItemFailures"}
        shard = kinesis.list_shards(StreamName="segment-exports")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName="segment-exports", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        assert kinesis.get_records(ShardIterator=iterator)["Records"]
