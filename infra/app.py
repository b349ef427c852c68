"""The app's assembly: which destination configs to deploy, and one stack for each of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Environment

from infra.nag import add_checks
from infra.package import stage_package
from infra.stack import ExportStack
from kinesis_export.config import ConfigError, DestinationConfig, load_config

DEFAULT_DESTINATIONS = "destinations"
# Context every synthesis gets, whoever starts it (the CLI sets these too, a test would not): `sam
# local invoke` finds the function's code through the asset metadata and its construct path through
# the path metadata, which CDK writes only when asked to.
APP_CONTEXT = {"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True}


class InvalidDestinations(Exception):
    """One or more destination configs cannot be deployed; str() holds every ConfigError."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass(frozen=True)
class Destination:
    file: Path
    config: DestinationConfig

    @property
    def stack_name(self) -> str:
        return f"KinesisExport-{self.config.name}"


def load_destinations(target: Path) -> list[Destination]:
    """Every config in `target` (a file, or a folder of *.json), validated, or InvalidDestinations."""
    files = sorted(target.glob("*.json")) if target.is_dir() else [target]
    if not files:
        raise InvalidDestinations([ConfigError(str(target), ["no destination config (*.json) in this folder"])])
    destinations: list[Destination] = []
    errors: list[ConfigError] = []
    for file in files:
        try:
            config = load_config(file)
        except ConfigError as error:
            errors.append(error)
            continue
        twin = next((d for d in destinations if d.config.name == config.name), None)
        if twin is not None:
            errors.append(ConfigError(str(file), [f"name: {config.name!r} is also the name in {twin.file}"]))
            continue
        destinations.append(Destination(file, config))
    if errors:
        raise InvalidDestinations(errors)
    return destinations


def build_app(app: App, target: Path, *, account: str | None = None, region: str | None = None) -> list[ExportStack]:
    """Add one stack per destination config to `app`, and cdk-nag's checks to its synthesis.

    A stack deploys to `region` (the CLI's CDK_DEFAULT_REGION), except that a stack creating its
    stream deploys where the stream is to be (stream.region); an existing stream in another region
    is written across regions. With no region at all the stack is environment-agnostic, which
    synthesis handles as well.
    """
    stacks = []
    for destination in load_destinations(target):
        # Staged inside the cloud assembly, so a synthesis leaves nothing outside cdk.out.
        package = stage_package(destination.file, Path(app.outdir) / "packages" / destination.config.name)
        stacks.append(
            ExportStack(
                app,
                destination.stack_name,
                config=destination.config,
                package=package,
                env=Environment(account=account, region=_region(destination.config, region)),
            )
        )
    # Every finding fails the synthesis unless the construct it names acknowledges it with a reason.
    add_checks(app)
    return stacks


def _region(config: DestinationConfig, default: str | None) -> str | None:
    if config.stream.create and config.stream.region:
        return config.stream.region
    return default or config.stream.region
