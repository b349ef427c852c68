"""The input contract (v1): an SQS message body becomes a validated segment event.

A body is one event, bare or wrapped in an EventBridge envelope (its `detail` is the event).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


class InvalidInput(ValueError):
    """A message that can never be exported as it is: rejected, not retried."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


def utc_timestamp(value: str) -> str:
    """An RFC 3339 time, normalised to UTC with second precision: 2020-05-25T21:24:39Z."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, such as 2020-05-25T21:24:39Z")
    parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Model(BaseModel):
    # Producers may send more than the contract names (authenticatedState, xdm fields): ignore it.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Identity(_Model):
    id: Annotated[str, Field(min_length=1, strict=True)]
    primary: bool = False


class Membership(_Model):
    status: Literal["realized", "existing", "exited"]
    lastQualificationTime: Annotated[str, AfterValidator(utc_timestamp)]


class SegmentMembership(_Model):
    ups: dict[str, Membership]


class SegmentEvent(_Model):
    eventId: Annotated[str, Field(min_length=1, strict=True)]
    identityMap: dict[str, list[Identity]]
    segmentMembership: SegmentMembership
    attributes: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _has_identity(self) -> SegmentEvent:
        if not any(self.identityMap.values()):
            raise ValueError("identityMap must hold at least one identity")
        return self


def _describe(error: Any) -> str:
    path = ".".join(str(part) for part in error["loc"])
    reason = "required" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
    return f"{path}: {reason}" if path else reason


def parse_event(body: str) -> SegmentEvent:
    """Parse one message body, or raise InvalidInput naming every problem (never the values)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput("INVALID_JSON", f"body is not JSON: {error}") from None
    if isinstance(data, dict) and "detail" in data and "detail-type" in data:
        data = data["detail"]
    if not isinstance(data, dict):
        raise InvalidInput("INVALID_EVENT", "body must be a JSON object (an event, or an EventBridge envelope)")
    try:
        return SegmentEvent.model_validate(data)
    except ValidationError as error:
        raise InvalidInput("INVALID_EVENT", "; ".join(_describe(e) for e in error.errors())) from None
