"""The typed project file: frozen pydantic models, validated at the edge.

Every model forbids unknown keys and is strict about types (YAML already gives
typed values; ``"12"`` is not silently a number). Cross-references between
sections (a model's dataset, its features) are checked in :mod:`.checks`, where
each problem can name its own key path.

Every section is typed in full here, including ``retrain`` (the maintenance
stage's policy); :mod:`.checks` checks how its names fit the rest of the file.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

DEFAULT_DATABASE = "sqlite:///.shipyard/shipyard.db"
DEFAULT_ARTIFACTS = ".shipyard/artifacts"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _name(value: Any) -> Any:
    if not isinstance(value, str) or not _NAME.match(value):
        raise PydanticCustomError(
            "shipyard_name",
            "expected a name of letters, digits, '.', '_' or '-' (at most 64, "
            "starting with a letter or digit)",
        )
    return value


def _positive_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise PydanticCustomError("positive_number", "expected a positive number")
    if value != value or value == float("inf"):
        raise PydanticCustomError("positive_number", "expected a positive number")
    return float(value)


def _entry_point(value: Any) -> Any:
    if not isinstance(value, str) or not _ENTRY_POINT.match(value):
        raise PydanticCustomError(
            "entry_point", "expected 'module:function' (for example 'credit_model:train')"
        )
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex", "expected a valid regular expression ({error})", {"error": str(exc)}
        ) from None
    return value


def _database_url(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(
        ("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgres://")
    ):
        raise PydanticCustomError(
            "database_url",
            "expected a database URL: 'sqlite:///path/to/file.db' or "
            "'postgresql://user@host:5432/dbname'",
        )
    return value


def _artifacts_url(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError(
            "artifacts_url",
            "expected a folder path, a 'file://' URL or 's3://bucket/prefix'",
        )
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("", "file", "s3"):
        raise PydanticCustomError(
            "artifacts_url",
            "expected a folder path, a 'file://' URL or 's3://bucket/prefix' "
            "(scheme '{scheme}' is not supported)",
            {"scheme": scheme},
        )
    if scheme == "s3" and not value[len("s3://") :].strip("/"):
        raise PydanticCustomError("artifacts_url", "expected 's3://bucket[/prefix]'")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """``"15m"``, ``"1h"``, ``"1d"``, ``"30s"``, ``"500ms"`` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '15m', '1h' or '1d', got {value!r}")
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise ValueError(f"expected a duration of 0 or more, got {value!r}")
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"expected a duration like '30s', '15m', '1h', '1d' or '1w', got {value!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _duration(value: Any) -> Any:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Name = Annotated[str, BeforeValidator(_name)]
PositiveNumber = Annotated[float, BeforeValidator(_positive_number)]
EntryPoint = Annotated[str, BeforeValidator(_entry_point)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Duration = Annotated[float, BeforeValidator(_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StorageConfig(_Section):
    """Where state lives. ``SHIPYARD_DATABASE_URL`` / ``SHIPYARD_ARTIFACTS_URL`` override."""

    database: Annotated[str, BeforeValidator(_database_url)] = DEFAULT_DATABASE
    artifacts: Annotated[str, BeforeValidator(_artifacts_url)] = DEFAULT_ARTIFACTS


ColumnType = Literal["int", "float", "bool", "string", "category", "datetime"]


class ColumnConfig(_Section):
    """One column of a dataset schema."""

    type: ColumnType
    nullable: bool = True
    max_null_fraction: Fraction | None = None
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(default=None, min_length=1)
    regex: Annotated[str, AfterValidator(_regex)] | None = None
    unique: bool = False
    source: str | None = None  # the header in the source when it differs (e.g. 'mean radius')


Action = Literal["reject", "warn"]


class BatchCheckConfig(_Section):
    """A check on a whole batch: a failure rejects the batch (no version) or only warns."""

    action: Action = "reject"


class RowCountConfig(BatchCheckConfig):
    """Bounds on the number of rows a batch may bring."""

    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None


class FreshnessConfig(BatchCheckConfig):
    """The newest timestamp in a batch may be at most this old."""

    max_age_hours: PositiveNumber
    action: Action = "warn"


class CustomCheckConfig(_Section):
    """A vectorised row check of your own: ``function(frame) -> polars expression`` (True = good)."""

    name: Name
    function: EntryPoint


class DatasetChecksConfig(_Section):
    """Batch-level checks, and custom row checks."""

    row_count: RowCountConfig | None = None
    null_rate: BatchCheckConfig = Field(default_factory=BatchCheckConfig)
    schema_drift: BatchCheckConfig = Field(default_factory=BatchCheckConfig)
    freshness: FreshnessConfig | None = None
    custom: list[CustomCheckConfig] = Field(default_factory=list)
    max_quarantined: Fraction = 0.5  # above this share of a batch quarantined: ingest fails


class DatasetConfig(_Section):
    """A dataset: its schema, the roles of its columns and how batches are combined."""

    key: str | None = None
    timestamp: str | None = None
    target: str | None = None
    mode: Literal["append", "replace"] = "append"
    on_duplicate_key: Literal["reject", "keep_latest"] = "reject"
    checks: DatasetChecksConfig = Field(default_factory=DatasetChecksConfig)
    columns: dict[Name, ColumnConfig] = Field(min_length=1)


def _email(value: Any) -> Any:
    if not isinstance(value, str) or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
        raise PydanticCustomError("email", "expected an e-mail address like 'team@example.com'")
    return value


def _env_reference(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
        raise PydanticCustomError(
            "env_reference",
            "expected a reference to an environment variable like '${SMTP_PASSWORD}'; "
            "never write a secret into the project file",
        )
    return value


def _http_url(value: Any) -> Any:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+\S*$", value):
        raise PydanticCustomError("http_url", "expected an http:// or https:// URL")
    return value


class OwnerConfig(_Section):
    """Who answers for a model: a person or team and at least one way to reach them."""

    name: str = Field(min_length=1)
    email: Annotated[str, BeforeValidator(_email)] | None = None
    webhook: Annotated[str, BeforeValidator(_http_url)] | None = None
    slack: Annotated[str, BeforeValidator(_http_url)] | None = None
    file: str | None = Field(default=None, min_length=1)  # JSON lines, beside shipyard.yaml


RuleOperator = Literal["lt", "le", "gt", "ge", "eq", "ne", "in"]


class FallbackAnswer(_Section):
    """A fixed answer: the label (or value) and, for a classifier, one probability per class."""

    prediction: Any
    probabilities: list[float] | None = None


class FallbackRule(FallbackAnswer):
    """``when`` every condition holds (``{column: {lt: 3}}``), answer ``prediction``."""

    when: dict[str, dict[RuleOperator, Any]] = Field(min_length=1)


class FallbackConfig(_Section):
    """What answers when the model cannot: rules, then the cache, then a default."""

    rules: EntryPoint | list[FallbackRule] | None = None
    cache_size: Annotated[int, Field(ge=0)] = 10_000
    cache_max_mb: PositiveNumber = 32.0  # keys and the answers they keep alive, per worker
    default: FallbackAnswer | None = None


class BreakerConfig(_Section):
    """The circuit breaker: open after ``failures`` in ``window_s``; probe again after ``cooldown_s``."""

    failures: Annotated[int, Field(ge=1)] = 5
    window_s: PositiveNumber = 30.0
    cooldown_s: PositiveNumber = 10.0


class ServingConfig(_Section):
    """How the server batches requests for this model and when it stops calling it."""

    max_batch_size: Annotated[int, Field(ge=1)] = 64
    max_wait_ms: Annotated[float, Field(ge=0)] = 0.0
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    # a request of n rows gets latency_budget_ms + per_row_ms * n (by default measured by
    # the server when it loads the version), or batch_budget_ms when that is declared
    per_row_ms: Annotated[float, Field(ge=0)] | None = None
    batch_budget_ms: Annotated[float, Field(gt=0)] | None = None


Task = Literal["binary_classification", "multiclass_classification", "regression"]


class SplitConfig(_Section):
    """How training data is split into a training part and a holdout."""

    strategy: Literal["random", "time"] = "random"
    holdout: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    seed: int = 0


METRICS = {
    "binary_classification": [
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
        "log_loss", "brier", "ece",
    ],
    "multiclass_classification": ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "ece"],
    "regression": ["rmse", "mae", "mape", "r2"],
}  # fmt: skip
LOWER_IS_BETTER = {"log_loss", "brier", "ece", "rmse", "mae", "mape"}
# METRICS and LOWER_IS_BETTER follow shipyard.metrics.METRIC_SPECS, and ModelFormat follows
# shipyard.models.formats.FORMATS (config cannot import them); tests pin each to its table.
ModelFormat = Literal["skops", "onnx", "lightgbm", "xgboost", "pickle"]


class SliceConfig(_Section):
    """Metrics per value of a column (or per bin of a numeric one), each held to a bound."""

    column: str
    bins: list[float] | None = Field(default=None, min_length=2)
    metric: str
    min: float | None = None
    max: float | None = None
    min_size: Annotated[int, Field(ge=1)] = 30


class GoldenConfig(_Section):
    """Hand-picked cases with known answers: a pinned dataset version (its target is the answer)."""

    dataset: str
    score_column: str | None = None
    tolerance: Annotated[float, Field(ge=0)] = 0.0


class InvarianceConfig(_Section):
    """Setting ``column`` to each of ``values`` (or moving it by up to ``shift``) may move the score by at most ``eps``."""

    column: str
    values: list[Any] | None = None
    shift: PositiveNumber | None = None
    eps: Annotated[float, Field(ge=0)] = 0.05
    rows: Annotated[int, Field(ge=1)] = 500


class DirectionalConfig(_Section):
    """Raising ``column`` by ``increase`` must move the score the ``expect``ed way (or leave it)."""

    column: str
    increase: float
    expect: Literal["up", "down"]
    rows: Annotated[int, Field(ge=1)] = 500
    tolerance: Annotated[float, Field(ge=0)] = 1e-9


class MinimumCaseConfig(_Section):
    """One case the model must get right: the feature values and the expected label."""

    case: dict[str, Any]
    expect: Any


class LatencyConfig(_Section):
    """How the model's own latency is measured against its budget."""

    batch_size: Annotated[int, Field(ge=1)] = 100
    repeats: Annotated[int, Field(ge=5)] = 200


class EvaluationConfig(_Section):
    """What ``shipyard evaluate`` checks beyond the gates."""

    metrics: list[str] | None = None
    slices: list[SliceConfig] = Field(default_factory=list)
    golden: GoldenConfig | None = None
    invariance: list[InvarianceConfig] = Field(default_factory=list)
    directional: list[DirectionalConfig] = Field(default_factory=list)
    minimum: list[MinimumCaseConfig] = Field(default_factory=list)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    allow_unrecorded_holdout: bool = False  # gates may pass on rows shipyard did not keep apart


# the names of shipyard.monitoring.stats.DRIFT_METHODS, and each one's threshold key in
# DriftConfig below: tests/monitoring/test_drift_table.py pins both to the table
DriftMethod = Literal["auto", "ks", "psi", "wasserstein", "chi2", "js", "cohen_w"]


class DriftColumnConfig(_Section):
    """One column's own drift test: ``method`` and its ``threshold`` (a p-value for ks/chi2)."""

    method: DriftMethod = "auto"
    threshold: PositiveNumber | None = None


class DriftConfig(_Section):
    """How drift is judged; ``auto`` picks by column type (see README)."""

    numeric: DriftMethod = "auto"
    categorical: DriftMethod = "auto"
    # no longer read: every method is calibrated at every window size (kept so files load)
    small_sample: Annotated[int, Field(ge=1)] = 1000
    min_rows: Annotated[int, Field(ge=1)] = 30
    p_value: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    correction: Literal["bonferroni", "none"] = "bonferroni"
    psi: PositiveNumber = 0.1
    wasserstein: PositiveNumber = 0.1
    js: PositiveNumber = 0.1
    cohen_w: PositiveNumber = 0.1
    columns: dict[str, DriftColumnConfig] = Field(default_factory=dict)


class MonitoringConfig(_Section):
    """``shipyard monitor``: the default window, what drift is measured against, how."""

    window: Duration = 3600.0
    reference: Literal["training", "previous"] = "training"
    drift: DriftConfig = Field(default_factory=DriftConfig)
    min_labels: Annotated[int, Field(ge=1)] = 30
    estimate: Literal["none", "cbpe"] = "none"  # performance estimated before labels arrive


# what ``monitoring.estimate: cbpe`` estimates per task (shipyard.monitoring.cbpe.ESTIMATED;
# a test pins the two); alert rules read them as ``estimated_`` + the metric
ESTIMATED = {
    "binary_classification": [
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
    ],
    "multiclass_classification": ["accuracy", "balanced_accuracy", "f1_macro"],
}  # fmt: skip

Severity = Literal["info", "warning", "critical"]

# what an alert rule can watch beside the task's metrics (which come from feedback)
DRIFT_FIGURES = ("drift", "prediction_drift")
QUALITY_FIGURES = ("null_rate", "out_of_range", "unseen_categories")
SERVICE_FIGURES = (
    "latency_p50", "latency_p95", "latency_p99", "over_budget_rate", "error_rate",
    "degraded_rate", "rejected_rate", "shed_rate",
)  # fmt: skip
# why the fallback answered (the prediction log's ``reason``); a ``degraded_rate`` rule may
# narrow itself to some of them. Shed requests get no answer at all: ``shed_rate`` counts them.
DEGRADED_CAUSES = ("error", "timeout", "circuit_open", "unloaded")


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``word``, else ``""``."""
    same = [c for c in choices if c.casefold() == word.casefold()]  # 'c' for 'C'
    close = same or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _cause(value: Any) -> Any:
    if isinstance(value, str) and value in DEGRADED_CAUSES:
        return value
    known = ", ".join(DEGRADED_CAUSES)
    if value in ("shed", "overloaded"):
        raise PydanticCustomError(
            "cause",
            "expected one of {known} (shed requests get no fallback answer: "
            "alert on them with 'when: shed_rate')",
            {"known": known},
        )
    hint = did_you_mean(value, list(DEGRADED_CAUSES)) if isinstance(value, str) else ""
    raise PydanticCustomError(
        "cause", "expected one of {known}{hint}", {"known": known, "hint": hint}
    )


class AlertRule(_Section):
    """One alert: ``when`` a figure crosses ``above``/``below`` over ``window`` for ``for``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    when: str = Field(min_length=1)
    name: Name | None = None
    features: Literal["any"] | list[str] = "any"
    above: float | None = None
    below: float | None = None
    window: Duration | None = None
    hold: Duration = Field(0.0, alias="for")
    severity: Severity = "warning"
    route: Name | None = None
    repeat: Duration | None = None
    causes: list[Annotated[str, BeforeValidator(_cause)]] | None = None

    @field_validator("causes")
    @classmethod
    def _causes_narrow_degraded_rate(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("when") != "degraded_rate":
            raise PydanticCustomError(
                "causes",
                "expected 'causes' only on a 'degraded_rate' alert (they say why the fallback "
                "answered); for a busy server watch 'shed_rate'",
            )
        if value == []:
            raise PydanticCustomError(
                "causes",
                "expected at least one of {known}; leave 'causes' out to count them all",
                {"known": ", ".join(DEGRADED_CAUSES)},
            )
        return value

    @property
    def key(self) -> str:
        return self.name or self.when


class RouteConfig(_Section):
    """Where an alert goes: a webhook (JSON), a Slack-compatible webhook, e-mail, the log."""

    webhook: Annotated[str, BeforeValidator(_http_url)] | None = None
    slack: Annotated[str, BeforeValidator(_http_url)] | None = None
    email: list[Annotated[str, BeforeValidator(_email)]] = Field(default_factory=list)
    file: str | None = Field(default=None, min_length=1)  # JSON lines, beside shipyard.yaml
    log: bool = True


class SmtpConfig(_Section):
    """The mail server e-mail alerts go through; the password only as ``${ENV_VAR}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    sender: Annotated[str, BeforeValidator(_email)] = Field(alias="from")
    username: str | None = None
    password: Annotated[str, BeforeValidator(_env_reference)] | None = None
    starttls: bool = False


class AlertingConfig(_Section):
    """Routes, the mail server, reminders and delivery for every model's alerts."""

    routes: dict[Name, RouteConfig] = Field(default_factory=dict)
    smtp: SmtpConfig | None = None
    repeat: Duration = 4 * 3600.0
    timeout_s: PositiveNumber = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    # hosts, addresses or networks alerts may go to although not public (config/destinations.py)
    allow_hosts: list[str] = Field(default_factory=list)


class ShadowConfig(_Section):
    """The comparison period: the challenger answers a copy of live requests off the request path.

    It ends after ``requests`` compared requests or ``max_duration``, whichever is first.
    Each limit set here is a check the challenger must pass before it is promoted.
    """

    requests: Annotated[int, Field(ge=1)] = 2000
    max_duration: Duration = 3600.0
    max_error_rate: Fraction = 0.01  # share of shadow calls that raised or ran out of time
    max_latency_ratio: PositiveNumber = 1.5  # challenger p99 over champion p99, same requests
    min_agreement: Fraction | None = None  # share of rows given the same label (classifiers)
    max_score_distance: PositiveNumber | None = None  # Jensen-Shannon distance of the scores


class CanaryConfig(_Section):
    """During the comparison period, ``percent`` of requests are answered by the challenger;
    ``sticky_by`` (a feature) keeps every value of it on one version."""

    percent: Annotated[float, Field(gt=0.0, le=100.0)]
    sticky_by: str | None = None


class GuardConfig(_Section):
    """After a promotion, for ``duration``: if one of ``alerts`` fires, the champion moves back."""

    duration: Duration = 3600.0
    alerts: list[Name] = Field(min_length=1)


class RetrainConfig(_Section):
    """When a model is retrained, on what data, and how its candidate replaces the champion."""

    every: Duration | None = None  # on a schedule
    on_alerts: list[Name] = Field(default_factory=list)  # when one of these alert rules fires
    new_labels: Annotated[int, Field(ge=1)] | None = None  # feedback labels since the champion
    data: Literal["latest", "all"] = "latest"  # the newest dataset version, or every version
    window: Duration | None = None  # only rows whose timestamp is this recent
    labels: Literal["dataset", "feedback"] = "dataset"  # feedback: served rows + their labels
    shadow: ShadowConfig | None = None
    canary: CanaryConfig | None = None
    promote: Literal["auto", "approve"] = "approve"
    guard: GuardConfig | None = None

    @property
    def triggers(self) -> list[str]:
        """The automatic triggers declared (by hand is always possible)."""
        named = [
            ("every", self.every),
            ("on_alerts", self.on_alerts),
            ("new_labels", self.new_labels),
        ]
        return [key for key, value in named if value]


class ModelConfig(_Section):
    """A model: owner, task, the data it learns from and how it is trained and served."""

    owner: OwnerConfig
    task: Task
    dataset: str
    features: list[str] = Field(min_length=1)
    passthrough: list[str] = Field(default_factory=list)  # request fields logged, not modelled
    train: EntryPoint | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    any_params: bool = False  # train --param may name params not under `params`
    split: SplitConfig = Field(default_factory=SplitConfig)
    metrics: list[str] | None = None
    format: ModelFormat | None = None
    trusted_pickle: bool = False
    trusted_types: list[str] = Field(default_factory=list)
    latency_budget_ms: PositiveNumber = 100.0
    fallback: FallbackConfig | None = None
    serving: ServingConfig = Field(default_factory=ServingConfig)
    gates: dict[str, dict[str, float]] = Field(default_factory=dict)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    alerts: list[AlertRule] = Field(default_factory=list)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)


_HOST = re.compile(r"^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])$")


def _origin(value: Any) -> Any:
    """A browser origin for ``server.cors_origins`` (scheme, host, port, nothing else), or ``*``."""
    if value == "*":
        return value
    problem = _origin_problem(value) if isinstance(value, str) else "it is not text"
    if problem:
        raise PydanticCustomError(
            "origin",
            "expected an origin like 'https://app.example.com' or 'http://localhost:3000', "
            "or '*' alone for every origin ({problem})",
            {"problem": problem},
        )
    origin = str(value).lower()
    # a browser never writes a scheme's default port in Origin: drop it, or it never matches
    for scheme, port in (("https://", ":443"), ("http://", ":80")):
        if origin.startswith(scheme) and origin.endswith(port):
            origin = origin.removesuffix(port)
    return origin


def _origin_problem(value: str) -> str:
    """What keeps ``value`` from being an origin a browser sends, or ``""``."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return "it has no scheme: write 'https://' or 'http://' before the host"
    if scheme.lower() not in ("http", "https"):
        return f"the scheme is '{scheme}': browsers send http or https origins"
    authority, slash, path = rest.partition("/")
    for mark, what in (("?", "a query"), ("#", "a fragment"), ("@", "a user name")):
        if mark in authority:
            return f"it has {what}: an origin is scheme, host and port only"
    if slash:
        return f"it has a path ('/{path}'): an origin ends at the host or port"
    if "*" in authority:
        return "wildcards in a host are not supported: list each origin, or '*' alone"
    host, port = authority, ""
    if ":" in authority and not authority.endswith("]"):
        host, _, port = authority.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"the port '{port}' is not a number from 1 to 65535"
    if not _HOST.match(host):
        return f"'{host}' is not a host name or address"
    return ""


class ServerConfig(_Section):
    """``shipyard serve``: request limits, background work, tokens and logs."""

    max_body_mb: PositiveNumber = 10.0
    max_rows: Annotated[int, Field(ge=1)] = 10_000
    alias_poll_s: PositiveNumber = 2.0
    log_flush_s: PositiveNumber = 5.0
    log_max_rows: Annotated[int, Field(ge=1)] = 10_000
    drain_s: Annotated[float, Field(ge=0)] = 5.0
    require_token: bool = False
    dashboard: bool = True  # /ui: the web dashboard's pages (reads follow require_token)
    access_log: bool = True
    monitor_every: Duration | None = None
    public: bool = False
    cors_origins: list[Annotated[str, BeforeValidator(_origin)]] = Field(default_factory=list)
    # slow and idle clients (serving/connections.py); None: from the descriptor limit
    header_timeout_s: PositiveNumber = 10.0
    body_timeout_s: PositiveNumber = 30.0
    keep_alive_s: PositiveNumber = 5.0
    max_connections: Annotated[int, Field(ge=1)] | None = None
    # refuse to load a version trained with other major/minor package versions (models/environment.py)
    strict_environment: bool = False


class WorkerConfig(_Section):
    """``shipyard worker``: the one process per project that monitors and retrains."""

    tick_s: PositiveNumber = 5.0  # how often it looks for work
    lease_s: Annotated[float, Field(ge=5.0)] = 30.0  # another worker takes over after this
    monitor_every: Duration | None = None  # monitoring of every model (default: server's)


class ProjectConfig(_Section):
    """The whole project file, ``shipyard.yaml``."""

    project: Name
    storage: StorageConfig = Field(default_factory=StorageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    datasets: dict[Name, DatasetConfig] = Field(default_factory=dict)
    models: dict[Name, ModelConfig] = Field(default_factory=dict)
