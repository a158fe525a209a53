"""The frozen spec model: what a mesh's files say, after validation, before resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meshplane.spec.yamlsafe import JsonPath, YamlDocument
from meshplane.types import Address, EventKind, SourceLocation

if TYPE_CHECKING:
    from open_data_contract_standard.model import OpenDataContractStandard

__all__ = [
    "CLASSIFICATION_LEVELS",
    "NAME_PATTERN",
    "AccessLevel",
    "ColumnSpec",
    "ConnectionConfig",
    "ContractSpec",
    "DomainConfig",
    "DomainSpec",
    "EmailChannel",
    "GlossaryConfig",
    "GlossaryTerm",
    "HistoryConfig",
    "InputPortSpec",
    "MaskKind",
    "MeshConfig",
    "MeshSpec",
    "NotificationsConfig",
    "OdcsModel",
    "OpenLineageConfig",
    "OutputPortSpec",
    "PlatformConfig",
    "ProductSpec",
    "SmtpConfig",
    "SourceServer",
    "SparkConfig",
    "SubscriptionConfig",
    "TableSpec",
    "TeamConfig",
    "TeamMemberConfig",
    "TransformSpec",
    "UserConfig",
    "WebhookChannel",
]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

# Ordered low to high: raising a column's level is a breaking change for its consumers.
CLASSIFICATION_LEVELS = ("public", "internal", "confidential", "pii", "restricted")


class AccessLevel(StrEnum):
    PUBLIC = "public"
    RESTRICTED = "restricted"
    PRIVATE = "private"


class MaskKind(StrEnum):
    HASH = "hash"
    REDACT = "redact"
    NULL = "null"
    PARTIAL = "partial"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SparkConfig(_Frozen):
    master: str = "local[2]"
    conf: dict[str, str] = Field(default_factory=dict)


class HistoryConfig(_Frozen):
    """``platform.history``: snapshots kept for time travel (``meshplane maintain`` expires the rest)."""

    keep_snapshots: int = Field(default=10, ge=1, le=100_000)  # the newest N, whatever their age
    keep_days: float = Field(default=7.0, ge=0)  # and every snapshot younger than this
    maintain_schedule: str | None = "0 3 * * *"  # cron of the scheduler's maintenance round (None: never)


class CompactionConfig(_Frozen):
    """``platform.compaction``: ``meshplane maintain`` rewrites a table's small data files into larger ones."""

    target_file_mb: float = Field(default=128.0, gt=0, le=65536)  # files under 3/4 of this are small
    min_files: int = Field(default=10, ge=2, le=100_000)  # compact a table once it has this many small files


class BuildLimitsConfig(_Frozen):
    """Limits of one transform run (SQL and Python transforms run in limited child processes)."""

    memory: str = Field(default="4GB", pattern=r"^\d+(\.\d+)?\s*([KMGT]i?B)?$")
    timeout_seconds: float = Field(default=3600.0, gt=0, le=7 * 86400)
    cpu_seconds: int = Field(default=3600, ge=1)
    """CPU seconds of one Python transform's process."""
    confine_python: bool = True
    """Python transforms run confined (Landlock, seccomp); off only where the kernel lacks Landlock."""


class WireSettings(_Frozen):
    """The PostgreSQL wire protocol of ``meshplane serve --pg``."""

    auth: Literal["scram-sha-256", "password"] = "scram-sha-256"
    """scram-sha-256: clients prove they hold an API token without sending it (tokens made before SCRAM
    verifiers existed cannot); password: the token is sent as a cleartext password (TLS off loopback)."""


class PlatformConfig(_Frozen):
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    warehouse: str = ".meshplane/warehouse"  # a folder, or s3://bucket/prefix (object storage)
    # With an s3:// warehouse: the connection (under connections:) whose variable holds
    # https://KEY:SECRET@host:port?region=R; unset -> the standard AWS_* environment variables.
    warehouse_connection: str | None = None
    catalog_url_env: str | None = None
    # A builder's lease on a product expires this long after its last heartbeat (a third of it apart).
    build_lease_seconds: float = Field(default=60.0, ge=1.0, le=86400.0)
    # API tokens expire this many days after they are created unless created with another expiry.
    token_days: int = Field(default=90, ge=1, le=3650)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    compaction: CompactionConfig = Field(default_factory=CompactionConfig)
    build_limits: BuildLimitsConfig = Field(default_factory=BuildLimitsConfig)
    wire: WireSettings = Field(default_factory=WireSettings)


