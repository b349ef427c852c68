"""The destination config (schema v1) and the function's run-time settings.

One destination config file describes one export pipeline: which stream, which segments,
which profile attributes and identities. This model is the single source of truth: the
function validates it at start-up, the local commands before they touch AWS, and the CDK
app before it synthesizes anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from .governance import Label, Policy, governance_problems, load_catalogue, printable

# Reserved for the record's own sections: an attribute there would collide with them.
RESERVED_ROOTS = ("segmentMembership", "identityMap")

_NAME = re.compile(r"[a-z0-9-]{1,40}")
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_PATH_PART = re.compile(r"[A-Za-z0-9_@$-]+")

# Limits: what the function can start with (well within Lambda's 10 s init phase) and run. Each is
# far above what a destination needs, and below where the function's own costs would grow.
#
# A field path (attributes, consentPath) has at most 32 parts. XDM paths are rarely deeper than 10;
# the attribute picker is built one Python frame per level (the recursion limit is 1,000), pydantic's
# encoder stops at about 250 levels, and an event nested deeper than about 200 is refused as JSON, so
# a deeper path could never match. A part is an XDM field name: a short identifier.
MAX_PATH_PARTS = 32
MAX_PATH_PART_CHARS = 128
# AEP recommends at most 50 attributes per destination. The picker is code written at start-up for
# the whole path tree and run once per event, so its cost follows the parts of all paths: 4,000
# distinct parts build in about 0.1 s and pick in 0.25 ms an event on a development machine; 500
# paths of 32 distinct parts took 0.5 to 1 s and 1.5 ms, too much for a 128 MB function, which has
# a fourteenth of a vCPU.
MAX_ATTRIBUTES = 500
MAX_ATTRIBUTE_PARTS = 4_000
# AEP recommends at most 250 audiences per destination; the function looks segments up in a dict.
MAX_SEGMENTS = 1_000
# The function walks the configured namespaces once per event; a profile has a handful of them.
MAX_IDENTITIES = 100
# Governance looks at each label of each field for each marketing action; AEP has 16 core labels
# and 9 core marketing actions.
MAX_LABELS = 32
MAX_MARKETING_ACTIONS = 50
MAX_POLICIES = 100
# Segment ids (AEP's are UUIDs), namespaces and exportAs are keys of every record, a marketing
# action a key of the catalogue: bounded as a Kinesis partition key is.
MAX_KEY_CHARS = 256
# A segment name is copied into every record that carries the segment (includeSegmentNames).
MAX_SEGMENT_NAME_CHARS = 1_024
# Kinesis's record size (MaxRecordSizeInKiB): every stream takes 1 MiB; one configured for it, up to 10 MiB.
MIN_RECORD_SIZE_KIB = 1_024
MAX_RECORD_SIZE_KIB = 10_240
# Lambda's limit on a batch from a FIFO queue, which also takes no batching window.
MAX_FIFO_BATCH_SIZE = 10


class ConfigError(ValueError):
    """An invalid destination config or setting: one line per problem, naming the field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid destination config {source}:\n" + "\n".join(f"  {p}" for p in problems))


