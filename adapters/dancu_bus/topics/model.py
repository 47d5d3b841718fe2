"""The models of ``topics.yaml``: validation with clear messages, and expansion into concrete topics."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dancu_bus.errors import ConfigError

__all__ = [
    "AGENCY_SLOT",
    "TopicDeclaration",
    "TopicDefaults",
    "TopicSpec",
    "TopicsFile",
    "expand",
    "load_topics",
    "packaged_topics",
    "parse_topics",
]

AGENCY_SLOT = "{agency}"
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
PREFIX = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
AGENCY_ID = re.compile(r"[a-z0-9-]{2,40}")
AVRO_FULL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
PRINCIPAL = re.compile(r"User:[A-Za-z0-9._@{}-]+")
CLEANUP_POLICIES = frozenset({"delete", "compact", "compact,delete", "delete,compact"})
INTEGER_CONFIGS = frozenset(
    {
        "retention.ms",
        "retention.bytes",
        "segment.ms",
        "min.compaction.lag.ms",
        "delete.retention.ms",
        "max.message.bytes",
    }
)
# Declared as fields of their own, not as free configs.
RESERVED_CONFIGS = {"min.insync.replicas": "min_insync_replicas", "replication.factor": "replication_factor"}


def _config_text(value: object) -> str:
    """Kafka's text form of a YAML scalar: booleans in lower case, numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise ValueError(f"config values must be text, numbers or booleans, not {value!r}")


def _check_configs(configs: Mapping[str, str]) -> None:
    """Reject configs Kafka would refuse or that belong to a field of their own."""
    for key, value in configs.items():
        if key in RESERVED_CONFIGS:
            raise ValueError(f"set {key} with the field {RESERVED_CONFIGS[key]}, not under configs")
        if key == "cleanup.policy" and value not in CLEANUP_POLICIES:
            raise ValueError(f"cleanup.policy {value!r} is not one of {sorted(CLEANUP_POLICIES)}")
        if key in INTEGER_CONFIGS and not re.fullmatch(r"-1|\d+", value):
            raise ValueError(f"{key} must be a whole number of {key.split('.')[-1]} or -1, not {value!r}")


class _Configs(BaseModel):
    """Turns YAML scalars of ``configs`` into Kafka's text form and checks them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    configs: dict[str, str] = Field(default_factory=dict)

    @field_validator("configs", mode="before")
    @classmethod
    def _as_text(cls, raw: object) -> object:
        if not isinstance(raw, Mapping):
            return raw
        return {str(key): _config_text(value) for key, value in raw.items()}

    @field_validator("configs")
    @classmethod
    def _valid(cls, configs: dict[str, str]) -> dict[str, str]:
        _check_configs(configs)
        return configs


class TopicDefaults(_Configs):
    """Settings every topic inherits unless it sets its own."""

    replication_factor: int = Field(default=3, ge=1)
    min_insync_replicas: int = Field(default=2, ge=1)


class TopicDeclaration(_Configs):
    """One entry of ``topics.yaml``; its name may hold ``{agency}``."""

    name: str
    doc: str = ""
    partitions: int = Field(ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    key: str = Field(min_length=1, description="what the record key holds")
    value_schema: str = Field(description="full name of the Avro schema of the values")
    writers: tuple[str, ...] = Field(min_length=1)
    readers: tuple[str, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _legal_name(cls, name: str) -> str:
        if not TOPIC_NAME.fullmatch(name.replace(AGENCY_SLOT, "x")):
            raise ValueError(f"{name!r} is not a Kafka topic name ([a-zA-Z0-9._-], {AGENCY_SLOT} allowed)")
        return name

    @field_validator("value_schema")
    @classmethod
    def _avro_name(cls, value: str) -> str:
        if not AVRO_FULL_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an Avro full name such as vn.dancu.Request")
        return value

    @field_validator("writers", "readers")
    @classmethod
    def _principals(cls, principals: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in principals if not PRINCIPAL.fullmatch(p)]
        if bad:
            raise ValueError(f"principals must look like User:<name>, not {bad}")
        return principals

    @property
    def templated(self) -> bool:
        """Whether this declaration expands to one topic per agency."""
        return AGENCY_SLOT in self.name


class TopicsFile(BaseModel):
    """The whole ``topics.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(description="every topic name starts with this and a dot")
    defaults: TopicDefaults = TopicDefaults()
    topics: tuple[TopicDeclaration, ...] = Field(min_length=1)

    @field_validator("prefix")
    @classmethod
    def _legal_prefix(cls, prefix: str) -> str:
        if not PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r} must be [a-z0-9._-], not starting or ending in a dot")
        return prefix

    @model_validator(mode="after")
    def _consistent(self) -> TopicsFile:
        names = [t.name for t in self.topics]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"topics declared more than once: {repeated}")
        outside = [n for n in names if not n.startswith(self.prefix + ".")]
        if outside:
            raise ValueError(f"topics outside the prefix {self.prefix!r}: {outside}")
        for topic in self.topics:
            replication, min_insync = _replication(self.defaults, topic, None)
            if min_insync > replication:
                raise ValueError(
                    f"{topic.name}: min_insync_replicas {min_insync} exceeds replication_factor {replication}"
                )
        return self