class ConnectionConfig(_Frozen):
    env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")


class TeamMemberConfig(_Frozen):
    username: str
    role: str = "member"


class TeamConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str | None = None
    description: str | None = None
    members: tuple[TeamMemberConfig, ...] = ()


class UserConfig(_Frozen):
    username: str
    name: str | None = None
    email: str | None = None


class OpenLineageConfig(_Frozen):
    """``openlineage:`` in mesh.yaml: where build (and optionally query) run events go."""

    namespace: str | None = None  # default: meshplane://<mesh name>
    # An openlineage-python transport config, as its openlineage.yml writes it (type: http|file|console|...).
    # Unset: the standard OPENLINEAGE_* environment variables decide.
    transport: dict[str, Any] | None = None
    queries: bool = False  # consumer queries emit run events too
    disabled: bool = False


class WebhookChannel(_Frozen):
    type: Literal["webhook"]
    url: str | None = None
    url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")  # the variable holding the HMAC-SHA256 key


class EmailChannel(_Frozen):
    type: Literal["email"]
    to: tuple[str, ...] = ()  # empty: the subscriber's own address(es) from users:


class SmtpConfig(_Frozen):
    host: str = "localhost"
    port: int = 25
    sender: str
    starttls: bool = False
    username_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")


class SubscriptionConfig(_Frozen):
    subscriber: str = Field(pattern=r"^(user|team|product):[A-Za-z0-9_.@-]+$")
    events: tuple[EventKind | Literal["*"], ...] = ("*",)
    channel: str


class RetryConfig(_Frozen):
    attempts: int = Field(default=6, ge=1, le=50)
    backoff_seconds: float = Field(default=30.0, ge=0)  # doubles after every failed attempt
    timeout_seconds: float = Field(default=10.0, gt=0)


class NotificationsConfig(_Frozen):
    """``notifications:`` in mesh.yaml: channels, who subscribes to what, how deliveries retry."""

    channels: dict[str, WebhookChannel | EmailChannel] = Field(default_factory=dict)
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    smtp: SmtpConfig | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    warn_days: int = Field(default=7, ge=1)  # "expiring soon" and "deprecation approaching" windows


class SignInConfig(_Frozen):
    """``sign_in:`` in mesh.yaml: how people signing in with the company's identity provider (OpenID Connect)
    become members of the mesh's teams: the groups their ID token lists, mapped group by group onto teams."""

    groups_claim: str = Field(default="groups", min_length=1, max_length=100)
    """The ID token claim holding the person's groups (a list of names, or one name)."""
    group_teams: dict[str, str] = Field(default_factory=dict)
    """identity-provider group -> mesh team (declared under teams:)."""


