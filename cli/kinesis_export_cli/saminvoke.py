"""`make sam-invoke`: the synthesized function run by SAM CLI in a container, against a local Kinesis, without AWS.

`sam local invoke` runs the function's packaged code (the template's asset) in Lambda's Python base
image with SAM's runtime interface emulator. What it needs and would fetch, this prepares locally:
- the base image: when it is not on this machine and cannot be pulled, a stand-in is built from
  Debian's packages (sam/base-image.sh);
- the function's dependencies: a local layer installed from the project's lock, in place of AWS's
  public Powertools layer, which SAM would download with AWS credentials;
- the architecture: the function deploys as arm64; locally it runs as this machine's (no emulation).
The container runs on the host's network and reaches moto's server on 127.0.0.1: the stream and the
rejects queue are created there, the function writes to them, and the records are read back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinesis_export.config import ConfigError, DestinationConfig, load_config
from kinesis_export_cli.local import (
    LOCAL_CREDENTIALS,
    MotoMissing,
    StreamRecord,
    local_client,
    moto_server,
    print_records,
    read_stream,
    receive_all,
)

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_HOST_NETWORK = ROOT / "sam" / "sam_host_network.py"
BASE_IMAGE_SCRIPT = ROOT / "sam" / "base-image.sh"
UV = ROOT / ".venv" / "bin" / "uv"
REGION = "us-east-1"
# The function's run-time dependencies (lambdas/requirements.txt), at the lock's versions.
FUNCTION_REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
LOCK = ROOT / "requirements.lock"
STAND_IN_REPOSITORY = "kinesis-export/lambda-python-stand-in"
STAND_IN_LABEL = "kinesis-export.python-version"


class SamInvokeFailed(RuntimeError):
    """An ordinary failure of `make sam-invoke`: str() is its one line."""


def docker(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *arguments], capture_output=True, text=True, check=check, timeout=600)
    except FileNotFoundError:
        raise SamInvokeFailed("docker: not found: install Docker (README, Local invocation with SAM)") from None
    except subprocess.TimeoutExpired:
        raise SamInvokeFailed(f"docker {arguments[0]} did not finish in 600 seconds") from None
    except subprocess.CalledProcessError as error:
        raise SamInvokeFailed(f"docker {arguments[0]} failed: {error.stderr.strip().splitlines()[-1:]}") from None


def engine_running() -> None:
    if docker("info", "--format", "{{.ServerVersion}}", check=False).returncode != 0:
        raise SamInvokeFailed(
            "no container engine is running: start Docker (sam/engine.sh installs and starts one, as root), "
            "then make sam-invoke"
        )


def host_architecture() -> str:
    return "arm64" if platform.machine() in {"aarch64", "arm64"} else "x86_64"


@dataclass(frozen=True)
class BaseImage:
    """The image SAM builds the function's container from, and the Python it runs."""

    name: str
    python_version: str
    stand_in: bool


def base_image(runtime: str, architecture: str) -> BaseImage:
    """AWS's base image when it is here or can be pulled; otherwise the stand-in, built once and kept.

    The stand-in has a name of its own (SAM is pointed at it with --invoke-image): AWS's name stays AWS's,
    so that the real image is used as soon as it can be pulled.
    """
    version = runtime.removeprefix("python")
    aws = f"public.ecr.aws/lambda/python:{version}-{architecture}"
    if docker("image", "inspect", aws, check=False).returncode == 0 or _pulled(aws):
        return BaseImage(aws, version, stand_in=False)
    stand_in = f"{STAND_IN_REPOSITORY}:{version}-{architecture}"
    built = subprocess.run([str(BASE_IMAGE_SCRIPT), stand_in, str(UV)], check=False)
    if built.returncode != 0:
        raise SamInvokeFailed(f"no base image: {aws} could not be pulled, and no stand-in could be built")
    label = docker("image", "inspect", "--format", f'{{{{ index .Config.Labels "{STAND_IN_LABEL}" }}}}', stand_in)
    return BaseImage(stand_in, label.stdout.strip(), stand_in=True)


