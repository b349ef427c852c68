"""Event + destination config -> a Kinesis record in AEP's "Exported data" format.

The config is turned once per container into a RecordPlan of plain lookups, so the work
done per event is only dictionary access, the transforms and one JSON encoding (pydantic's
Rust encoder: compact, UTF-8, keys in insertion order).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from .config import MIN_RECORD_SIZE_KIB, DestinationConfig
from .events import RFC3339, TIME_REASON, Identity, InvalidInput, SegmentEvent
from .identities import TRANSFORMS

# Kinesis limits: a partition key is at most 256 characters (Unicode; counted here as UTF-8 bytes, which
# is never more lenient, whether Kinesis counts code points or UTF-16 units: a key it refused would fail
# its whole call); a record (data plus partition key) at most
# the stream's MaxRecordSizeInKiB, from 1 MiB, every stream's default, to 10 MiB on a stream configured
# for it (stream.maxRecordSizeKiB says which). https://docs.aws.amazon.com/streams/latest/dev/large-records.html,
# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
MAX_PARTITION_KEY_BYTES = 256
# What every stream takes, whatever it is configured for.
ANY_STREAM_RECORD_BYTES = MIN_RECORD_SIZE_KIB * 1024


@dataclass(frozen=True, slots=True)
class Record:
    partition_key: str
    data: bytes
    # The latest lastQualificationTime of its segments, as the record holds it (UTC, to the second), for
    # the QualificationAge metric; empty for a record not built from an event.
    qualified: str = ""

    @property
    def size(self) -> int:
        """Bytes counted against the Kinesis record and request limits."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Skip:
    """An event with nothing to export for this destination: acknowledged and counted."""

    reason: str


class RecordPlan:
    """What a destination exports, precomputed from its config."""

    def __init__(self, config: DestinationConfig) -> None:
        # What each mapped segment's entry carries besides its time and status (the payload options).
        self._segments: dict[str, dict[str, Any]] = {}
        for segment in config.segments:
            extra: dict[str, Any] = {"name": segment.name} if config.include_segment_names else {}
            if config.include_segment_timestamps:
                extra.update(segment.timestamps)
            self._segments[segment.id] = extra
        # In config order, which decides the identityMap's key order and the fallback partition key.
        self._namespaces = [
            (identity.namespace.lower(), identity.exported_key, TRANSFORMS.get(identity.transform or ""))
            for identity in config.identities
        ]
        self._paths = _path_tree(attribute.path for attribute in config.attributes)
        self._consent_path = tuple(config.consent_path.split(".")) if config.consent_path else None
        self._key_by_event_id = config.partition_key == "eventId"
        # The largest record the stream takes, as the config says; the reject of a larger one names it.
        stream = config.stream
        self.max_record_bytes = stream.max_record_size_kib * 1024
        self._limit = (
            f"stream {stream.name} takes at most {self.max_record_bytes} (stream.maxRecordSizeKiB: "
            f"{stream.max_record_size_kib})"
        )

    def build(self, event: SegmentEvent) -> Record | Skip:
        """The record for one event, a Skip, or InvalidInput when it cannot be exported as it is."""
        attributes = event.get("attributes")
        if self._consent_path and attributes and lookup(attributes, self._consent_path) == "n":
            return NO_CONSENT
        ups = {}
        segments = self._segments
        latest = ""  # of the mapped segments' times: in one form, UTC to the second, so compared as text
        for segment_id, membership in event["segmentMembership"]["ups"].items():
            extra = segments.get(segment_id)
            if extra is not None:
                try:
                    time = utc_timestamp(membership["lastQualificationTime"])
                except InvalidInput as error:
                    # The contract's pattern let it through, but it is no real time (a 13th month, say)
                    # or none in UTC. The segment id is the input's: named by what it is, as events does.
                    raise InvalidInput(
                        error.code, f"segmentMembership.ups.<segment>.lastQualificationTime: {error.reason}"
                    ) from None
                if time > latest:
                    latest = time
                entry = {"lastQualificationTime": time, "status": membership["status"]}
                if extra:
                    entry.update(extra)
                ups[segment_id] = entry
        if not ups:
            return NO_MAPPED_SEGMENT

        # Namespaces match case-insensitively; an event may even spell one two ways.
        by_namespace: dict[str, list[Identity]] = {}
        for namespace, listed in event["identityMap"].items():
            key = namespace.lower()
            by_namespace[key] = by_namespace[key] + listed if key in by_namespace else listed
        identity_map: dict[str, list[dict[str, str]]] = {}
        first_id = primary_id = None
        for namespace, exported_key, transform in self._namespaces:
            identities = by_namespace.get(namespace)
            if not identities:
                continue
            entries = identity_map.setdefault(exported_key, [])
            for identity in identities:
                exported = transform(identity["id"]) if transform else identity["id"]
                entries.append({"id": exported})
                if first_id is None:
                    first_id = exported
                if primary_id is None and identity.get("primary"):
                    primary_id = exported
        if first_id is None:
            return NO_MAPPED_IDENTITY

        record: dict[str, Any] = _picked(attributes, self._paths) if attributes else {}
        record["segmentMembership"] = {"ups": ups}
        record["identityMap"] = identity_map

        # The primary identity's exported id (never a raw id of a hashed namespace), else the first one.
        key = event["eventId"] if self._key_by_event_id else (primary_id or first_id)
        # At most 4 bytes a character: a key of 64 characters or fewer is within the limit without encoding it.
        if len(key) > MAX_PARTITION_KEY_BYTES // 4 and len(encoded := key.encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
            key = hashlib.sha256(encoded).hexdigest()

        try:
            data = to_json(record)
        except PydanticSerializationError:
            # Only a decoded event (a Map item) gets here: nested deeper than the encoder goes, or holding
            # a lone surrogate (Python's json decodes "\ud800"); the JSON parser refuses both in a body.
            raise InvalidInput(
                "INVALID_EVENT", "cannot be encoded as JSON: nested too deeply, or text with a lone surrogate"
            ) from None
        # JSON has no NaN or Infinity, which pydantic's encoder writes as such: a record holding one is
        # rejected, so that the stream holds standard JSON only. Only encoded bytes that could hold one
        # are walked for it (a string holding the word is walked, and passes).
        if (b"NaN" in data or b"Infinity" in data) and (field := self._non_finite(record)):
            raise InvalidInput("INVALID_EVENT", f"{field}: a number JSON cannot hold (NaN or infinite)")
        result = Record(key, data, latest)
        if result.size > self.max_record_bytes:
            raise InvalidInput("RECORD_TOO_LARGE", f"record is {result.size} bytes; {self._limit}")
        return result

    def _non_finite(self, record: dict[str, Any]) -> str | None:
        """Where the record's attributes hold a float that is NaN or infinite, or None.

        Named by the configured path, and below it with the input's own keys masked. Walked with a
        stack, not by recursion: a value may be nested as deep as the JSON parser allows.
        """
        stack: list[tuple[str, Any, _Tree | None]] = [
            (f"attributes.{key}", record[key], subtree) for key, subtree in self._paths.items() if key in record
        ]
        while stack:
            field, value, tree = stack.pop()
            if isinstance(value, float) and not math.isfinite(value):
                return field
            if isinstance(value, dict):
                if tree is None:  # below a configured path: the keys are the input's
                    stack.extend((f"{field}.<key>", child, None) for child in value.values())
                else:
                    stack.extend((f"{field}.{key}", value[key], tree[key]) for key in tree if key in value)
            elif isinstance(value, list):
                stack.extend((f"{field}.{index}", child, None) for index, child in enumerate(value))
        return None


