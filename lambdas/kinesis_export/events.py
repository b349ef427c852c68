"""The input contract: an SQS message body becomes a validated segment event.

Contract v1 is every destination's; v2, read only with `profileState`, adds an optional `timestamp`
(the event's time, RFC 3339) and lets `segmentMembership` be absent (an event may say only that
attributes or identities changed). Every v1 event is a v2 event. Without `profileState` events are
read as v1, exactly as before: a `timestamp` is ignored there like any field the contract does not name.

A body is one event, bare or wrapped in an EventBridge envelope (its `detail` is the event), or
a JSON array of such events. The contract is checked by pydantic straight from the JSON text, in
its Rust core, into plain dictionaries: this runs once per event, so it must cost little more
than parsing the JSON. An array is parsed once into plain values, then each element is checked
on its own, so that one bad element rejects only itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, NotRequired, TypeVar

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

T = TypeVar("T")
E = TypeVar("E", "SegmentEvent", "ChangeEvent")
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
TIME_REASON = "must be an RFC 3339 date-time with an offset, such as 2020-05-25T21:24:39Z"


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
    """Contract v1."""

    eventId: Annotated[str, Field(min_length=1, strict=True)]
    identityMap: dict[str, list[Identity]]
    segmentMembership: SegmentMembership
    attributes: NotRequired[dict[str, Any]]


class ChangeEvent(TypedDict):
    """Contract v2 (with profileState): what changed of a profile, and when."""

    eventId: Annotated[str, Field(min_length=1, strict=True)]
    identityMap: dict[str, list[Identity]]
    segmentMembership: NotRequired[SegmentMembership]
    attributes: NotRequired[dict[str, Any]]
    timestamp: NotRequired[Annotated[str, Field(pattern=RFC3339, strict=True)]]


class Envelope(TypedDict):
    detail: SegmentEvent


class ChangeEnvelope(TypedDict):
    detail: ChangeEvent


_ARRAY = TypeAdapter(list[Any])
_JSON_WHITESPACE = " \t\n\r"


# An array's elements are checked as decoded values, for which pydantic words a few errors the Python
# way ("a valid dictionary"); producers send JSON, so its wording is used whichever way was checked.
_JSON_WORDING = {"dict_type": "Input should be an object", "list_type": "Input should be a valid array"}


def _describe(error: ErrorDetails) -> str:
    path = _location(error["loc"])
    kind = error["type"]
    if kind == "missing":
        reason = "required"
    elif kind == "string_pattern_mismatch":
        reason = TIME_REASON
    else:
        reason = _JSON_WORDING.get(kind, error["msg"])
    return f"{path}: {reason}" if path else reason


# The contract's own field names, which a location may show. The keys of its maps are the input's
# (an identity namespace, a segment id, an attribute's name: an e-mail address, for all we know), so
# a location names them by what they are, never by their text.
_FIELDS = frozenset(
    name
    for kind in (Envelope, SegmentEvent, ChangeEvent, SegmentMembership, Membership, Identity)
    for name in kind.__annotations__
)
_MAP_KEYS = {"identityMap": "<namespace>", "ups": "<segment>"}


def _location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a field path, with the input's own keys masked."""
    parts: list[str] = []
    placeholder = None  # what the next part is, when it is a key of one of the contract's maps
    for part in loc:
        if isinstance(part, int):
            parts.append(str(part))  # a position in a list says nothing about the input's content
        elif placeholder is None and part in _FIELDS:
            parts.append(part)
            placeholder = _MAP_KEYS.get(part)
            continue
        else:
            parts.append(placeholder or "<key>")
        placeholder = None
    return ".".join(parts)


