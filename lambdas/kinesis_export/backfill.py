"""The backfill's step that runs in AWS: one batch of a Distributed Map's items onto the stream.

The command-line backfill (a file read from disk or S3, checkpoints, rate limit, progress bar)
is operator tooling and lives in cli/kinesis_export_cli/backfill.py, outside the function's asset.
"""

from __future__ import annotations

from typing import Any

from .deadline import Deadline
from .pipeline import Prepared, prepare_items, settle_profiles
from .profiles import Profiles
from .records import RecordPlan
from .writer import KinesisWriter


class BackfillStopped(RuntimeError):
    """The run stopped part way (records not written, the file unreadable further); the checkpoint keeps the rest."""


def export_items(
    items: list[Any], plan: RecordPlan, writer: KinesisWriter, deadline: Deadline, profiles: Profiles | None = None
) -> dict[str, Any]:
    """One batch of a Distributed Map: decoded JSON Lines items, exported; failures raise to be retried.

    With `profiles` (profileState), the items seed their profiles' state, as any event does.
    """
    prepared = prepare_items(enumerate(items), profiles.plan.snapshot() if profiles else plan)
    settle_backfill(prepared, profiles, deadline)
    result = writer.write(prepared.records, deadline)
    if result.failed:
        reason = next(iter(result.failed.values()))
        raise BackfillStopped(f"{len(result.failed)} of {len(items)} records not written: {reason}")
    return {
        "exported": len(prepared.records),
        "filtered": prepared.filtered,
        "rejected": [{"item": index, "code": error.code, "reason": error.reason} for index, error in prepared.rejected],
    }


def settle_backfill(prepared: Prepared, profiles: Profiles | None, deadline: Deadline) -> None:
    """With profileState, a backfill batch's events merged into their profiles' state (the state of profiles
    whose next change event then makes a full record), before their records are written; BackfillStopped
    when a profile's state could not be read or written (the batch is done again: merging is idempotent).

    The local backfill command and the Distributed Map's worker both go through here.
    """
    if profiles is None:
        return
    settle_profiles(prepared, profiles, deadline)
    if prepared.unsettled:
        reason = next(iter(prepared.unsettled.values()))
        raise BackfillStopped(f"{len(prepared.unsettled)} profile states not written: {reason}")