def _pulled(image: str) -> bool:
    try:
        # Where no registry answers the pull fails at once; a network that drops packets is given a minute.
        pull = subprocess.run(["docker", "pull", "--quiet", image], capture_output=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return pull.returncode == 0


def dependency_layer(directory: Path, python_version: str, architecture: str) -> Path:
    """The function's dependency set at the lock's versions, with their hashes, for the image's Python and
    architecture: a local layer (its python/ folder is on the function's path)."""
    platform_tag = f"{'aarch64' if architecture == 'arm64' else 'x86_64'}-manylinux_2_28"
    target = ["--python-version", python_version, "--python-platform", platform_tag]
    requirements = directory / "requirements.txt"
    compile_ = ["pip", "compile", "--quiet", "--generate-hashes", *target, "-c", str(LOCK), "-o", str(requirements)]
    layer = directory / "layer"
    install = ["pip", "install", "--quiet", "--require-hashes", "--no-deps", *target, "--target", str(layer / "python")]
    # uv reads the package index (PyPI) unless its cache holds the lock's files; its own error is on stderr.
    for command in ([*compile_, str(FUNCTION_REQUIREMENTS)], [*install, "-r", str(requirements)]):
        if subprocess.run([str(UV), *command], check=False).returncode != 0:
            raise SamInvokeFailed(f"the function's dependency layer was not built: uv {' '.join(command[:2])} failed")
    return layer


def local_template(template_file: Path, function_id: str, layer: Path, architecture: str, out: Path) -> Path:
    """The synthesized template as SAM runs it here: the local layer for AWS's, this machine's architecture,
    and AWS_ENDPOINT_URL declared (SAM only sets variables a template declares)."""
    template = json.loads(template_file.read_text(encoding="utf-8"))
    properties = template["Resources"][function_id]["Properties"]
    properties["Architectures"] = [architecture]
    properties["Layers"] = [{"Ref": "LocalDependencies"}]
    properties.setdefault("Environment", {}).setdefault("Variables", {})["AWS_ENDPOINT_URL"] = ""
    template["Resources"]["LocalDependencies"] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {"ContentUri": str(layer), "CompatibleRuntimes": [properties["Runtime"]]},
    }
    template["Transform"] = "AWS::Serverless-2016-10-31"
    # The asset's path is relative to the template's folder.
    for resource in template["Resources"].values():
        metadata = resource.get("Metadata", {})
        if "aws:asset:path" in metadata:
            metadata["aws:asset:path"] = str((template_file.parent / metadata["aws:asset:path"]).resolve())
    out.write_text(json.dumps(template), encoding="utf-8")
    return out


@dataclass
class SamRun:
    """What one `sam local invoke` gave: the function's answer, and what reached the stream and the rejects queue."""

    image: str
    architecture: str
    python_version: str
    answer: dict[str, Any] | None
    records: list[StreamRecord]
    rejects: list[dict[str, Any]]
    output: str


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sam-invoke", description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, required=True, help="a synthesized template (cdk.out)")
    parser.add_argument("--event", type=Path, default=ROOT / "events" / "sqs-segment-events.json")
    parser.add_argument("--function", default="ExportFunction", help="the function's logical ID")
    args = parser.parse_args(argv)
    try:
        run = run_with_sam(args.template, args.event, args.function)
    except (SamInvokeFailed, MotoMissing, ConfigError) as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"function's answer: {json.dumps(run.answer) if run.answer is not None else '(none)'}")
    if run.answer is None:
        print(run.output[-3000:], file=sys.stderr)
        return 1
    print_records(run.records)
    print(f"{len(run.records)} records on the stream, {len(run.rejects)} rejected")
    return 1 if run.answer.get("batchItemFailures") else 0


