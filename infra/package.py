"""The function's deployment package: our code from lambdas/ with the destination config beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.constants import CODE_PACKAGE, CODE_ROOT, CONFIG_FILE_IN_PACKAGE

# Never packaged: caches a local run leaves behind, and tests; and __main__.py, the shim that lets
# `python -m kinesis_export` run the operators' command line from a checkout. The command line
# itself lives in cli/, outside the asset: no function runs it, and it would not import there.
_LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", "tests", "__main__.py")


def stage_package(config_file: Path, directory: Path) -> Path:
    """Copy the code and the destination config into `directory` (emptied first), and return it.

    A plain copy instead of bundling: synthesis needs no Docker, and the asset hash covers only
    file names and contents, so the same sources give the same template every time.
    """
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(CODE_ROOT / CODE_PACKAGE, directory / CODE_PACKAGE, ignore=_LEFT_OUT)
    shutil.copyfile(config_file, directory / CONFIG_FILE_IN_PACKAGE)
    return directory
