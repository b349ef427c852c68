"""Profile state (config `profileState`): every event merged into its profile's state, each record built from it.

AEP's destination is profile-based: a record carries the profile's mapped segments (each with its
status, `exited` included), its current mapped attributes and its whole identity map, whatever
changed. Producers often send only what changed. With `profileState`, each profile's mapped data is
kept in a DynamoDB table (profile_store.py), each event is merged into it, and the event's record is
built from the state after it, through the destination's RecordPlan (so the record is in exactly the
stateless mode's format, its limits and its partition key).

**Merging.** An older event never overwrites newer state: a segment's status goes by its
`lastQualificationTime`, an attribute's value, the consent and an identity's last sighting by the
event's `timestamp` (contract v2; an event without one is taken as of its arrival, see `ProfilePlan`).
At equal times a fixed rule decides (statuses realized < existing < exited; attribute values by their
JSON text), so that the state does not depend on the order events arrive in, and an event merged
twice changes nothing: a redelivery gives the same state, and a record of it.

**A batch.** Its events are grouped by profile; the profiles' states are read with BatchGetItem; each
profile's events are merged in the batch's order (each event's record is of the state after it); each
changed state is written with one conditional PutItem on the version read. A write that finds another
version (a concurrent invocation wrote first) reads the profile again and merges its events again, so
no update is lost. The state is written before the records: a record is only ever of a state the table
holds, and after a crash between the two, the redelivery merges the same events again (unchanged) and
writes their records. A profile whose state cannot be read or written fails only its own events.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic_core import PydanticSerializationError, from_json, to_json

from .config import DestinationConfig
from .deadline import Calls, Deadline, Late
from .events import ChangeEvent, Identity, InvalidInput, SegmentEvent
from .identities import TRANSFORMS
from .records import (
    ABSENT,
    MAX_PARTITION_KEY_BYTES,
    NO_CONSENT,
    NO_MAPPED_IDENTITY,
    Record,
    RecordPlan,
    Skip,
    lookup,
    utc_timestamp,
)

# The statuses that make a profile a member of a segment: AEP exports a profile on an attribute or
# identity change only while it is a member of at least one mapped segment.
ACTIVE = frozenset({"realized", "existing"})
# At equal lastQualificationTime, the status that wins. A fixed order, so that the state does not depend
# on arrival order; exited last, so that a tie never keeps a profile targeted that may have left.
STATUS_RANK = {"realized": 0, "existing": 1, "exited": 2}
NOT_IN_SEGMENT = Skip("no mapped segment change, and the profile is in no mapped segment")

# A profile keeps at most this many ids of one namespace, those last seen most recently: every record
# carries them all, and the state must stay within a DynamoDB item (400 KB).
MAX_IDS_PER_NAMESPACE = 50
# A state larger than this (its JSON) is not written: the event that would make it so is rejected. A
# DynamoDB item holds 400 KB with its attribute names and key; this leaves room for both.
MAX_STATE_BYTES = 350 * 1024
# An event's `timestamp` may be this far ahead of the function's clock, at most: one from further ahead
# (a producer's clock gone wrong) would hold its values against every later change until that time.
MAX_CLOCK_SKEW = timedelta(hours=1)
# Older than any time an event can hold: an untimed backfill line's.
OLDEST = "0001-01-01T00:00:00.000000Z"
# The stored state's layout; a state of another layout is not read (its profile's events fail).
STATE_FORMAT = 1

# A state whose write found another version is read and merged again, this many times at most, with a
# pause of up to CONFLICT_DELAY * 2**attempt between (full jitter): concurrent invocations of one profile.
MAX_ATTEMPTS = 6
CONFLICT_DELAY = 0.02
# Profiles written at once (one PutItem each).
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Change:
    """What one event says of its profile, as the state keeps it: mapped data only, transformed as exported."""

    event_id: str
    # The profile: its primary identity's exported id (never a raw id of a hashed namespace), else the
    # first id of the first configured namespace present; over 256 bytes in UTF-8, its SHA-256. It is also
    # the record's partition key.
    key: str
    profile: str  # that exported id itself, before any hashing
    time: str  # the event's time: UTC to the microsecond, 2020-05-25T21:24:39.000000Z
    segments: dict[str, tuple[str, str]]  # mapped segment id -> (status, lastQualificationTime in UTC)
    attributes: dict[str, Any]  # configured attribute path -> the event's value there (null removes it)
    identities: dict[str, list[str]]  # configured namespace (lower case) -> exported ids
    denied: bool | None  # the consent to share: True when "n", None when the event does not say


@dataclass
class ProfileState:
    """One profile's mapped state, each value with the time it came with."""

    segments: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (status, lastQualificationTime)
    attributes: dict[str, tuple[Any, str]] = field(default_factory=dict)  # path -> (value, event time)
    identities: dict[str, dict[str, str]] = field(default_factory=dict)  # namespace -> {id: last seen}
    denied: tuple[bool, str] | None = None  # (consent denied, event time)

    def merged(self, change: Change) -> ProfileState:
        """A new state: this one with the change merged in, newer times winning (ties by a fixed rule)."""
        segments = self.segments
        for segment, (status, qualified) in change.segments.items():
            held = segments.get(segment)
            if held is None or (qualified, STATUS_RANK[status]) > (held[1], STATUS_RANK[held[0]]):
                segments = segments if segments is not self.segments else dict(segments)
                segments[segment] = (status, qualified)
        attributes = self.attributes
        for path, value in change.attributes.items():
            held_value = attributes.get(path)
            if held_value is None or _newer(change.time, value, held_value):
                attributes = attributes if attributes is not self.attributes else dict(attributes)
                attributes[path] = (value, change.time)
        identities = self.identities
        for namespace, ids in change.identities.items():
            seen = identities.get(namespace, {})
            if all(seen.get(identity, "") >= change.time for identity in ids):
                continue
            seen = dict(seen)
            for identity in ids:
                if seen.get(identity, "") < change.time:
                    seen[identity] = change.time
            if len(seen) > MAX_IDS_PER_NAMESPACE:
                newest = sorted(seen, key=lambda identity: (seen[identity], identity), reverse=True)
                kept = frozenset(newest[:MAX_IDS_PER_NAMESPACE])
                seen = {identity: last for identity, last in seen.items() if identity in kept}
            identities = identities if identities is not self.identities else dict(identities)
            identities[namespace] = seen
        denied = self.denied
        if change.denied is not None and (denied is None or (change.time, change.denied) > (denied[1], denied[0])):
            denied = (change.denied, change.time)
        return ProfileState(segments, attributes, identities, denied)

    @property
    def empty(self) -> bool:
        """Whether it holds nothing: no profile's state after a valid event is (its identity is kept)."""
        return not (self.segments or self.attributes or self.identities) and self.denied is None

    def encode(self) -> bytes:
        """The state as the table keeps it: compact JSON."""
        return to_json(
            {
                "format": STATE_FORMAT,
                "segments": self.segments,
                "attributes": self.attributes,
                "identities": self.identities,
                "denied": self.denied,
            }
        )