def function_config(template_file: Path, template: dict[str, Any], function_id: str) -> DestinationConfig:
    """The destination config the function reads: the one packaged in its asset (DESTINATION_CONFIG_FILE)."""
    resource = template["Resources"][function_id]
    asset = template_file.parent / resource["Metadata"]["aws:asset:path"]
    return load_config(asset / resource["Properties"]["Environment"]["Variables"]["DESTINATION_CONFIG_FILE"])


def run_with_sam(template_file: Path, event: Path, function_id: str) -> SamRun:
    """Invoke the template's function with `sam local invoke` on `event`, against moto's server."""
    if not template_file.exists():
        raise SamInvokeFailed(f"{template_file}: no such template: make synth first")
    if not event.is_file():
        raise SamInvokeFailed(f"{event}: no such event file")
    if not SAM_PYTHON.exists():
        raise SamInvokeFailed("SAM CLI is not installed: make sam-invoke installs it (.venv-sam)")
    try:
        template = json.loads(template_file.read_text(encoding="utf-8"))
        runtime = template["Resources"][function_id]["Properties"]["Runtime"]
        config = function_config(template_file, template, function_id)
    except (ValueError, KeyError, TypeError):
        raise SamInvokeFailed(f"{template_file}: not a synthesized template with a function {function_id}") from None
    engine_running()
    architecture = host_architecture()
    image = base_image(runtime, architecture)
    with tempfile.TemporaryDirectory(prefix="kinesis-export-sam-") as scratch, moto_server() as endpoint:
        work = Path(scratch)
        layer = dependency_layer(work, image.python_version, architecture)
        local = local_template(template_file, function_id, layer, architecture, work / "template.json")
        # The function writes to its config's region when the config names one, else to SAM's.
        kinesis = local_client("kinesis", endpoint, config.stream.region or REGION)
        sqs = local_client("sqs", endpoint, REGION)
        kinesis.create_stream(StreamName=config.stream.name, ShardCount=1)
        rejects_url = sqs.create_queue(QueueName=f"{config.name}-rejects")["QueueUrl"]
        variables = {function_id: {"AWS_ENDPOINT_URL": endpoint, "REJECTS_QUEUE_URL": rejects_url}}
        env_vars = work / "env.json"
        env_vars.write_text(json.dumps(variables), encoding="utf-8")
        print(
            f"sam local invoke {function_id} in {image.name} ({architecture}, Python {image.python_version}) "
            f"on {event.name}, "
            f"against moto's server on {endpoint}",
            file=sys.stderr,
        )
        invoke = ["local", "invoke", function_id, "-t", str(local), "-e", str(event), "--env-vars", str(env_vars)]
        # On the host's network (sam/sam_host_network.py), with the base image as it is here.
        options = ["--docker-network", "host", "--skip-pull-image", "--region", REGION]
        if image.stand_in:
            options += ["--invoke-image", image.name]
        finished = subprocess.run(
            [str(SAM_PYTHON), str(SAM_HOST_NETWORK), *invoke, *options],
            capture_output=True,
            text=True,
            env=_sam_environment(),
            check=False,
        )
        # SAM prints the function's answer alone on stdout; its own lines and the function's logs go to stderr.
        answer = _answer(finished.stdout) if finished.returncode == 0 else None
        return SamRun(
            image.name,
            architecture,
            image.python_version,
            answer,
            read_stream(kinesis, config.stream.name),
            receive_all(sqs, rejects_url),
            finished.stdout + finished.stderr,
        )


def _answer(stdout: str) -> dict[str, Any] | None:
    """The function's answer as SAM printed it, or None when there is none (or not a JSON object)."""
    try:
        answer = json.loads(stdout)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _sam_environment() -> dict[str, str]:
    """SAM's environment: local credentials (it hands them to the function), no telemetry, no AWS config."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {
        **environment,
        **LOCAL_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": "60",
    }


if __name__ == "__main__":
    sys.exit(main())