class Contract(Generic[E]):
    """A version of the contract: how a body, or an array's element, becomes an event of type E."""

    def __init__(self, event: type[E], envelope: type[Any]) -> None:
        self._event: TypeAdapter[E] = TypeAdapter(event)
        self._envelope: TypeAdapter[Any] = TypeAdapter(envelope)

    def parse_event(self, body: str | bytes | dict[str, Any]) -> E:
        """Parse one message body (or an already decoded event), or raise InvalidInput naming every problem."""
        if isinstance(body, dict):
            return _checked(_validate(self._event.validate_python, body))
        # An EventBridge envelope is told by its detail-type key; a bare event that merely holds such
        # a key somewhere (so has no detail) is read again as a bare event.
        if ('"detail-type"' if isinstance(body, str) else b'"detail-type"') in body:  # type: ignore[operator]
            try:
                event: E = self._envelope.validate_json(body)["detail"]
            except ValidationError as error:
                errors = error.errors(include_url=False, include_input=False)
                if errors[0]["loc"] != ("detail",) or errors[0]["type"] != "missing":
                    raise _invalid(errors) from None
                event = _validate(self._event.validate_json, body)
        else:
            event = _validate(self._event.validate_json, body)
        return _checked(event)

    def parse_element(self, element: Any) -> E:
        """One decoded element of an array body: an event, bare or in an EventBridge envelope, or InvalidInput."""
        if isinstance(element, dict):
            # As for a whole body: an envelope has a detail-type and a detail; anything else is read as a bare event.
            if "detail-type" in element and "detail" in element:
                event: E = _validate(self._envelope.validate_python, element)["detail"]
                return _checked(event)
            return _checked(_validate(self._event.validate_python, element))
        if isinstance(element, list):
            raise InvalidInput("INVALID_EVENT", "must be an event, not an array: arrays do not nest")
        raise InvalidInput("INVALID_EVENT", "must be a JSON object (an event, or an EventBridge envelope)")


V1: Contract[SegmentEvent] = Contract(SegmentEvent, Envelope)
V2: Contract[ChangeEvent] = Contract(ChangeEvent, ChangeEnvelope)
# Contract v1's, which every destination without profileState reads.
parse_event = V1.parse_event
parse_element = V1.parse_element


def element_texts(body: str) -> list[str] | None:
    """Each element of a body holding a JSON array, as its own text in the body; None if it cannot be read so.

    What the body said is kept as it said it (`1e15` stays `1e15`, not `1000000000000000.0`), so a
    part of the array is never longer than the whole. Read with the standard library's decoder,
    only for the rare message that needs it (a rejected element, a continuation), not on the
    export path.
    """
    decoder = json.JSONDecoder()
    texts: list[str] = []

    def skip_whitespace(position: int) -> int:
        while position < len(body) and body[position] in _JSON_WHITESPACE:
            position += 1
        return position

    position = skip_whitespace(skip_whitespace(0) + 1)  # past the '['
    try:
        if body[position] == "]":
            return texts
        while True:
            _, end = decoder.raw_decode(body, position)
            texts.append(body[position:end])
            position = skip_whitespace(end)
            if body[position] == "]":
                return texts
            if body[position] != ",":
                return None
            position = skip_whitespace(position + 1)
    except (ValueError, IndexError, RecursionError):
        return None


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


def _validate(validator: Callable[[Any], T], data: Any) -> T:
    try:
        return validator(data)
    except ValidationError as error:
        raise _invalid(error.errors(include_url=False, include_input=False)) from None


def _checked(event: E) -> E:
    if not any(event["identityMap"].values()):
        raise InvalidInput("INVALID_EVENT", "identityMap must hold at least one identity")
    return event


def _invalid(errors: list[ErrorDetails]) -> InvalidInput:
    if errors[0]["type"] == "json_invalid":
        return InvalidInput("INVALID_JSON", f"body is not JSON: {errors[0]['msg'].removeprefix('Invalid JSON: ')}")
    if errors[0]["loc"] == () and errors[0]["type"] in ("dict_type", "model_type"):
        return InvalidInput("INVALID_EVENT", "body must be a JSON object (an event, or an EventBridge envelope)")
    return InvalidInput("INVALID_EVENT", "; ".join(_describe(e) for e in errors))
