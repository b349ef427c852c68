"""The backfill command: every current member of a segment, from a JSON Lines file, through the export path.

Profile-based export: when a segment is mapped, all its members are exported, not only those
whose status changes afterwards. The file holds one segment event (contract v1) per line,
optionally gzip-compressed, on disk or in S3. Lines go through the same record building and
writer as the function, in batches:

- memory stays flat: the file is streamed, one batch at a time;
- the stream's capacity is respected: a rate limit in records and bytes per second (by default
  from the stream's mode and shard count), lowered further when Kinesis throttles;
- resumable: after each batch is on the stream, a checkpoint records the last line done; the
  same command continues from there after Ctrl-C, a crash or a kill, so no line is missed and
  at most the one batch in flight is sent twice;
- the checkpoint is bound to the file's identity (its size and a fingerprint of its content,
  or its ETag in S3), not to its name, and marked finished at the end: a new file under a used
  name starts over, and a checkpoint that cannot be this file's stops the run before anything
  is sent, until `--restart` discards it;
- bad lines are skipped and written, with their line numbers and reasons (never their
  content), to a rejects file next to the checkpoint;
- with profileState, each batch seeds its profiles' state before its records are written, as the
  Distributed Map's worker does (kinesis_export.backfill.settle_backfill).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, get_origin, get_type_hints

from botocore.exceptions import BotoCoreError

from kinesis_export.backfill import BackfillStopped, settle_backfill
from kinesis_export.connection import DENIED
from kinesis_export.deadline import Deadline
from kinesis_export.events import InvalidInput
from kinesis_export.pipeline import prepare_lines
from kinesis_export.profiles import Profiles
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter

BATCH_LINES = 500  # one full PutRecords call
# A batch is also cut once its lines hold this much: with lines of up to 13 MiB (10 MiB records), 500 of
# them would be 6.5 GiB in memory at once. Memory stays bounded by this plus one line.
BATCH_BYTES = 32 * 1024 * 1024
# Kinesis write capacity: per provisioned shard, and an on-demand stream's starting capacity.
SHARD_RECORDS_PER_SECOND = 1000
SHARD_BYTES_PER_SECOND = 1024 * 1024
ON_DEMAND_RECORDS_PER_SECOND = 4000
ON_DEMAND_BYTES_PER_SECOND = 4 * 1024 * 1024
# How long one batch may keep retrying before the run stops (and can be resumed).
BATCH_DEADLINE_SECONDS = 300.0
# A local file's fingerprint: SHA-256 of its size and of its first and last 64 KiB. Reading the
# whole file would cost as much as the run; a new members file differs in size or at its ends.
FINGERPRINT_SPAN = 64 * 1024
_BOM = b"\xef\xbb\xbf"
# A line longer than the largest record the stream takes plus this is not read whole but rejected:
# memory stays bounded whatever the file holds (a file with no line breaks, a wrong file), and an event
# that large is no segment event. The room is for what a line holds that its record does not (attributes,
# segments and identities not exported, spaces): 4 MiB lines for a stream of 1 MiB records, as ever, and
# 13 MiB for one of 10 MiB records. The other way, a record outgrows its line only by what is added
# (segment names and timestamps, ids hashed to 64 characters), and is rejected when over the limit.
LINE_ROOM_BYTES = 3 * 1024 * 1024


def max_line_bytes(plan: RecordPlan) -> int:
    """The longest line read for a destination: its largest record, and room for what is not exported."""
    return plan.max_record_bytes + LINE_ROOM_BYTES


class _TooLong(bytes):
    """Stands, in the lines read, for a line over the longest one read (skipped, not kept).

    An object of its own type, told by identity: no line read can be it (CPython shares one
    object for each one-byte bytes value, so a plain b"-" could be a line).
    """


TOO_LONG = _TooLong(b"-")


@dataclass
class Progress:
    """How far a run got; saved as the checkpoint after every batch that is on the stream."""

    source: str
    file: dict[str, Any] = field(default_factory=dict)  # the file's identity (see `open_source`)
    destination: str = ""  # the stream the lines go to: a checkpoint is of one file to one stream
    line: int = 0  # every line up to and including this one is done
    rejects_bytes: int = 0  # the rejects file's length then: longer after a kill, it is cut back
    exported: int = 0
    filtered: int = 0
    rejected: int = 0
    failed: int = 0
    finished: bool = False  # every line was read: a later run starts over


class CheckpointError(RuntimeError):
    """The checkpoint cannot be this file's, or cannot be read: nothing was sent; `--restart` discards it."""