class _Model(BaseModel):
    # Unknown fields are errors: a typo ("partitonKey") must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class StreamConfig(_Model):
    name: str
    region: str | None = None
    create: bool = False
    # Only for a created stream: provisioned with this many shards (on-demand when absent).
    shards: Annotated[int, Field(ge=1, le=10_000)] | None = None
    retention_hours: Annotated[int, Field(ge=24, le=8760, alias="retentionHours")] = 24
    # A customer-managed KMS key: encrypts a created stream; for an existing one, only grants its use.
    kms_key_arn: str | None = Field(
        default=None, alias="kmsKeyArn", pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$"
    )
    # The largest record the stream takes (data plus partition key), in KiB: 1 MiB unless the stream
    # is configured for more (Kinesis's MaxRecordSizeInKiB, up to 10 MiB). Sets a created stream's;
    # for an existing one, says what it takes (`check` and the deploy-time check read it).
    max_record_size_kib: Annotated[
        int, Field(ge=MIN_RECORD_SIZE_KIB, le=MAX_RECORD_SIZE_KIB, alias="maxRecordSizeKiB")
    ] = MIN_RECORD_SIZE_KIB

    @property
    def reads_max_record_size(self) -> bool:
        """Whether the check reads the stream's MaxRecordSizeInKiB (DescribeStreamSummary).

        Only an existing stream's, and only when the config says more than 1 MiB, which every stream
        takes: the one case the config can be wrong. A created stream's is the stack's to set.
        """
        return self.max_record_size_kib > MIN_RECORD_SIZE_KIB and not self.create

    @field_validator("name")
    @classmethod
    def _stream_name(cls, value: str) -> str:
        if not _STREAM_NAME.fullmatch(value):
            raise ValueError("must be 1-128 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.fullmatch(value):
            raise ValueError("must be an AWS region code such as us-east-1")
        return value


UnixMillis = Annotated[int, Field(ge=0, strict=True)]


class SegmentMapping(_Model):
    id: Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS)]
    name: Annotated[str, Field(max_length=MAX_SEGMENT_NAME_CHARS)] = ""
    # For includeSegmentTimestamps: the segment's and its mapping's creation and last update.
    created_at: UnixMillis | None = Field(default=None, alias="createdAt")
    updated_at: UnixMillis | None = Field(default=None, alias="updatedAt")
    mapping_created_at: UnixMillis | None = Field(default=None, alias="mappingCreatedAt")
    mapping_updated_at: UnixMillis | None = Field(default=None, alias="mappingUpdatedAt")

    @property
    def timestamps(self) -> dict[str, int | None]:
        return {
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "mappingCreatedAt": self.mapping_created_at,
            "mappingUpdatedAt": self.mapping_updated_at,
        }


class IdentityMapping(_Model):
    namespace: Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS)]
    export_as: str | None = Field(default=None, alias="exportAs", min_length=1, max_length=MAX_KEY_CHARS)
    transform: Literal["sha256"] | None = None
    labels: Annotated[list[Label], Field(max_length=MAX_LABELS)] = []

    @property
    def exported_key(self) -> str:
        """The identityMap key in the record: `exportAs`, else the namespace in lower case."""
        return self.export_as or self.namespace.lower()


class IngestConfig(_Model):
    """The ingest queue and how Lambda polls it."""

    # A FIFO queue: each message group (the profile) is delivered in order, across batches.
    fifo: bool = False
    # Defaults for throughput: 500 messages fill one PutRecords call, and a one-second
    # window lets a trickle of events gather into a batch instead of one invocation each.
    # A FIFO queue's defaults are Lambda's limits for it: 10 messages, no window.
    batch_size: Annotated[int, Field(ge=1, le=10_000, alias="batchSize")] = 500
    max_batching_window_seconds: Annotated[int, Field(ge=0, le=300, alias="maxBatchingWindowSeconds")] = 1
    max_receive_count: Annotated[int, Field(ge=1, le=1000, alias="maxReceiveCount")] = 5
    max_concurrency: Annotated[int, Field(ge=2, le=1000, alias="maxConcurrency")] = 10

    @model_validator(mode="before")
    @classmethod
    def _fifo_defaults(cls, value: object) -> object:
        if isinstance(value, dict) and value.get("fifo") is True:
            return {"batchSize": MAX_FIFO_BATCH_SIZE, "maxBatchingWindowSeconds": 0, **value}
        return value


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("must be an e-mail address such as ops@example.com")
    return value