ABSENT = object()


def lookup(attributes: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path of an event's attributes, or ABSENT."""
    value: Any = attributes
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return ABSENT
        value = value[part]
    return value


# A tree of the configured attribute paths: each key maps to the subtree below it, or to None
# where a path ends (and the whole value is exported).
_Tree = dict[str, "_Tree | None"]


def _path_tree(paths: Iterable[str]) -> _Tree:
    tree: _Tree = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node: _Tree = tree
        for part in parents:
            child = node.setdefault(part, {})
            if child is None:  # a shorter path already exports the whole value
                break
            node = child
        else:
            node[leaf] = None
    return tree


def _picked(source: dict[str, Any], tree: _Tree) -> dict[str, Any]:
    """Each path of the tree present in a source, at the same path.

    No empty objects are left behind; a value on the way that is no object is left out, with what is below it.
    """
    out: dict[str, Any] = {}
    for key, subtree in tree.items():
        if key not in source:
            continue
        value = source[key]
        if subtree is None:
            out[key] = value
        elif isinstance(value, dict) and (picked := _picked(value, subtree)):
            out[key] = picked
    return out


NO_CONSENT = Skip("no consent to share")
NO_MAPPED_SEGMENT = Skip("no mapped segment")
NO_MAPPED_IDENTITY = Skip("no mapped identity")


_RFC3339 = re.compile(RFC3339)
_CANONICAL_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def utc_timestamp(value: str) -> str:
    """An RFC 3339 time, normalised to UTC with second precision: 2020-05-25T21:24:39Z.

    Raises InvalidInput with a reason that names neither the field (the caller knows where the
    time was) nor the value.
    """
    if not isinstance(value, str):
        raise InvalidInput("INVALID_EVENT", TIME_REASON)
    try:
        if len(value) == 20 and _CANONICAL_UTC.fullmatch(value):
            # Already in the record's form, as most are: 0.5 µs instead of 2.3, about the margin by
            # which CPU per event stays under the naive peer's (README, "Performance").
            datetime.fromisoformat(value[:-1])
            return value
        if not _RFC3339.match(value):
            raise InvalidInput("INVALID_EVENT", TIME_REASON)
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        # isoformat, not strftime: %Y leaves out the zeros of a year before 1000 (1-01-01T...).
        return parsed.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a real time, but its UTC is before year 1 (or, with a negative
        # offset, after 9999), which no datetime holds.
        raise InvalidInput("INVALID_EVENT", "out of range once converted to UTC") from None
    except InvalidInput:
        raise
    except ValueError:
        # A 13th month, a 60th second, an offset of 24 hours: datetime's own message quotes the value.
        raise InvalidInput("INVALID_EVENT", "not a valid date-time") from None
