"""The backfill's step that runs in AWS: one batch of a Distributed Map's items onto the stream.

The command-line backfill (a file read from disk or S3, checkpoints, rate limit, progress bar)
is operator tooling and lives in cli/kinesis_export_cli/backfill.py, outside the function's asset.
"""

from __future__ import annotations

from typing import Any

from .deadline import Deadline
from .pipeline import prepare_items
from .records import RecordPlan
from .writer import KinesisWriter


class BackfillStopped(RuntimeError):
    """The run stopped part way (records not written, the file unreadable further); the checkpoint keeps the rest."""


def export_items(items: list[Any], plan: RecordPlan, writer: KinesisWriter, deadline: Deadline) -> dict[str, Any]:
    """One batch of a Distributed Map: decoded JSON Lines items, exported; failures raise to be retried."""
    prepared = prepare_items(enumerate(items), plan)
    result = writer.write(prepared.records, deadline)
    if result.failed:
        reason = next(iter(result.failed.values()))
        raise BackfillStopped(f"{len(result.failed)} of {len(items)} records not written: {reason}")
    return {
        "exported": len(prepared.records),
        "filtered": prepared.filtered,
        "rejected": [{"item": index, "code": error.code, "reason": error.reason} for index, error in prepared.rejected],
    }