class AlarmsConfig(_Model):
    """Who hears of the alarms, and the latency alarm's threshold."""

    # An existing SNS topic for the alarms' and OK actions; the stack creates one when absent.
    topic_arn: str | None = Field(
        default=None, alias="topicArn", pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"
    )
    # Addresses subscribed by e-mail to the stack's own topic (each confirms the subscription once).
    email: Annotated[list[Annotated[str, AfterValidator(_email)]], Field(max_length=10)] = []
    # The latency alarm: the 99th percentile of a message's time from the ingest queue to the stream.
    latency_p99_seconds: Annotated[int, Field(ge=1, le=86_400, alias="latencyP99Seconds")] = 300


# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))} (a CloudWatch Logs rule)")
    return days


class FunctionConfig(_Model):
    memory_mb: Annotated[int, Field(ge=128, le=10_240, alias="memoryMb")] = 512
    timeout_seconds: Annotated[int, Field(ge=10, le=900, alias="timeoutSeconds")] = 60
    tracing: bool = False
    log_retention_days: Annotated[int, AfterValidator(_log_retention), Field(alias="logRetentionDays")] = 30


class EventBridgeConfig(_Model):
    """Route `Segment Qualification` events from this bus into the ingest queue."""

    bus_name: Annotated[str, Field(min_length=1, max_length=256, alias="busName")] = "default"


class BackfillConfig(_Model):
    """Backfill at scale in AWS: a JSON Lines file put under `prefix` in the stack's backfill bucket
    starts a Step Functions Distributed Map over its lines."""

    prefix: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!_.*'()/-]+/$")] = "backfill/"
    # Concurrent batches; by default derived from the stream's capacity (see infra/backfill.py).
    max_concurrency: int | None = Field(default=None, ge=1, le=1000, alias="maxConcurrency")
    # Days a backfill file and its results are kept in the bucket.
    retention_days: Annotated[int, Field(ge=1, le=3650, alias="retentionDays")] = 30


class IdempotencyConfig(_Model):
    """Skip an event whose eventId was already written: a record per eventId in a DynamoDB table."""

    # How long an eventId is remembered; a redelivery later than this is written again.
    ttl_seconds: Annotated[int, Field(ge=60, le=604_800, alias="ttlSeconds")] = 3600


class ProfileStateConfig(_Model):
    """Keep each profile's mapped state in a DynamoDB table, and export it whole (README, "Profile state")."""

    # How long a profile's state is kept after its last change; DynamoDB's TTL then deletes it.
    ttl_days: Annotated[int, Field(ge=1, le=3650, alias="ttlDays")] = 365


def _path_parts(path: str, example: str) -> list[str]:
    """The parts of a dotted field path within the limits, or ValueError (never quoting the path)."""
    if path.count(".") >= MAX_PATH_PARTS:
        raise ValueError(f"must have at most {MAX_PATH_PARTS} parts")
    parts = path.split(".")
    if not all(_PATH_PART.fullmatch(part) for part in parts):
        raise ValueError(f"must be a dotted field path such as {example}")
    if any(len(part) > MAX_PATH_PART_CHARS for part in parts):
        raise ValueError(f"must have parts of at most {MAX_PATH_PART_CHARS} characters")
    return parts


def _attribute_path(path: str) -> str:
    parts = _path_parts(path, "person.email")
    if parts[0] in RESERVED_ROOTS:
        raise ValueError(f"would overwrite the record's own {parts[0]}")
    return path


def _dotted_path(path: str) -> str:
    _path_parts(path, "consents.share.val")
    return path


class AttributeMapping(_Model):
    """An exported profile attribute; written as a plain path string when it carries no labels."""

    path: Annotated[str, AfterValidator(_attribute_path)]
    labels: Annotated[list[Label], Field(max_length=MAX_LABELS)] = []

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: object) -> object:
        return {"path": value} if isinstance(value, str) else value


class ExecutionRole(_Model):
    """The function's own role, in the account it runs in (the default)."""

    mode: Literal["executionRole"] = "executionRole"


