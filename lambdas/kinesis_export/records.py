"""Event + destination config -> a Kinesis record in AEP's "Exported data" format.

The config is turned once per container into a RecordPlan of plain lookups, so the work
done per event is only dictionary access, the transforms and one JSON encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import DestinationConfig
from .events import InvalidInput, SegmentEvent
from .identities import TRANSFORMS

# Kinesis limits: a partition key is at most 256 characters; data plus key at most 1 MiB.
MAX_PARTITION_KEY_CHARS = 256
MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    partition_key: str
    data: bytes

    @property
    def size(self) -> int:
        """Bytes counted against the Kinesis record and request limits."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Skip:
    """An event with nothing to export for this destination: acknowledged and counted."""

    reason: str


@dataclass(frozen=True, slots=True)
class _Namespace:
    exported_key: str
    transform: Callable[[str], str] | None


class RecordPlan:
    """What a destination exports, precomputed from its config."""

    def __init__(self, config: DestinationConfig) -> None:
        self._segments = frozenset(segment.id for segment in config.segments)
        # Config order decides the identityMap's key order and the fallback partition key.
        self._namespaces = {
            identity.namespace.lower(): (
                order,
                _Namespace(identity.exported_key, TRANSFORMS.get(identity.transform or "")),
            )
            for order, identity in enumerate(config.identities)
        }
        self._attribute_paths = [tuple(path.split(".")) for path in config.attributes]
        self._key_by_event_id = config.partition_key == "eventId"

    def build(self, event: SegmentEvent) -> Record | Skip:
        """The record for one event, a Skip, or InvalidInput when it cannot fit in Kinesis."""
        ups = {
            segment_id: {"lastQualificationTime": membership.lastQualificationTime, "status": membership.status}
            for segment_id, membership in event.segmentMembership.ups.items()
            if segment_id in self._segments
        }
        if not ups:
            return Skip("no mapped segment")

        # Exported ids per configured namespace, in config order; the primary identity's id, if mapped.
        found: dict[int, tuple[str, list[dict[str, str]]]] = {}
        primary_id = None
        for namespace, identities in event.identityMap.items():
            mapped = self._namespaces.get(namespace.lower())
            if mapped is None or not identities:
                continue
            order, target = mapped
            entries = found.setdefault(order, (target.exported_key, []))[1]
            for identity in identities:
                exported = target.transform(identity.id) if target.transform else identity.id
                entries.append({"id": exported})
                if identity.primary and primary_id is None:
                    primary_id = exported
        if not found:
            return Skip("no mapped identity")
        identity_map: dict[str, list[dict[str, str]]] = {}
        for order in sorted(found):
            exported_key, entries = found[order]
            identity_map.setdefault(exported_key, []).extend(entries)

        record: dict[str, Any] = self._attributes(event.attributes) if event.attributes else {}
        record["segmentMembership"] = {"ups": ups}
        record["identityMap"] = identity_map

        if self._key_by_event_id:
            key = event.eventId
        else:
            key = primary_id if primary_id is not None else found[min(found)][1][0]["id"]
        if len(key) > MAX_PARTITION_KEY_CHARS:
            key = hashlib.sha256(key.encode("utf-8")).hexdigest()

        result = Record(key, json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if result.size > MAX_RECORD_BYTES:
            raise InvalidInput(
                "RECORD_TOO_LARGE", f"record is {result.size} bytes; Kinesis takes at most {MAX_RECORD_BYTES}"
            )
        return result

    def _attributes(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Each configured path present in the event, at the same path in the record."""
        out: dict[str, Any] = {}
        for path in self._attribute_paths:
            value: Any = attributes
            for part in path:
                if not isinstance(value, dict) or part not in value:
                    break
                value = value[part]
            else:
                target = out
                for part in path[:-1]:
                    target = target.setdefault(part, {})
                target[path[-1]] = value
        return out
