"""The input contract (v1): an SQS message body becomes a validated segment event.

A body is one event, bare or wrapped in an EventBridge envelope (its `detail` is the event), or
a JSON array of such events. The contract is checked by pydantic straight from the JSON text, in
its Rust core, into plain dictionaries: this runs once per event, so it must cost little more
than parsing the JSON. An array is parsed once into plain values, then each element is checked
on its own, so that one bad element rejects only itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired, TypeVar

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

T = TypeVar("T")
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339)
_CANONICAL_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_TIME_REASON = "must be an RFC 3339 date-time with an offset, such as 2020-05-25T21:24:39Z"


class InvalidInput(ValueError):
    """A message that can never be exported as it is: rejected, not retried."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


# Producers may send more than the contract names (authenticatedState, other XDM fields):
# pydantic ignores keys a TypedDict does not name, and leaves them out of what it returns.
# (typing_extensions' TypedDict: pydantic needs it on Python before 3.12.)


class Identity(TypedDict):
    id: Annotated[str, Field(min_length=1, strict=True)]
    primary: NotRequired[bool]


class Membership(TypedDict):
    status: Literal["realized", "existing", "exited"]
    lastQualificationTime: Annotated[str, Field(pattern=RFC3339)]


class SegmentMembership(TypedDict):
    ups: dict[str, Membership]


class SegmentEvent(TypedDict):
    eventId: Annotated[str, Field(min_length=1, strict=True)]
    identityMap: dict[str, list[Identity]]
    segmentMembership: SegmentMembership
    attributes: NotRequired[dict[str, Any]]


class Envelope(TypedDict):
    detail: SegmentEvent


_EVENT = TypeAdapter(SegmentEvent)
_ENVELOPE = TypeAdapter(Envelope)
# The core validator's own method, without TypeAdapter's Python wrapper: it runs once per event.
_event_from_json = _EVENT.validator.validate_json
_ARRAY = TypeAdapter(list[Any])
_JSON_WHITESPACE = " \t\n\r"


def utc_timestamp(value: str) -> str:
    """An RFC 3339 time, normalised to UTC with second precision: 2020-05-25T21:24:39Z."""
    if not isinstance(value, str):
        raise ValueError(_TIME_REASON)
    if len(value) == 20 and _CANONICAL_UTC.fullmatch(value):
        # Already in the record's form (the common case): only check that it is a real time.
        datetime.fromisoformat(value[:-1])
        return value
    if not _RFC3339.match(value):
        raise ValueError(_TIME_REASON)
    parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# An array's elements are checked as decoded values, for which pydantic words a few errors the Python
# way ("a valid dictionary"); producers send JSON, so its wording is used whichever way was checked.
_JSON_WORDING = {"dict_type": "Input should be an object", "list_type": "Input should be a valid array"}


def _describe(error: ErrorDetails) -> str:
    path = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "missing":
        reason = "required"
    elif kind == "string_pattern_mismatch":
        reason = _TIME_REASON
    else:
        reason = _JSON_WORDING.get(kind, error["msg"])
    return f"{path}: {reason}" if path else reason


def parse_event(body: str | bytes | dict[str, Any]) -> SegmentEvent:
    """Parse one message body (or an already decoded event), or raise InvalidInput naming every problem."""
    if isinstance(body, dict):
        return _checked(_validate(_EVENT.validate_python, body))
    # An EventBridge envelope is told by its detail-type key; a bare event that merely holds such
    # a key somewhere (so has no detail) is read again as a bare event.
    if ('"detail-type"' if isinstance(body, str) else b'"detail-type"') in body:  # type: ignore[operator]
        try:
            event = _ENVELOPE.validate_json(body)["detail"]
        except ValidationError as error:
            errors = error.errors(include_url=False, include_input=False)
            if errors[0]["loc"] != ("detail",) or errors[0]["type"] != "missing":
                raise _invalid(errors) from None
            event = _validate(_event_from_json, body)
    else:
        event = _validate(_event_from_json, body)
    return _checked(event)


def is_array(body: str | bytes) -> bool:
    """Whether a body holds a JSON array, told by its first character that is not JSON whitespace."""
    if isinstance(body, bytes):
        return body.lstrip(_JSON_WHITESPACE.encode())[:1] == b"["
    return body.lstrip(_JSON_WHITESPACE)[:1] == "["


def parse_array(body: str | bytes) -> list[Any]:
    """A body holding a JSON array, as its decoded elements (each for `parse_element`), or InvalidInput.

    The whole body is parsed once; only an unreadable or empty array rejects the body as a whole.
    """
    try:
        elements = _ARRAY.validate_json(body)
    except ValidationError as error:
        raise _invalid(error.errors(include_url=False, include_input=False)) from None
    if not elements:
        raise InvalidInput("INVALID_EVENT", "body is an empty array: nothing to export")
    return elements


def parse_element(element: Any) -> SegmentEvent:
    """One decoded element of an array body: an event, bare or in an EventBridge envelope, or InvalidInput."""
    if isinstance(element, dict):
        # As for a whole body: an envelope has a detail-type and a detail; anything else is read as a bare event.
        if "detail-type" in element and "detail" in element:
            return _checked(_validate(_ENVELOPE.validate_python, element)["detail"])
        return _checked(_validate(_EVENT.validate_python, element))
    if isinstance(element, list):
        raise InvalidInput("INVALID_EVENT", "must be an event, not an array: arrays do not nest")
    raise InvalidInput("INVALID_EVENT", "must be a JSON object (an event, or an EventBridge envelope)")


def _validate(validator: Callable[[Any], T], data: Any) -> T:
    try:
        return validator(data)
    except ValidationError as error:
        raise _invalid(error.errors(include_url=False, include_input=False)) from None


def _checked(event: SegmentEvent) -> SegmentEvent:
    if not any(event["identityMap"].values()):
        raise InvalidInput("INVALID_EVENT", "identityMap must hold at least one identity")
    return event


def _invalid(errors: list[ErrorDetails]) -> InvalidInput:
    if errors[0]["type"] == "json_invalid":
        return InvalidInput("INVALID_JSON", f"body is not JSON: {errors[0]['msg'].removeprefix('Invalid JSON: ')}")
    if errors[0]["loc"] == () and errors[0]["type"] in ("dict_type", "model_type"):
        return InvalidInput("INVALID_EVENT", "body must be a JSON object (an event, or an EventBridge envelope)")
    return InvalidInput("INVALID_EVENT", "; ".join(_describe(e) for e in errors))
