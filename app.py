#!/usr/bin/env python3
"""The CDK app: one `KinesisExport-<name>` stack per destination config (README, "Deploying to AWS").

`-c destinations=<file or folder>` picks the configs; the default is every *.json in destinations/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Configs are validated with the function's own model, which lives with the function's code.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambdas"))

from aws_cdk import App

from infra.app import APP_CONTEXT, DEFAULT_DESTINATIONS, InvalidDestinations, build_app, cli_environment


def main() -> int:
    app = App(context=APP_CONTEXT)
    target = Path(str(app.node.try_get_context("destinations") or DEFAULT_DESTINATIONS))
    account, region = cli_environment(os.environ)
    try:
        build_app(app, target, account=account, region=region)
    except InvalidDestinations as error:
        print(error, file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as error:
        # cdk-nag found something nobody acknowledged: CDK has printed the report already.
        if not str(error).startswith("ValidationFailed"):
            raise
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