class MeshConfig(_Frozen):
    """``mesh.yaml``."""

    name: str = Field(pattern=NAME_PATTERN.pattern)
    title: str | None = None
    description: str | None = None
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    # mono: every domain and the governance files in this repository (the default). governance: the guild's
    # repository (teams, users, glossary, global policies), published to the shared platform. domain: one
    # domain team's repository (its domains/<d>/ only): teams, glossary, global policies and other domains'
    # ports come from what the platform's catalog holds.
    repository: Literal["mono", "governance", "domain"] = "mono"
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    teams: tuple[TeamConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    governance_team: str | None = None
    platform_team: str | None = None
    openlineage: OpenLineageConfig | None = None
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    sign_in: SignInConfig = Field(default_factory=SignInConfig)


class GlossaryTerm(_Frozen):
    name: str = Field(pattern=NAME_PATTERN.pattern)
    title: str | None = None
    description: str | None = None
    logicalType: str | None = None
    pattern: str | None = None
    classification: str | None = None
    tags: tuple[str, ...] = ()


class GlossaryConfig(_Frozen):
    """``glossary.yaml``."""

    terms: tuple[GlossaryTerm, ...] = ()


class DomainConfig(_Frozen):
    """``domains/<domain>/domain.yaml``."""

    name: str = Field(pattern=NAME_PATTERN.pattern)
    title: str | None = None
    description: str | None = None
    owner: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Located:
    """Mixin data: the document an element came from and its key path there."""

    document: YamlDocument = field(repr=False, compare=False)
    json_path: JsonPath = field(repr=False, compare=False)

    def location(self, *keys: str | int) -> SourceLocation:
        return self.document.locate((*self.json_path, *keys))


@dataclass(frozen=True)
class SourceServer:
    """Where a source contract's data lives (the first ``servers`` entry)."""

    type: Literal["local", "postgres"]
    name: str
    path: str | None = None
    format: Literal["parquet", "csv", "json"] | None = None
    delimiter: str | None = None
    database: str | None = None
    schema: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class ColumnSpec(Located):
    name: str
    logical_type: str | None
    physical_type: str | None
    required: bool
    unique: bool
    primary_key: bool
    primary_key_position: int | None
    classification: str | None
    description: str | None
    mask: MaskKind | None
    semantic_type: str | None
    enum_values: tuple[Any, ...] = ()
    partitioned: bool = False
    """ODCS ``partitioned: true``: the column is a key of the port's Iceberg partition spec."""
    partition_key_position: int | None = None
    partition_transform: str = "identity"
    """``customProperties: partitionTransform``: identity (default), year, month, day or hour."""


@dataclass(frozen=True)
class TableSpec(Located):
    """One table-like schema object of a contract (``json_path`` is ``("schema", i)``)."""

    name: str
    columns: tuple[ColumnSpec, ...]


class OdcsModel:
    """A contract's ODCS pydantic model, built from its data on first use.

    Reading a contract validates its data against the model (or finds it vouched for by the parse cache: the
    same bytes validated before, by the same model); most commands (``plan``, a no-op ``build``) never use the
    model itself, and building it for each of 10,000 contracts, and importing the model's module, was a large
    part of loading such a mesh.
    """

    __slots__ = ("_data", "_model")

    def __init__(self, data: dict[str, Any], model: OpenDataContractStandard | None = None) -> None:
        self._data = data
        self._model = model

    def get(self) -> OpenDataContractStandard:
        if self._model is None:
            from open_data_contract_standard.model import OpenDataContractStandard

            self._model = OpenDataContractStandard.model_validate(self._data)
        return self._model

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OdcsModel) and (other is self or self.get() == other.get())

    __hash__ = None  # type: ignore[assignment]  # like the pydantic model it stands for

    def __repr__(self) -> str:
        return repr(self.get())


@dataclass(frozen=True)
class ContractSpec(Located):
    """An ODCS document: a port's contract or a source's.

    ``tables`` holds every table-like schema object; ``table``, ``columns`` and ``table_index`` (its position in
    ``schema``) are the one table a port spec builds: the first, or, for a contract with several tables, the one
    its table port builds (see :attr:`OutputPortSpec.table_of`).
    """

    id: str
    path: Path
    model: OdcsModel
    version: str
    table: str
    columns: tuple[ColumnSpec, ...]
    custom: dict[str, Any]
    server: SourceServer | None = None
    tables: tuple[TableSpec, ...] = ()
    table_index: int = 0

    @property
    def odcs(self) -> OpenDataContractStandard:
        """The contract as the ODCS pydantic model (built on first use)."""
        return self.model.get()

    @property
    def address(self) -> Address:
        return Address.parse(self.id)

    @property
    def raw(self) -> dict[str, Any]:
        data: dict[str, Any] = self.document.data
        return data

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class TransformSpec:
    path: Path
    language: Literal["sql", "python"]
    code: str


@dataclass(frozen=True)
class InputPortSpec(Located):
    name: str
    version_range: str | None
    contract_id: str
    purpose: str | None = None
    """Why the product reads this input (``customProperties`` ``purpose``): an agreement request's purpose."""
    columns: tuple[str, ...] = ()
    """The columns it needs (``customProperties`` ``columns``): what an agreement request asks for."""


