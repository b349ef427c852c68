"""The app's assembly: which destination configs to deploy, one export stack for each of them, and an
access stack for each that assumes a role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Environment, Stack

from infra.access import AccessStack
from infra.nag import add_checks
from infra.package import stage_package
from infra.stack import ExportStack
from kinesis_export.config import AssumeRole, ConfigError, DestinationConfig, load_config

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

    @property
    def access_stack_name(self) -> str:
        return f"KinesisExportAccess-{self.config.name}"


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


def cli_environment(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The account and region the CLI found (CDK_DEFAULT_ACCOUNT, CDK_DEFAULT_REGION): both, or neither.

    The CLI sets the account only when it found credentials, but a region always: the one configured,
    else its fallback, us-east-1, and the app cannot tell which. Taking the region without the account
    would write that fallback into a template meant to take its region from the deployment.
    """
    account = environ.get("CDK_DEFAULT_ACCOUNT")
    if not account:
        return None, None
    return account, environ.get("CDK_DEFAULT_REGION")


def build_app(app: App, target: Path, *, account: str | None = None, region: str | None = None) -> list[Stack]:
    """Add the stacks of every destination config to `app`, and cdk-nag's checks to its synthesis.

    An export stack deploys to `account` and `region` (the CLI's, from `cli_environment`), except
    that a stack creating its stream deploys where the stream is to be (stream.region), and an
    assumeRole destination names its account (the exporter's). An existing stream in another
    region is written across regions. With neither account nor region a stack is
    environment-agnostic, which synthesis handles as well.

    An assumeRole destination also gets its access stack, for the stream's account and region.
    """
    stacks: list[Stack] = []
    for destination in load_destinations(target):
        config = destination.config
        # Staged inside the cloud assembly, so a synthesis leaves nothing outside cdk.out.
        package = stage_package(destination.file, Path(app.outdir) / "packages" / config.name)
        credentials = config.credentials
        access = None
        exporter_account = account
        if isinstance(credentials, AssumeRole):
            # The access role trusts this account only: the CLI refuses credentials for another one,
            # instead of deploying an exporter whose connection check would fail.
            exporter_account = credentials.exporter_account_id or credentials.role_account_id
            access = AccessStack(
                app,
                destination.access_stack_name,
                config=config,
                credentials=credentials,
                env=Environment(account=credentials.role_account_id, region=config.stream.region or region),
            )
            stacks.append(access)
        export = ExportStack(
            app,
            destination.stack_name,
            config=config,
            package=package,
            env=Environment(account=exporter_account, region=_region(config, region)),
        )
        if access is not None and access.account == export.account:
            # One account, one set of credentials: deploying the export stack deploys its access
            # stack first, whose role the connection check assumes. Across accounts each stack
            # needs its own account's credentials, so the order is the operator's (README).
            export.add_dependency(access, "the connection check assumes the access stack's role")
        stacks.append(export)
    # Every finding fails the synthesis unless the construct it names acknowledges it with a reason.
    add_checks(app)
    return stacks


def _region(config: DestinationConfig, default: str | None) -> str | None:
    if config.stream.create and config.stream.region:
        return config.stream.region
    return default or config.stream.region