@dataclass
class SourceFile:
    """A members file opened for reading: its name, its identity, its lines and how much of it was read."""

    name: str
    identity: dict[str, Any]
    lines: IO[bytes]
    fraction_read: Callable[[], float] = lambda: 1.0

    def close(self) -> None:
        self.lines.close()


class RateLimit:
    """A token bucket on records and bytes per second, lowered when Kinesis throttles."""

    def __init__(
        self,
        records_per_second: float,
        bytes_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.records_per_second = records_per_second
        self.bytes_per_second = bytes_per_second
        self._ceiling = (records_per_second, bytes_per_second)
        self._clock = clock
        self._sleep = sleep
        self._next = clock()

    def wait(self, records: int, size: int) -> None:
        """Block until sending this much keeps within the rate since the run began."""
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(self._next, now) + max(records / self.records_per_second, size / self.bytes_per_second)

    def throttled(self) -> None:
        self.records_per_second *= 0.7
        self.bytes_per_second *= 0.7

    def recovered(self) -> None:
        ceiling_records, ceiling_bytes = self._ceiling
        self.records_per_second = min(ceiling_records, self.records_per_second * 1.1)
        self.bytes_per_second = min(ceiling_bytes, self.bytes_per_second * 1.1)


def stream_capacity(kinesis: Any, stream_name: str) -> tuple[float, float]:
    """Records and bytes per second the stream takes, from its mode and shard count."""
    summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    if summary.get("StreamModeDetails", {}).get("StreamMode") == "ON_DEMAND":
        return ON_DEMAND_RECORDS_PER_SECOND, ON_DEMAND_BYTES_PER_SECOND
    shards = summary["OpenShardCount"]
    return shards * SHARD_RECORDS_PER_SECOND, shards * SHARD_BYTES_PER_SECOND


def open_source(source: str, s3: Any = None) -> SourceFile:
    """The file (gunzipped when its name ends in .gz) as binary lines, with its identity.

    The identity is what a checkpoint is bound to: in S3 the object's ETag and size, on disk the
    size and a fingerprint of the content (`fingerprint`), both of the file as stored.
    """
    if source.startswith("s3://"):
        bucket, _, key = source[5:].partition("/")
        obj = s3.get_object(Bucket=bucket, Key=key)
        raw: IO[bytes] = obj["Body"]
        total = obj["ContentLength"]
        identity: dict[str, Any] = {"size": total, "etag": obj["ETag"]}
    else:
        raw = open(source, "rb")  # noqa: SIM115 (closed with the stream returned)
        total = os.fstat(raw.fileno()).st_size
        identity = {"size": total, "sha256": fingerprint(raw, total)}
    counter = _Counting(raw)
    buffered = io.BufferedReader(counter)
    lines: IO[bytes] = gzip.GzipFile(fileobj=buffered) if source.endswith(".gz") else buffered  # type: ignore[assignment]
    return SourceFile(source, identity, lines, lambda: counter.position / total if total else 1.0)


def fingerprint(file: IO[bytes], size: int) -> str:
    """SHA-256 of the size and the first and last FINGERPRINT_SPAN bytes; the file is left at its start."""
    digest = hashlib.sha256(f"{size}\n".encode())
    file.seek(0)
    digest.update(file.read(FINGERPRINT_SPAN))
    if size > FINGERPRINT_SPAN:
        file.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
        digest.update(file.read(FINGERPRINT_SPAN))
    file.seek(0)
    return digest.hexdigest()


class _Counting(io.RawIOBase):
    """Counts the bytes read from the file or S3 body, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        data = self._raw.read(len(target))
        target[: len(data)] = data
        self.position += len(data)
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class Lines:
    """The file's lines, the first without a UTF-8 byte-order mark, counted as they are read.

    A file that cannot be read further (a truncated or corrupt gzip, a broken download) ends
    the lines where it fails, with the reason in `error`, so that the lines before it are
    still exported and checkpointed.
    """

    def __init__(self, lines: Iterable[bytes], max_bytes: int) -> None:
        self._lines = lines
        self._max_bytes = max_bytes
        self.count = 0
        self.error: tuple[str, str] | None = None  # what the file is, and why

    def __iter__(self) -> Iterator[bytes]:
        try:
            for line in _bounded(self._lines, self._max_bytes):
                self.count += 1
                # Not TOO_LONG's: removeprefix answers a copy, which is no longer told by identity.
                yield line.removeprefix(_BOM) if self.count == 1 and line is not TOO_LONG else line
        except EOFError:
            self.error = "truncated or corrupt", "its compressed data ends early"
        except gzip.BadGzipFile:  # its message quotes the file's first bytes: not repeated
            self.error = "truncated or corrupt", "not gzip data"
        except zlib.error:
            self.error = "truncated or corrupt", "its compressed data cannot be decompressed"
        except (OSError, BotoCoreError) as error:
            self.error = "unreadable", type(error).__name__


def _bounded(lines: Iterable[bytes], max_bytes: int) -> Iterator[bytes]:
    """The lines of a file, each at most max_bytes; a longer one is skipped and stands as TOO_LONG."""
    readline = getattr(lines, "readline", None)
    if readline is None:  # already lines (a test's list)
        yield from lines
        return
    while line := readline(max_bytes + 1):
        if len(line) <= max_bytes or line.endswith(b"\n"):
            yield line
            continue
        del line  # the rest is read past a little at a time, and not kept
        while (rest := readline(FINGERPRINT_SPAN)) and not rest.endswith(b"\n"):
            pass
        yield TOO_LONG


def numbered_batches(lines: Iterable[bytes], skip_through: int) -> Iterator[list[tuple[int, bytes]]]:
    """Numbered lines (from 1) after the checkpoint, BATCH_LINES (or BATCH_BYTES) at a time; blank lines dropped."""
    batch: list[tuple[int, bytes]] = []
    size = 0
    for number, line in enumerate(lines, start=1):
        if number <= skip_through or not line.strip():
            continue
        batch.append((number, line))
        size += len(line)
        if len(batch) == BATCH_LINES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class Backfill:
    def __init__(
        self,
        plan: RecordPlan,
        writer: KinesisWriter,
        rate: RateLimit,
        checkpoint: Path,
        report: Callable[[Progress, float], None] = lambda progress, fraction: None,
        destination: str | None = None,
        profiles: Profiles | None = None,
    ) -> None:
        self._plan = plan
        self._writer = writer
        self._profiles = profiles
        # What the checkpoint is of besides the file: by default, the writer's stream.
        self._destination = destination or writer.stream_name
        self._rate = rate
        self._checkpoint = checkpoint
        self.rejects_file = checkpoint.with_suffix(".rejects.jsonl")
        self._report = report
        self._max_line_bytes = max_line_bytes(plan)
        self._line_too_long = InvalidInput(
            "RECORD_TOO_LARGE", f"line is over {self._max_line_bytes // 2**20} MiB: not read"
        )

    def run(self, source: SourceFile, *, restart: bool = False) -> Progress:
        """Export the file's lines after the checkpoint; the checkpoint is marked finished at the end."""
        progress = self._resume(source, restart)
        lines = Lines(source.lines, self._max_line_bytes)
        with self.rejects_file.open("a", encoding="utf-8") as rejects:
            for batch in numbered_batches(lines, progress.line):
                too_long = [(number, self._line_too_long) for number, line in batch if line is TOO_LONG]
                lines_read = [item for item in batch if item[1] is not TOO_LONG]
                prepared = prepare_lines(lines_read, self._profiles.plan.snapshot() if self._profiles else self._plan)
                try:
                    settle_backfill(prepared, self._profiles, Deadline.after(BATCH_DEADLINE_SECONDS))
                except BackfillStopped as error:
                    progress.failed = len(prepared.unsettled)
                    raise BackfillStopped(
                        f"lines {batch[0][0]}-{batch[-1][0]}: {error}; run the same command to continue from "
                        f"{self._checkpoint}"
                    ) from None
                # Written with the checkpoint, once the batch is on the stream: a batch done again after a
                # stop lists its bad lines once.
                bad_lines = [
                    json.dumps({"line": number, "code": error.code, "reason": error.reason}) + "\n"
                    for number, error in sorted(too_long + prepared.rejected, key=lambda item: item[0])
                ]
                records = prepared.records
                self._rate.wait(len(records), sum(record.size for record in records))
                result = self._writer.write(records, Deadline.after(BATCH_DEADLINE_SECONDS))
                if result.retried:
                    self._rate.throttled()
                else:
                    self._rate.recovered()
                if result.failed:
                    progress.failed = len(result.failed)
                    reason = _without_caller(next(iter(result.failed.values())))
                    raise BackfillStopped(
                        f"{len(result.failed)} records of lines {batch[0][0]}-{batch[-1][0]} not written ({reason}); "
                        f"run the same command to continue from {self._checkpoint}"
                    )
                progress.exported += len(records)
                progress.filtered += prepared.filtered
                progress.rejected += len(bad_lines)
                progress.line = batch[-1][0]
                rejects.writelines(bad_lines)
                rejects.flush()
                progress.rejects_bytes = rejects.tell()
                self._save(progress)
                self._report(progress, source.fraction_read())
        if lines.error:
            what, why = lines.error
            raise BackfillStopped(
                f"{source.name} is {what} after line {lines.count:,} ({why}); the lines before it are done "
                f"(checkpoint {self._checkpoint})"
            )
        if lines.count < progress.line:
            # Only an edited checkpoint, or a file changed without changing its size or ends, gets here.
            raise CheckpointError(
                f"checkpoint {self._checkpoint} is past the end of {source.name}: it has {lines.count:,} lines, "
                f"the checkpoint says {progress.line:,} are done; pass --restart to discard it and start over"
            )
        progress.finished = True
        self._save(progress)
        return progress

    def _resume(self, source: SourceFile, restart: bool) -> Progress:
        """The checkpoint's progress when it is an unfinished run of this very file, else a fresh start."""
        if restart:
            self._checkpoint.unlink(missing_ok=True)
        saved = self._load()
        if saved is not None and not saved.finished:
            if saved.file != source.identity:
                raise CheckpointError(
                    f"checkpoint {self._checkpoint} is of an unfinished run and does not match {source.name} "
                    "(another file, or this one changed since); pass --restart to discard it and export the file "
                    "from its first line"
                )
            if saved.destination != self._destination:
                raise CheckpointError(
                    f"checkpoint {self._checkpoint} is of an unfinished run to {saved.destination}, not to "
                    f"{self._destination}; pass --restart to discard it and export the file from its first line, "
                    "or --checkpoint to keep one per destination"
                )
            # A kill after the batch's bad lines were written but before its checkpoint was: cut them back.
            if self.rejects_file.exists() and self.rejects_file.stat().st_size > saved.rejects_bytes:
                os.truncate(self.rejects_file, saved.rejects_bytes)
            return saved
        # A finished run (of this file or of an earlier one under its name) or none: start over.
        self.rejects_file.unlink(missing_ok=True)
        return Progress(source.name, source.identity, self._destination)

    def _load(self) -> Progress | None:
        """The saved checkpoint, or None; CheckpointError when it is not one."""
        try:
            text = self._checkpoint.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise CheckpointError(
                f"checkpoint {self._checkpoint} cannot be read ({type(error).__name__}); {_RESTART}"
            ) from None
        try:
            saved = json.loads(text)
        except ValueError:
            raise CheckpointError(f"checkpoint {self._checkpoint} cannot be read (not JSON); {_RESTART}") from None
        wrong = _wrong_fields(saved)
        if wrong:
            raise CheckpointError(
                f"checkpoint {self._checkpoint} cannot be read (not a checkpoint: {wrong}); {_RESTART}"
            )
        return Progress(**saved)

    def _save(self, progress: Progress) -> None:
        """Atomically: a kill mid-write leaves the previous checkpoint, never half of one."""
        temporary = self._checkpoint.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(progress)), encoding="utf-8")
        os.replace(temporary, self._checkpoint)