class AssumeRole(_Model):
    """A role (usually in the stream's account) the function assumes, bound to an external id."""

    mode: Literal["assumeRole"]
    role_arn: str = Field(alias="roleArn", pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$")
    # Required: it is what stops another account's pipeline from using this role (the confused deputy).
    external_id: str = Field(alias="externalId", min_length=2, max_length=1224, pattern=r"^[A-Za-z0-9_+=,.@:/-]+$")
    # The account the exporter runs in, trusted by the access stack's role; its own account if absent.
    exporter_account_id: str | None = Field(default=None, alias="exporterAccountId", pattern=r"^[0-9]{12}$")

    @property
    def role_account_id(self) -> str:
        return self.role_arn.split(":")[4]


class AccessKey(_Model):
    """An access key pair kept in a Secrets Manager secret: {"accessKeyId": ..., "secretAccessKey": ...}."""

    mode: Literal["accessKey"]
    secret_arn: str = Field(
        alias="secretArn", pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9_/+=.@-]+$"
    )


Credentials = Annotated[ExecutionRole | AssumeRole | AccessKey, Field(discriminator="mode")]


class DestinationConfig(_Model):
    name: str
    description: str = ""
    stream: StreamConfig
    segments: Annotated[list[SegmentMapping], Field(min_length=1, max_length=MAX_SEGMENTS)]
    attributes: Annotated[list[AttributeMapping], Field(max_length=MAX_ATTRIBUTES)] = []
    identities: Annotated[list[IdentityMapping], Field(min_length=1, max_length=MAX_IDENTITIES)]
    partition_key: Literal["primaryIdentity", "eventId"] = Field(default="primaryIdentity", alias="partitionKey")
    include_segment_names: bool = Field(default=False, alias="includeSegmentNames")
    include_segment_timestamps: bool = Field(default=False, alias="includeSegmentTimestamps")
    marketing_actions: Annotated[
        list[Annotated[str, Field(max_length=MAX_KEY_CHARS)]], Field(max_length=MAX_MARKETING_ACTIONS)
    ] = Field(default=[], alias="marketingActions")
    # Policies added to the shipped catalogue (policies.json) for this destination.
    policies: Annotated[list[Policy], Field(max_length=MAX_POLICIES)] = []
    # Where a profile's consent to share sits in the event's attributes; "n" there means not exported.
    consent_path: Annotated[str, AfterValidator(_dotted_path)] | None = Field(
        default="consents.share.val", alias="consentPath"
    )
    credentials: Credentials = ExecutionRole()
    ingest: IngestConfig = IngestConfig()
    function: FunctionConfig = FunctionConfig()
    event_bridge: EventBridgeConfig | None = Field(default=None, alias="eventBridge")
    backfill: BackfillConfig | None = None
    idempotency: IdempotencyConfig | None = Field(default=None, alias="idempotency")
    profile_state: ProfileStateConfig | None = Field(default=None, alias="profileState")
    alarms: AlarmsConfig = AlarmsConfig()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be 1-40 lowercase letters, digits or hyphens")
        return value