def _newer(time: str, value: Any, held: tuple[Any, str]) -> bool:
    """Whether a value of `time` replaces the one held: a later time, or at the same time the larger JSON text."""
    if time != held[1]:
        return time > held[1]
    return bool(to_json(value) > to_json(held[0]))


class UnreadableState(ValueError):
    """A stored state this version cannot read (another layout, or damaged)."""


class ProfilePlan:
    """What a destination with profileState keeps of each event, and how a profile's state becomes its record."""

    def __init__(
        self,
        config: DestinationConfig,
        records: RecordPlan | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # The stateless plan builds each record, from the state: one format, one set of limits.
        self.records = records or RecordPlan(config)
        self._segments = [segment.id for segment in config.segments]  # config order: the record's
        self._mapped = frozenset(self._segments)
        self._namespaces = [
            (identity.namespace.lower(), TRANSFORMS.get(identity.transform or "")) for identity in config.identities
        ]
        self._paths = [(attribute.path, tuple(attribute.path.split("."))) for attribute in config.attributes]
        self._consent = tuple(config.consent_path.split(".")) if config.consent_path else None
        self._clock = clock
        # The time of an event without `timestamp`: None for its arrival (see build); a snapshot's is the oldest.
        self._untimed: str | None = None

    def snapshot(self) -> ProfilePlan:
        """This plan for a backfill: a file of members is a snapshot, older than the change events that followed it,
        so its lines without `timestamp` fill in what a profile's state lacks and never overwrite it (taken as
        of now, an untimed line would undo every change made since the file was written, and again at a retry)."""
        plan = copy.copy(self)
        plan._untimed = OLDEST
        return plan

    def build(self, event: ChangeEvent) -> Change | Skip:
        """What an event says of its profile, or a Skip (no mapped identity), or InvalidInput.

        An event without `timestamp` is taken as of now, its arrival: a producer that sends no times
        gives no order but the one its events arrive in. Taken as older than any timed state instead,
        its changes would be ignored as soon as one timed event had set a value. The cost: such an
        event redelivered counts as new, and can undo a change that arrived between its deliveries.
        """
        # Namespaces match case-insensitively; an event may even spell one two ways.
        by_namespace: dict[str, list[Identity]] = {}
        for namespace, listed in event["identityMap"].items():
            lower = namespace.lower()
            by_namespace[lower] = by_namespace[lower] + listed if lower in by_namespace else listed
        identities: dict[str, list[str]] = {}
        first = primary = None
        for namespace, transform in self._namespaces:
            found = by_namespace.get(namespace)
            if not found:
                continue
            ids: dict[str, None] = {}  # in the event's order, each once: a dict, as a list would be quadratic
            for identity in found:
                exported = transform(identity["id"]) if transform else identity["id"]
                ids[exported] = None
                if first is None:
                    first = exported
                if primary is None and identity.get("primary"):
                    primary = exported
            identities[namespace] = list(ids)
        if first is None:
            return NO_MAPPED_IDENTITY
        profile = primary or first
        # As RecordPlan.build keys its record (a test pins that both agree): hashed over 256 bytes in UTF-8.
        encoded = profile.encode("utf-8")
        key = profile if len(encoded) <= MAX_PARTITION_KEY_BYTES else hashlib.sha256(encoded).hexdigest()

        now = self._clock()
        segments: dict[str, tuple[str, str]] = {}
        membership = event.get("segmentMembership")
        if membership:
            # As a timestamp: a time far ahead would hold its status against every later change until then.
            latest = _seconds(now + MAX_CLOCK_SKEW)
            for segment, status in membership["ups"].items():
                if segment not in self._mapped:
                    continue
                field = "segmentMembership.ups.<segment>.lastQualificationTime"
                try:
                    qualified = utc_timestamp(status["lastQualificationTime"])
                except InvalidInput as error:
                    raise InvalidInput(error.code, f"{field}: {error.reason}") from None
                if qualified > latest:
                    raise InvalidInput("INVALID_EVENT", f"{field}: more than an hour ahead of the exporter's clock")
                segments[segment] = (status["status"], qualified)

        attributes: dict[str, Any] = {}
        denied = None
        values = event.get("attributes")
        if values:
            for path, parts in self._paths:
                value = lookup(values, parts)
                if value is not ABSENT:
                    attributes[path] = value
            if self._consent and (consent := lookup(values, self._consent)) is not ABSENT:
                denied = consent == "n"
            if attributes:
                _check_encodable(attributes)
        return Change(
            event["eventId"], key, profile, self._event_time(event, now), segments, attributes, identities, denied
        )

    def _event_time(self, event: ChangeEvent, now: datetime) -> str:
        given = event.get("timestamp")
        if given is None:
            return self._untimed or _microseconds(now)
        try:
            time = datetime.fromisoformat(given.upper().replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise InvalidInput("INVALID_EVENT", "timestamp: not a valid date-time") from None
        except OverflowError:
            raise InvalidInput("INVALID_EVENT", "timestamp: out of range once converted to UTC") from None
        if time > now + MAX_CLOCK_SKEW:
            raise InvalidInput("INVALID_EVENT", "timestamp: more than an hour ahead of the exporter's clock")
        return _microseconds(time)

    def record(self, state: ProfileState, change: Change) -> Record | Skip:
        """The record of a profile's state after `change`, or why it is not exported; InvalidInput when it cannot be.

        As AEP triggers an export: an event that carries a mapped segment's status is exported (an exit
        too: it is the news), and any other only while the profile is in a mapped segment (realized or
        existing). A profile whose consent to share is "n" is not exported.
        """
        if state.denied is not None and state.denied[0]:
            return NO_CONSENT
        if not change.segments and not any(status in ACTIVE for status, _ in state.segments.values()):
            return NOT_IN_SEGMENT
        ups = {
            segment: {"status": held[0], "lastQualificationTime": held[1]}
            for segment in self._segments
            if (held := state.segments.get(segment))
        }
        identity_map: dict[str, list[Identity]] = {}
        for namespace, _ in self._namespaces:
            if seen := state.identities.get(namespace):
                identity_map[namespace] = [
                    {"id": identity, "primary": True} if identity == change.profile else {"id": identity}
                    for identity in sorted(seen)
                ]
        attributes: dict[str, Any] = {}
        for path, parts in self._paths:
            held_value = state.attributes.get(path)
            if held_value is not None and held_value[0] is not None:
                _place(attributes, parts, held_value[0])
        event = SegmentEvent(
            eventId=change.event_id,
            identityMap=identity_map,
            segmentMembership={"ups": ups},  # type: ignore[typeddict-item]
            attributes=attributes,
        )
        # Built as any record: the stream's record size limit (stream.maxRecordSizeKiB) applies to it too.
        built = self.records.build(event)
        if isinstance(built, Record):
            # QualificationAge counts from the latest lastQualificationTime of the event's own mapped segments,
            # as a stateless record's (whose segments are the event's): not from the state's, which an attribute
            # change carries unchanged, months old. An event that carries none has no age.
            qualified = max((held for _, held in change.segments.values()), default="")
            # The key identity is always in the state (it was just seen), but keep the profile's key whatever.
            if built.partition_key != change.key or built.qualified != qualified:
                built = replace(built, partition_key=change.key, qualified=qualified)
        return built

    def load(self, data: bytes) -> ProfileState:
        """A stored state, less what the config no longer maps; UnreadableState when it cannot be read."""
        try:
            raw = from_json(data)
            if raw["format"] != STATE_FORMAT:
                # Named by what this version reads, never by what the item holds.
                raise UnreadableState(f"not of layout {STATE_FORMAT}")
            paths = {path for path, _ in self._paths}
            namespaces = {namespace for namespace, _ in self._namespaces}
            denied = raw["denied"]
            return ProfileState(
                {k: (v[0], v[1]) for k, v in raw["segments"].items() if k in self._mapped},
                {k: (v[0], v[1]) for k, v in raw["attributes"].items() if k in paths},
                {k: dict(v) for k, v in raw["identities"].items() if k in namespaces},
                (bool(denied[0]), denied[1]) if denied is not None and self._consent else None,
            )
        except UnreadableState:
            raise
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise UnreadableState(type(error).__name__) from None


def _place(attributes: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    """Put a value at its path: paths are placed in config order, so the record's keys come as the stateless's."""
    node = attributes
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _seconds(time: datetime) -> str:
    """A time as utc_timestamp writes it (2020-05-25T21:24:39Z), which sorts as time does."""
    return time.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _microseconds(time: datetime) -> str:
    # isoformat, not strftime: %Y leaves out the zeros of a year before 1000; fixed width sorts as time does.
    return time.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _check_encodable(attributes: dict[str, Any]) -> None:
    """InvalidInput when the event's mapped values are no standard JSON: they must not reach the state."""
    try:
        data = to_json(attributes)
    except PydanticSerializationError:
        raise InvalidInput(
            "INVALID_EVENT", "cannot be encoded as JSON: nested too deeply, or text with a lone surrogate"
        ) from None
    if b"NaN" in data or b"Infinity" in data:
        # Walked with a stack: a value may be nested as deep as the JSON parser allows.
        stack = [(f"attributes.{path}", value) for path, value in attributes.items()]
        while stack:
            where, value = stack.pop()
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidInput("INVALID_EVENT", f"{where}: a number JSON cannot hold (NaN or infinite)")
            if isinstance(value, dict):
                stack.extend((f"{where}.<key>", child) for child in value.values())
            elif isinstance(value, list):
                stack.extend((f"{where}.{index}", child) for index, child in enumerate(value))


# The table: its adapter is profile_store.py's; unit tests pass a fake.


@dataclass(frozen=True)
class Stored:
    """A profile's item as read: its version (for the conditional write), its state, and when it expires."""

    version: int
    state: bytes
    expires_at: int  # UNIX seconds: DynamoDB's TTL deletes the item some time after


class Conflict(Exception):
    """The item's version was not the one read: another invocation wrote the profile first."""


class ProfileStore(Protocol):
    """The profile state table, as the step uses it; profile_store.DynamoProfileStore in the function."""

    def read(self, keys: Sequence[str], deadline: Deadline) -> dict[str, Stored | str | None]:
        """Each profile's item (None: none), or why it could not be read, within the deadline."""
        ...

    def get(self, key: str) -> Stored | None:
        """One profile's item, read again after a conflict (on a step's worker thread)."""
        ...

    def put(self, key: str, state: bytes, version: int, expected: int | None, expires_at: int) -> None:
        """Write a profile's item if its version is still `expected` (None: no item), or raise Conflict."""
        ...


@dataclass(frozen=True)
class Unsettled:
    """An event whose profile's state could not be read or written: its message fails, and is delivered again."""

    reason: str


Outcome = Record | Skip | InvalidInput | Unsettled


class Profiles:
    """The profile state step of a batch: its events' changes in, each one's record (or what became of it) out."""

    def __init__(
        self,
        plan: ProfilePlan,
        store: ProfileStore,
        ttl_days: int,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self._store = store
        self._ttl = ttl_days * 86_400
        self._clock = clock
        self._sleep = sleep
        self._calls = Calls(concurrency, "profile-state")
        self._lock = threading.Lock()
        self.conflicts = 0  # writes that found another version, since start (read by tests and the bench)

    def settle(self, changes: Sequence[Change], deadline: Deadline) -> list[Outcome]:
        """Each change merged into its profile's state, the states written, and each change's outcome, in order."""
        if not changes:
            return []
        by_profile: dict[str, list[int]] = {}
        for position, change in enumerate(changes):
            by_profile.setdefault(change.key, []).append(position)
        outcomes: list[Outcome] = [Unsettled("not settled")] * len(changes)
        read = self._store.read(list(by_profile), deadline)
        ready: list[tuple[str, Stored | None]] = []
        for key, positions in by_profile.items():
            stored = read.get(key, "no answer")
            if isinstance(stored, str):
                for position in positions:
                    outcomes[position] = Unsettled(f"the profile state table: {stored}")
            else:
                ready.append((key, stored))

        def settle_one(item: tuple[str, Stored | None]) -> list[Outcome]:
            key, stored = item
            return self._settle_profile(key, stored, [changes[p] for p in by_profile[key]], deadline)

        for (key, _), answer in zip(ready, self._calls.run(settle_one, ready, deadline), strict=True):
            positions = by_profile[key]
            if isinstance(answer, Late):
                answer = [Unsettled(f"the profile state table: {answer.reason}")] * len(positions)
            for position, outcome in zip(positions, answer, strict=True):
                outcomes[position] = outcome
        return outcomes

    def _settle_profile(
        self, key: str, stored: Stored | None, changes: list[Change], deadline: Deadline
    ) -> list[Outcome]:
        """One profile: merge, write if changed, and on a conflict read, merge and write again."""
        for attempt in range(MAX_ATTEMPTS):
            now = self._clock()
            try:
                # An expired item may still be there (DynamoDB deletes it within days): it holds nothing.
                state = self.plan.load(stored.state) if stored and stored.expires_at > now else ProfileState()
            except UnreadableState as error:
                return [Unsettled(f"its stored state cannot be read ({error}): delete the item")] * len(changes)
            outcomes, merged, encoded = self._merge(state, changes)
            # Written when changed, and when its time to live is more than a tenth gone (kept while events come);
            # never a state that holds nothing (a new profile whose every event was rejected).
            # Unchanged is judged by the encoded state, not by ==: in Python 1 == 1.0 == True, which the stream
            # and the tie rule (by JSON text) tell apart, so the stored value would depend on arrival order.
            unchanged = encoded == state.encode()
            if unchanged and (merged.empty or (stored is not None and stored.expires_at - now > 0.9 * self._ttl)):
                return outcomes
            try:
                self._store.put(
                    key,
                    encoded,
                    version=stored.version + 1 if stored else 1,
                    expected=stored.version if stored else None,
                    expires_at=int(now) + self._ttl,
                )
                return outcomes
            except Conflict:
                with self._lock:
                    self.conflicts += 1
                delay = random.uniform(0, CONFLICT_DELAY * 2**attempt)
                if deadline.remaining() <= delay:
                    return [Unsettled("the profile state table: deadline reached after a conflict")] * len(changes)
                self._sleep(delay)
                try:
                    stored = self._store.get(key)
                except Exception as error:
                    return [Unsettled(f"the profile state table failed: {error_code(error)}")] * len(changes)
            except Exception as error:  # throttled, unreachable, refused: this profile's events alone
                return [Unsettled(f"the profile state table failed: {error_code(error)}")] * len(changes)
        return [Unsettled(f"the profile was written concurrently {MAX_ATTEMPTS} times in a row")] * len(changes)

    def _merge(self, state: ProfileState, changes: list[Change]) -> tuple[list[Outcome], ProfileState, bytes]:
        """The changes merged in order, each one's outcome of the state after it; an invalid one changes nothing."""
        outcomes: list[Outcome] = []
        encoded = state.encode()
        for change in changes:
            try:
                candidate = state.merged(change)
                candidate_encoded = candidate.encode()
                if len(candidate_encoded) > MAX_STATE_BYTES:
                    raise InvalidInput(
                        "RECORD_TOO_LARGE",
                        f"the profile's state would be {len(candidate_encoded)} bytes with it; "
                        f"its table keeps at most {MAX_STATE_BYTES}",
                    )
                outcome: Outcome = self.plan.record(candidate, change)
            except InvalidInput as error:
                outcomes.append(error)
                continue
            except Exception as error:  # whatever one event holds, its failure is its own
                outcomes.append(InvalidInput("INVALID_EVENT", f"cannot be exported: {type(error).__name__}"))
                continue
            state, encoded = candidate, candidate_encoded
            outcomes.append(outcome)
        return outcomes, state, encoded


def error_code(error: Exception) -> str:
    """An AWS error's code, else the exception's type: never a message, which may quote the request."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "error"))
    return type(error).__name__