_RESTART = "pass --restart to discard it and export the file from its first line"
# A checkpoint's fields and their types, as Progress declares them (dict[str, Any] is a dict).
_CHECKPOINT_FIELDS = {name: get_origin(kind) or kind for name, kind in get_type_hints(Progress).items()}


def _wrong_fields(saved: Any) -> str:
    """What makes a decoded checkpoint not a Progress (the fields missing, of the wrong type or unknown), or ""."""
    if not isinstance(saved, dict):
        return "not a JSON object"
    wrong = [
        name
        for name, kind in _CHECKPOINT_FIELDS.items()
        if type(saved.get(name)) is not kind or (kind is int and saved[name] < 0)
    ]
    return ", ".join(wrong + sorted(set(saved) - set(_CHECKPOINT_FIELDS)))


def _without_caller(reason: str) -> str:
    """A writer's reason, without AWS's message when access is denied: that message names the caller."""
    code = reason.partition(":")[0]
    return f"access denied to kinesis:PutRecords ({code}): grant it to these credentials" if code in DENIED else reason


class ProgressBar:
    """One line on stderr: a bar, records per second, the counts and an estimate of the time left."""

    def __init__(self, stream: IO[str] = sys.stderr, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._first: int | None = None

    def __call__(self, progress: Progress, fraction: float) -> None:
        done = progress.exported + progress.filtered + progress.rejected
        if self._first is None:
            self._first = done
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = (done - self._first) / elapsed
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        bar = "#" * int(fraction * 30)
        self._stream.write(
            f"\r[{bar:<30}] {fraction:4.0%}  {rate:,.0f} rec/s  exported {progress.exported:,}  "
            f"filtered {progress.filtered:,}  rejected {progress.rejected:,}  failed {progress.failed:,}  "
            f"ETA {int(eta // 60)}:{int(eta % 60):02d} "
        )
        self._stream.flush()

    def close(self) -> None:
        """End the bar's line, if one was drawn, so that what follows starts a line of its own."""
        if self._first is not None:
            self._stream.write("\n")