def _conflicts(config: DestinationConfig) -> list[str]:
    """Problems between entries, which field-by-field validation cannot see."""
    problems = []
    if not config.stream.create and config.stream.shards is not None:
        problems.append("stream.shards: only for a stream this pipeline creates (stream.create: true)")
    if not config.stream.create and "retention_hours" in config.stream.model_fields_set:
        problems.append("stream.retentionHours: only for a stream this pipeline creates (stream.create: true)")
    if config.ingest.fifo and config.ingest.batch_size > MAX_FIFO_BATCH_SIZE:
        problems.append(f"ingest.batchSize: at most {MAX_FIFO_BATCH_SIZE} with ingest.fifo (Lambda's limit for FIFO)")
    if config.ingest.fifo and config.ingest.max_batching_window_seconds:
        problems.append("ingest.maxBatchingWindowSeconds: must be 0 with ingest.fifo (Lambda has none for FIFO)")
    if config.alarms.topic_arn and config.alarms.email:
        problems.append(
            "alarms.email: only for the stack's own topic; subscribe to alarms.topicArn where that topic is managed"
        )
    if not config.ingest.fifo and config.ingest.batch_size > 10 and config.ingest.max_batching_window_seconds < 1:
        problems.append(
            "ingest.maxBatchingWindowSeconds: must be at least 1 when ingest.batchSize is over 10 (an SQS rule)"
        )
    problems += _mapped_twice("segments", ".id", (segment.id for segment in config.segments))
    if config.profile_state is not None and config.partition_key == "eventId":
        # A record carries the profile's whole state: its records must reach one shard, in order, so that the
        # last one read is the newest state. The profile is keyed by its primary identity either way.
        problems.append(
            "partitionKey: must be primaryIdentity with profileState (a profile's records must reach one shard)"
        )
    credentials = config.credentials
    if isinstance(credentials, AssumeRole):
        if len(credentials.role_arn.rpartition("/")[2]) > 64:
            problems.append("credentials.roleArn: an IAM role name has at most 64 characters")
        exporter_account = credentials.exporter_account_id or credentials.role_account_id
        if config.stream.create and exporter_account != credentials.role_account_id:
            problems.append(
                "stream.create: a pipeline that writes through a role in another account cannot create the "
                "stream there; create it in that account and set stream.create to false"
            )
    if config.include_segment_timestamps:
        for index, segment in enumerate(config.segments):
            missing = [name for name, value in segment.timestamps.items() if value is None]
            if missing:
                problems.append(
                    f"segments[{index}]: includeSegmentTimestamps needs {', '.join(missing)} (UNIX milliseconds)"
                )
    parts = sum(attribute.path.count(".") + 1 for attribute in config.attributes)
    if parts > MAX_ATTRIBUTE_PARTS:
        problems.append(f"attributes: at most {MAX_ATTRIBUTE_PARTS} path parts in all, not {parts}")
    problems += _overlapping([attribute.path for attribute in config.attributes])
    problems += _mapped_twice(
        "identities",
        ".namespace",
        (identity.namespace.lower() for identity in config.identities),
        " (namespaces match case-insensitively)",
    )
    return problems


def _mapped_twice(field: str, suffix: str, keys: Iterable[str], note: str = "") -> list[str]:
    """A line per entry whose key an earlier entry has, naming the first of them (in linear time)."""
    first: dict[str, int] = {}
    problems = []
    for index, key in enumerate(keys):
        earlier = first.setdefault(key, index)
        if earlier != index:
            problems.append(f"{field}[{index}]{suffix}: mapped twice, first in {field}[{earlier}]{note}")
    return problems


def _overlapping(paths: list[str]) -> list[str]:
    """A line per attribute path listed before, or inside or around an earlier one, naming the first.

    In linear time, with dictionaries: each path's own entry and each of its prefixes are looked up
    once (a path has at most MAX_PATH_PARTS parts), instead of comparing every pair of paths.
    """
    first: dict[str, int] = {}  # each path -> its first entry
    under: dict[str, int] = {}  # each proper prefix of a path ("person" of "person.email") -> the first entry below it
    problems = []
    for index, path in enumerate(paths):
        if path in first:
            problems.append(f"attributes[{index}]: listed twice, first as attributes[{first[path]}]")
            continue
        prefixes = list(accumulate(path.split(".")[:-1], lambda prefix, part: f"{prefix}.{part}"))
        earlier = [first[prefix] for prefix in prefixes if prefix in first]
        if path in under:
            earlier.append(under[path])
        if earlier:
            problems.append(
                f"attributes[{index}]: overlaps attributes[{min(earlier)}] (one holds the other); keep only one of them"
            )
        first[path] = index
        for prefix in prefixes:
            under.setdefault(prefix, index)
    return problems