class TopicSpec(BaseModel):
    """One concrete topic as the cluster should have it; ``configs`` includes min.insync.replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]
    key: str
    value_schema: str
    writers: tuple[str, ...]
    readers: tuple[str, ...]


def _replication(defaults: TopicDefaults, topic: TopicDeclaration, override: int | None) -> tuple[int, int]:
    """Replication factor and min.insync.replicas; an override lowers min.insync.replicas to fit."""
    replication = topic.replication_factor or defaults.replication_factor
    min_insync = topic.min_insync_replicas or defaults.min_insync_replicas
    if override is not None:
        return override, min(min_insync, override)
    return replication, min_insync


def _error_lines(exc: ValidationError, raw: object) -> str:
    """One readable clause per error, naming the topic where the YAML gives its name."""
    clauses = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc) or "file"
        if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
            where = f"topics[{loc[1]}] ({_topic_name(raw, loc[1])})" + "".join(f".{p}" for p in loc[2:])
        clauses.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(clauses)


def _topic_name(raw: object, index: int) -> str:
    """The name the YAML gives topic ``index``, or '?'."""
    topics = raw.get("topics") if isinstance(raw, Mapping) else None
    entry = topics[index] if isinstance(topics, list) and index < len(topics) else None
    return str(entry.get("name", "?")) if isinstance(entry, Mapping) else "?"


def parse_topics(raw: object, source: str = "topics.yaml") -> TopicsFile:
    """Validate the loaded YAML of a topics file; ConfigError names every problem."""
    try:
        return TopicsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid: {_error_lines(exc, raw)}") from exc


def load_topics(path: Path | Traversable) -> TopicsFile:
    """Read and validate a topics file."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read topics file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"topics file {path} is not YAML: {exc}") from exc
    return parse_topics(raw, str(path))


def packaged_topics() -> TopicsFile:
    """The ``topics.yaml`` shipped in the package (the repository's own, in a checkout)."""
    return load_topics(files("dancu_bus") / "data" / "topics.yaml")


def _concrete(
    file: TopicsFile,
    topic: TopicDeclaration,
    agency: str | None,
    replication_override: int | None,
    prefix: str,
) -> TopicSpec:
    """The topic ``topic`` declares for one agency (or its only topic), under the effective prefix."""
    replication, min_insync = _replication(file.defaults, topic, replication_override)

    def fill(text: str) -> str:
        return text if agency is None else text.replace(AGENCY_SLOT, agency)

    return TopicSpec(
        name=prefix + fill(topic.name)[len(file.prefix) :],
        partitions=topic.partitions,
        replication_factor=replication,
        configs={**file.defaults.configs, **topic.configs, "min.insync.replicas": str(min_insync)},
        key=topic.key,
        value_schema=topic.value_schema,
        writers=tuple(fill(p) for p in topic.writers),
        readers=tuple(fill(p) for p in topic.readers),
    )


def _check_agencies(agency_ids: Iterable[str]) -> list[str]:
    """The agency ids, each checked to be a slug that makes a legal topic name."""
    ids = sorted(set(agency_ids))
    bad = [a for a in ids if not AGENCY_ID.fullmatch(a)]
    if bad:
        raise ConfigError(f"agency ids {bad} are not slugs [a-z0-9-]{{2,40}}")
    return ids


def expand(
    file: TopicsFile,
    agency_ids: Iterable[str],
    *,
    replication_factor: int | None = None,
    prefix: str | None = None,
) -> list[TopicSpec]:
    """Every concrete topic: templates once per agency, optionally with another replication or prefix."""
    if replication_factor is not None and replication_factor < 1:
        raise ConfigError(f"replication factor must be at least 1, not {replication_factor}")
    if prefix is not None and not PREFIX.fullmatch(prefix):
        raise ConfigError(f"topic prefix {prefix!r} must be [a-z0-9._-], not starting or ending in a dot")
    ids = _check_agencies(agency_ids)
    specs = [
        _concrete(file, topic, agency, replication_factor, prefix or file.prefix)
        for topic in file.topics
        for agency in (ids if topic.templated else [None])
    ]
    names = [s.name for s in specs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigError(f"agency templates expand to topics declared twice: {clashes}")
    return specs
