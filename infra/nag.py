"""cdk-nag: the checks every synthesis runs, and how a construct acknowledges a finding."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_checks(app: App) -> None:
    """Run AWS Solutions and Serverless checks on every synthesis: an unacknowledged finding fails it."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept finding `rule` on `construct` and everything in it; the reason is what a reviewer reads."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