@dataclass(frozen=True)
class OutputPortSpec(Located):
    name: str
    version: str
    contract_id: str
    description: str | None
    access_level: AccessLevel
    contract: ContractSpec
    transform: TransformSpec
    custom: dict[str, Any]
    kind: str = "tables"
    """The ODPS output port's ``type``. A port of another type (``topic``, ``api``, ...) is described by its
    contract and is catalogued, searchable and governed, but meshplane neither builds nor serves it: it is one
    of :attr:`ProductSpec.described_ports`, never of ``output_ports``, and has no transform."""
    table_of: str | None = None
    """Set on each table of an ODPS output port whose contract has several tables: that port's name. Its first
    table keeps the port's name and address; each further table is the port ``<port>__<table>`` (queryable as
    ``<domain>.<product>.<port>.<table>`` too), with its own transform ``<port>.<table>.sql|.py``."""

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def refresh(self) -> str:
        """How a build refreshes the port (``customProperties: refresh``): ``full``, ``append``, ``merge`` or
        ``partitions``."""
        return str(self.custom.get("refresh", "full"))

    @property
    def partitioning(self) -> tuple[tuple[str, str], ...]:
        """The contract's partition keys as ``(column, transform)`` in ``partitionKeyPosition`` order (columns
        without a position after those with one, in declaration order); empty: the table is unpartitioned."""
        keyed = [
            (c.partition_key_position or 10_000, i, c) for i, c in enumerate(self.contract.columns) if c.partitioned
        ]
        return tuple((c.name, c.partition_transform) for _, _, c in sorted(keyed, key=lambda k: (k[0], k[1])))

    @property
    def incremental(self) -> bool:
        """Whether a build computes only an increment bounded by the watermark (``append``, ``merge``, or
        ``partitions``: the partitions the rows after the watermark fall in, recomputed whole)."""
        return self.refresh in ("append", "merge", "partitions")

    @property
    def delete_flag(self) -> str | None:
        """A ``merge`` port's boolean column marking rows to delete (``customProperties: deleteFlag``)."""
        value = self.custom.get("deleteFlag")
        return None if value is None else str(value)

    @property
    def watermark(self) -> str | None:
        """The column an ``append`` port's increments are bounded by (``customProperties: watermark``)."""
        value = self.custom.get("watermark")
        return None if value is None else str(value)


@dataclass(frozen=True)
class ProductSpec(Located):
    """A ``product.odps.yaml`` with its ports' contracts and transforms."""

    address: Address
    path: Path
    version: str
    status: str
    type: str | None
    name: str
    title: str | None
    description: dict[str, str]
    tags: tuple[str, ...]
    team: str
    input_ports: tuple[InputPortSpec, ...]
    output_ports: tuple[OutputPortSpec, ...]
    """The ports meshplane builds (tables)."""
    custom: dict[str, Any]
    described_ports: tuple[OutputPortSpec, ...] = ()
    """Ports of another kind (a Kafka topic, an API): catalogued and governed, not built (see ``kind``)."""

    @property
    def raw(self) -> dict[str, Any]:
        data: dict[str, Any] = self.document.data
        return data

    @property
    def domain(self) -> str:
        return self.address.domain

    @property
    def schedule(self) -> str | None:
        value = self.custom.get("schedule")
        return str(value) if value else None

    @property
    def engine(self) -> str | None:
        value = self.custom.get("engine")
        return str(value) if value else None

    def output(self, name: str) -> OutputPortSpec | None:
        return next((p for p in (*self.output_ports, *self.described_ports) if p.name == name), None)


@dataclass(frozen=True)
class DomainSpec:
    config: DomainConfig
    path: Path
    document: YamlDocument = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class MeshSpec:
    """Every file of a mesh, validated; references between them are not resolved yet."""

    root: Path
    config: MeshConfig
    config_document: YamlDocument = field(repr=False, compare=False)
    glossary: GlossaryConfig
    domains: tuple[DomainSpec, ...]
    products: tuple[ProductSpec, ...]
    sources: tuple[ContractSpec, ...]
    documents: tuple[YamlDocument, ...] = field(default=(), repr=False, compare=False)
    # Addresses of products, ports and source contracts that exist on disk but failed to load (their
    # problems are already reported): references to them are not reported again as missing.
    unloaded: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    # In a domain repository: the domains read from the platform's published copies (built elsewhere), and
    # the folder holding the governance repository's published files (global policies live there).
    external_domains: frozenset[str] = field(default=frozenset(), compare=False)
    governance_root: Path | None = field(default=None, compare=False)

    def team(self, name: str) -> TeamConfig | None:
        return next((t for t in self.config.teams if t.name == name), None)
