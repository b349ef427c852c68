"""`python -m kinesis_export`: the `kinesis-export` command line, kept in cli/ and out of the function's asset."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "cli"))  # a checkout run with PYTHONPATH=lambdas
from kinesis_export_cli.main import main

sys.exit(main())