def _describe(error: ErrorDetails) -> str:
    """A `field.path: reason` line, without echoing the offending value (it may be personal data)."""
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{printable(part)}" if path else printable(part))
    if error["type"] == "too_long":  # in pydantic's words, "List should have at most 500 items after validation"
        reason = f"at most {error['ctx']['max_length']} entries, not {error['ctx']['actual_length']}"
    elif error["type"] == "union_tag_invalid":  # pydantic's message quotes the value given
        reason = f"must be one of {error['ctx']['expected_tags']}"
    else:
        reasons = {"missing": "required", "extra_forbidden": "unknown field"}
        reason = reasons.get(error["type"], error["msg"].removeprefix("Value error, "))
    return f"{path}: {reason}" if path else reason


def parse_config(data: object, source: str = "<config>") -> DestinationConfig:
    """Validate already-decoded JSON as a destination config, or raise ConfigError."""
    try:
        config = DestinationConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, [_describe(e) for e in error.errors()]) from None
    problems = _conflicts(config) + governance_problems(config, load_catalogue())
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | Path) -> DestinationConfig:
    """Read and validate a destination config file, or raise ConfigError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, [f"cannot read the file: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(source, [f"not UTF-8 text (byte {error.start})"]) from None
    repeated: list[str] = []
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, repeated))
    except json.JSONDecodeError as error:
        raise ConfigError(
            source, [f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"]
        ) from None
    except RecursionError:
        raise ConfigError(source, ["not valid JSON: nested too deeply"]) from None
    if repeated:
        # JSON keeps the last of a repeated key: the first one's settings would be lost without a word.
        raise ConfigError(
            source,
            [f"{printable(key)}: given twice in one object (only one may be)" for key in dict.fromkeys(repeated)],
        )
    return parse_config(data, source)


def _object(pairs: list[tuple[str, object]], repeated: list[str]) -> dict[str, object]:
    """A JSON object, noting the keys it repeats."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
    return data


@dataclass(frozen=True)
class Settings:
    """The function's settings, read once at start-up from its environment.

    Only DESTINATION_CONFIG_FILE is required; everything else has a default that works.
    """

    destination_config_file: Path
    rejects_queue_url: str | None = None
    # The ingest queue itself: the rest of a message not finished in one invocation is sent back there.
    ingest_queue_url: str | None = None
    # Set by the stack when the config enables idempotency.
    idempotency_table_name: str | None = None
    # Set by the stack when the config keeps profile state.
    profile_table_name: str | None = None
    region: str | None = None
    writer_concurrency: int = 4
    # Kept back from the invocation's end: every call to AWS is bounded by what remains before it,
    # so this covers only answering (logs, metrics) after the deadline.
    deadline_margin_ms: int = 2000
    metrics_namespace: str = "KinesisExport"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        problems = []
        config_file = environ.get("DESTINATION_CONFIG_FILE", "")
        if not config_file:
            problems.append("DESTINATION_CONFIG_FILE: required (the path of the destination config file)")

        def positive_int(name: str, default: int) -> int:
            raw = environ.get(name, "")
            if not raw:
                return default
            if raw.isascii() and raw.isdigit() and int(raw) > 0:
                return int(raw)
            problems.append(f"{name}: must be a positive whole number")
            return default

        settings = cls(
            destination_config_file=Path(config_file),
            rejects_queue_url=environ.get("REJECTS_QUEUE_URL") or None,
            ingest_queue_url=environ.get("INGEST_QUEUE_URL") or None,
            idempotency_table_name=environ.get("IDEMPOTENCY_TABLE_NAME") or None,
            profile_table_name=environ.get("PROFILE_TABLE_NAME") or None,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
            writer_concurrency=positive_int("WRITER_CONCURRENCY", cls.writer_concurrency),
            deadline_margin_ms=positive_int("DEADLINE_MARGIN_MS", cls.deadline_margin_ms),
            metrics_namespace=environ.get("POWERTOOLS_METRICS_NAMESPACE") or cls.metrics_namespace,
        )
        if problems:
            raise ConfigError("environment", problems)
        return settings
