"""Checks that span keys of the project file, each problem with its own key path.

Pydantic checks each value on its own; these check how values fit together: a
model's dataset exists, its features are columns of that dataset, a column's
bounds make sense for its type, an owner can be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .schema import (
    DRIFT_FIGURES,
    ESTIMATED,
    METRICS,
    QUALITY_FIGURES,
    SERVICE_FIGURES,
    ColumnConfig,
    DatasetConfig,
    ModelConfig,
    ProjectConfig,
    did_you_mean,
)

__all__ = ["Problem", "check_project", "did_you_mean"]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the project file: where, and what."""

    path: Path
    message: str
    line: int | None = None  # where it is, when the path alone does not say


def check_project(config: ProjectConfig) -> list[Problem]:
    """Every cross-key problem in ``config``; an empty list when it is consistent."""
    problems: list[Problem] = _check_cors(config)
    for name, dataset in config.datasets.items():
        problems += _check_dataset(("datasets", name), dataset)
    for name, model in config.models.items():
        problems += _check_model(("models", name), model, config)
    return problems


def _check_cors(config: ProjectConfig) -> list[Problem]:
    """``'*'`` stands alone, and only with tokens: any web page may then call the server."""
    origins = config.server.cors_origins
    if "*" not in origins:
        return []
    path: Path = ("server", "cors_origins")
    if len(origins) > 1:
        return [Problem(path, "'*' already allows every origin: list it alone, or list origins")]
    if not config.server.require_token:
        return [
            Problem(
                path,
                "'*' lets every web page call this server, which is then safe only with "
                "tokens: set server.require_token: true (a page cannot send a token it "
                "does not have), or list the origins whose pages may call",
            )
        ]
    return []


def _check_dataset(path: Path, dataset: DatasetConfig) -> list[Problem]:
    problems: list[Problem] = []
    columns = list(dataset.columns)
    for role in ("key", "timestamp", "target"):
        column = getattr(dataset, role)
        if column is not None and column not in dataset.columns:
            problems.append(
                Problem(
                    (*path, role),
                    f"'{column}' is not a column of this dataset{did_you_mean(column, columns)}; "
                    f"declared columns: {', '.join(columns)}",
                )
            )
    if dataset.timestamp in dataset.columns:
        kind = dataset.columns[dataset.timestamp].type
        if kind != "datetime":
            problems.append(
                Problem(
                    (*path, "columns", dataset.timestamp, "type"),
                    f"the timestamp column must have type 'datetime', got '{kind}'",
                )
            )
    for name, column in dataset.columns.items():
        problems += _check_column((*path, "columns", name), column)
    problems += _check_sources(path, dataset)
    if dataset.on_duplicate_key == "keep_latest" and (
        dataset.key is None or dataset.timestamp is None
    ):
        problems.append(
            Problem(
                (*path, "on_duplicate_key"),
                "'keep_latest' needs both a 'key' and a 'timestamp' column to decide which row wins",
            )
        )
    if dataset.checks.freshness is not None and dataset.timestamp is None:
        problems.append(
            Problem((*path, "checks", "freshness"), "freshness needs a 'timestamp' column")
        )
    bounds = dataset.checks.row_count
    if bounds and bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
        problems.append(
            Problem(
                (*path, "checks", "row_count", "min"),
                f"min ({bounds.min}) is greater than max ({bounds.max})",
            )
        )
    return problems


def _check_sources(path: Path, dataset: DatasetConfig) -> list[Problem]:
    """Each ``source`` header feeds one column, and is not another column's name."""
    problems: list[Problem] = []
    fed: dict[str, str] = {}
    for name, column in dataset.columns.items():
        source, at = column.source, (*path, "columns", name, "source")
        if source is None or source == name:
            continue
        if not source.strip():
            problems.append(Problem(at, "the source header is empty; give the header as it is"))
        elif source in fed:
            problems.append(
                Problem(at, f"'{source}' is already the source of column '{fed[source]}'")
            )
        elif source in dataset.columns:
            problems.append(
                Problem(at, f"'{source}' is another column's name; a header feeds one column")
            )
        fed[source] = name
    return problems


def _check_column(path: Path, column: ColumnConfig) -> list[Problem]:
    problems: list[Problem] = []
    numeric = column.type in ("int", "float")
    for bound in ("min", "max"):
        if getattr(column, bound) is not None and not numeric:
            problems.append(
                Problem(
                    (*path, bound),
                    f"'{bound}' applies to int and float columns, not '{column.type}'",
                )
            )
    if column.min is not None and column.max is not None and column.min > column.max:
        problems.append(
            Problem((*path, "min"), f"min ({column.min:g}) is greater than max ({column.max:g})")
        )
    if column.categories is not None and column.type != "category":
        problems.append(
            Problem(
                (*path, "categories"),
                f"'categories' applies to category columns, not '{column.type}'",
            )
        )
    if column.type == "category" and column.categories is None:
        problems.append(
            Problem((*path, "categories"), "a category column needs its list of allowed categories")
        )
    if column.categories is not None and len(set(column.categories)) != len(column.categories):
        problems.append(Problem((*path, "categories"), "categories are listed more than once"))
    if column.regex is not None and column.type not in ("string", "category"):
        problems.append(
            Problem((*path, "regex"), f"'regex' applies to string columns, not '{column.type}'")
        )
    if column.max_null_fraction is not None and not column.nullable:
        problems.append(
            Problem(
                (*path, "max_null_fraction"),
                "a column with 'nullable: false' tolerates no nulls; drop one of the two",
            )
        )
    return problems


def _check_gates(path: Path, model: ModelConfig, known: list[str]) -> list[Problem]:
    """``gates``: ``METRIC: {min: x}`` / ``{max: y}``, and ``vs_champion: {METRIC: margin}``."""
    problems = []
    for key, rule in model.gates.items():
        if key == "vs_champion":
            problems += [
                Problem((*path, "gates", key, m), _not_a_metric(m, model.task, known))
                for m in rule
                if m not in known
            ]
            continue
        if key not in known:
            problems.append(
                Problem(
                    (*path, "gates", key), _not_a_metric(key, model.task, [*known, "vs_champion"])
                )
            )
            continue
        for bound in rule:
            if bound not in ("min", "max"):
                problems.append(
                    Problem(
                        (*path, "gates", key, bound),
                        f"unknown key{did_you_mean(bound, ['min', 'max'])}; a gate has 'min' and/or 'max'",
                    )
                )
    return problems


def _not_a_metric(name: str, task: str, known: list[str]) -> str:
    return f"'{name}' is not a {task} metric{did_you_mean(name, known)}; known: {', '.join(known)}"


def _check_evaluation(path: Path, model: ModelConfig, known: list[str]) -> list[Problem]:
    evaluation = model.evaluation
    at = (*path, "evaluation")
    problems = [
        Problem((*at, "metrics", i), _not_a_metric(m, model.task, known))
        for i, m in enumerate(evaluation.metrics or [])
        if m not in known
    ]
    for i, piece in enumerate(evaluation.slices):
        if piece.metric not in known:
            problems.append(
                Problem(
                    (*at, "slices", i, "metric"), _not_a_metric(piece.metric, model.task, known)
                )
            )
        if piece.min is None and piece.max is None:
            problems.append(
                Problem(
                    (*at, "slices", i), "a slice needs a 'min' or a 'max' to hold each slice to"
                )
            )
    features = list(model.features)
    for section in ("invariance", "directional"):
        for i, item in enumerate(getattr(evaluation, section)):
            if item.column not in features:
                problems.append(
                    Problem(
                        (*at, section, i, "column"),
                        f"'{item.column}' is not one of the model's features{did_you_mean(item.column, features)}",
                    )
                )
    for i, item in enumerate(evaluation.invariance):
        if (item.values is None) == (item.shift is None):
            problems.append(
                Problem(
                    (*at, "invariance", i),
                    "give either 'values' (to set the column to) or 'shift' (to move it by), not both or neither",
                )
            )
    for i, case in enumerate(evaluation.minimum):
        lacking = [f for f in features if f not in case.case]
        if lacking:
            problems.append(
                Problem(
                    (*at, "minimum", i, "case"),
                    f"the case lacks the feature(s) {', '.join(lacking)}",
                )
            )
    return problems


def _check_fallback(path: Path, model: ModelConfig) -> list[Problem]:
    fallback = model.fallback
    if fallback is None:
        return []
    at = (*path, "fallback")
    answers: list[tuple[Path, Any]] = []
    problems: list[Problem] = []
    if isinstance(fallback.rules, list):
        for index, rule in enumerate(fallback.rules):
            answers.append(((*at, "rules", index), rule))
            for column, conditions in rule.when.items():
                if column not in model.features:
                    problems.append(
                        Problem(
                            (*at, "rules", index, "when", column),
                            f"'{column}' is not a feature of this model"
                            f"{did_you_mean(column, model.features)}",
                        )
                    )
                if "in" in conditions and not isinstance(conditions["in"], list):
                    problems.append(
                        Problem(
                            (*at, "rules", index, "when", column, "in"),
                            "expected a list of values",
                        )
                    )
    if fallback.default is not None:
        answers.append(((*at, "default"), fallback.default))
    for where, answer in answers:
        probabilities = answer.probabilities
        if probabilities is None:
            continue
        if model.task == "regression":
            problems.append(
                Problem((*where, "probabilities"), "a regression model has no probabilities")
            )
        elif any(p < 0 or p > 1 for p in probabilities) or abs(sum(probabilities) - 1) > 1e-6:
            problems.append(
                Problem(
                    (*where, "probabilities"),
                    f"expected probabilities between 0 and 1 that sum to 1, got {probabilities}",
                )
            )
        elif model.task == "binary_classification" and len(probabilities) != 2:
            problems.append(
                Problem(
                    (*where, "probabilities"),
                    f"a binary classifier has 2 classes, got {len(probabilities)} probabilities",
                )
            )
    return problems


def _check_model(path: Path, model: ModelConfig, config: ProjectConfig) -> list[Problem]:
    problems: list[Problem] = []
    owner = model.owner
    if not (owner.email or owner.webhook or owner.slack or owner.file):
        problems.append(
            Problem(
                (*path, "owner"),
                "an owner needs a contact: add 'email', 'webhook', 'slack' or 'file' so alerts reach them",
            )
        )
    known = METRICS[model.task]
    for index, metric in enumerate(model.metrics or []):
        if metric not in known:
            problems.append(
                Problem(
                    (*path, "metrics", index),
                    f"'{metric}' is not a {model.task} metric{did_you_mean(metric, known)}; "
                    f"known: {', '.join(known)}",
                )
            )
    problems += _check_gates(path, model, known)
    problems += _check_evaluation(path, model, known)
    problems += _check_fallback(path, model)
    problems += _check_monitoring(path, model, known, config)
    problems += _check_retrain(path, model, config)
    problems += _check_passthrough(path, model)
    if model.format == "pickle" and not model.trusted_pickle:
        problems.append(
            Problem(
                (*path, "format"),
                "pickle runs code when loaded; set 'trusted_pickle: true' to accept that risk "
                "for this model, or use the default safe format (skops)",
            )
        )
    dataset = config.datasets.get(model.dataset)
    if dataset is None:
        names = list(config.datasets)
        declared = ", ".join(names) if names else "none yet: add one under 'datasets:'"
        problems.append(
            Problem(
                (*path, "dataset"),
                f"no dataset named '{model.dataset}'{did_you_mean(model.dataset, names)}; "
                f"declared datasets: {declared}",
            )
        )
        return problems
    columns = list(dataset.columns)
    seen: set[str] = set()
    for index, feature in enumerate(model.features):
        if feature in seen:
            problems.append(Problem((*path, "features", index), f"'{feature}' is listed twice"))
        seen.add(feature)
        if feature not in dataset.columns:
            problems.append(
                Problem(
                    (*path, "features", index),
                    f"'{feature}' is not a column of dataset '{model.dataset}'"
                    f"{did_you_mean(feature, columns)}",
                )
            )
        elif feature == dataset.target:
            problems.append(
                Problem(
                    (*path, "features", index),
                    f"'{feature}' is the dataset's target; "
                    "a model may not learn from its own answer",
                )
            )
    if model.split.strategy == "time" and dataset.timestamp is None:
        problems.append(
            Problem(
                (*path, "split", "strategy"),
                f"a time split needs a 'timestamp' column; dataset '{model.dataset}' declares none",
            )
        )
    if dataset.target is None:
        problems.append(
            Problem(
                (*path, "dataset"),
                f"dataset '{model.dataset}' declares no 'target' column for this model to learn",
            )
        )
    return problems


def _check_passthrough(path: Path, model: ModelConfig) -> list[Problem]:
    """A passthrough field is not a feature (the model gets it, or the log keeps it aside)."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, name in enumerate(model.passthrough):
        at = (*path, "passthrough", index)
        if name in model.features:
            problems.append(
                Problem(
                    at,
                    f"'{name}' is a feature; a passthrough field is logged, not modelled: "
                    "list it under 'features' or 'passthrough', not both",
                )
            )
        elif name in seen:
            problems.append(Problem(at, f"'{name}' is listed twice"))
        seen.add(name)
    return problems


def _check_monitoring(
    path: Path, model: ModelConfig, known: list[str], config: ProjectConfig
) -> list[Problem]:
    """Drift column settings name features; alert rules watch known figures and routes."""
    problems = []
    for column in model.monitoring.drift.columns:
        if column not in model.features:
            problems.append(
                Problem(
                    (*path, "monitoring", "drift", "columns", column),
                    f"'{column}' is not a feature of this model"
                    f"{did_you_mean(column, model.features)}; features: {', '.join(model.features)}",
                )
            )
    estimated = [f"estimated_{m}" for m in ESTIMATED.get(model.task, [])]
    figures = [*DRIFT_FIGURES, *QUALITY_FIGURES, *SERVICE_FIGURES, *known, *estimated]
    if model.monitoring.estimate == "cbpe" and not estimated:
        problems.append(
            Problem(
                (*path, "monitoring", "estimate"),
                f"cbpe estimates a classifier's metrics from its probabilities; a {model.task} "
                "model has none: remove 'estimate' or set it to 'none'",
            )
        )
    names: set[str] = set()
    for index, rule in enumerate(model.alerts):
        at = (*path, "alerts", index)
        if rule.key in names:
            problems.append(
                Problem((*at, "name"), f"two alerts are called '{rule.key}'; give each a 'name'")
            )
        names.add(rule.key)
        if rule.when not in figures:
            problems.append(
                Problem(
                    (*at, "when"),
                    f"'{rule.when}' is not something an alert can watch"
                    f"{did_you_mean(rule.when, figures)}; known: {', '.join(figures)}",
                )
            )
            continue
        if rule.when in estimated and model.monitoring.estimate != "cbpe":
            problems.append(
                Problem(
                    (*at, "when"),
                    f"'{rule.when}' is an estimate, and this model estimates nothing: set "
                    "monitoring.estimate: cbpe (or watch the realized "
                    f"'{rule.when.removeprefix('estimated_')}')",
                )
            )
        bounds = [b for b in (rule.above, rule.below) if b is not None]
        if rule.when not in DRIFT_FIGURES and len(bounds) != 1:
            problems.append(
                Problem(
                    at,
                    f"an alert on '{rule.when}' needs exactly one of 'above' or 'below' "
                    f"(e.g. {{when: {rule.when}, {'below' if rule.when in [*known, *estimated] else 'above'}: ...}})",
                )
            )
        if rule.when in DRIFT_FIGURES and rule.below is not None:
            problems.append(
                Problem(
                    (*at, "below"),
                    "a drift alert fires when more than 'above' features drift (default 0); "
                    "'below' has no meaning here",
                )
            )
        if isinstance(rule.features, list):
            for feature in rule.features:
                if feature not in model.features:
                    problems.append(
                        Problem(
                            (*at, "features"),
                            f"'{feature}' is not a feature of this model"
                            f"{did_you_mean(feature, model.features)}",
                        )
                    )
        if rule.route is not None and rule.route not in config.alerting.routes:
            routes = list(config.alerting.routes)
            problems.append(
                Problem(
                    (*at, "route"),
                    f"no route named '{rule.route}'{did_you_mean(rule.route, routes)}; "
                    f"declare it under alerting.routes (declared: {', '.join(routes) or 'none'})",
                )
            )
    return problems


def _check_retrain(path: Path, model: ModelConfig, config: ProjectConfig) -> list[Problem]:
    """A retraining policy names this model's alert rules and features, and data that has them."""
    policy = model.retrain
    at = (*path, "retrain")
    problems = []
    rules = [rule.key for rule in model.alerts]
    named = [("on_alerts", policy.on_alerts)]
    if policy.guard is not None:
        named.append(("guard", policy.guard.alerts))
    for key, names in named:
        where = (*at, key) if key == "on_alerts" else (*at, "guard", "alerts")
        for index, name in enumerate(names):
            if name not in rules:
                problems.append(
                    Problem(
                        (*where, index),
                        f"'{name}' is not an alert rule of this model{did_you_mean(name, rules)}; "
                        f"its rules: {', '.join(rules) or 'none: declare them under alerts'}",
                    )
                )
    if policy.every is not None and policy.every < 60:
        problems.append(
            Problem((*at, "every"), "expected a schedule of one minute or more, like '7d' or '12h'")
        )
    if policy.window is not None and policy.window <= 0:
        problems.append(Problem((*at, "window"), "expected a duration above 0, like '90d'"))
    canary = policy.canary
    if canary is not None:
        if policy.shadow is None:
            problems.append(
                Problem(
                    (*at, "canary"),
                    "a canary runs during the comparison period: declare 'shadow' too "
                    "(e.g. shadow: {requests: 2000})",
                )
            )
        sticky = canary.sticky_by
        if sticky is not None and sticky not in model.features:
            problems.append(
                Problem(
                    (*at, "canary", "sticky_by"),
                    f"'{sticky}' is not a feature of this model"
                    f"{did_you_mean(sticky, model.features)}; features: {', '.join(model.features)}",
                )
            )
    dataset = config.datasets.get(model.dataset)
    if dataset is not None and policy.window is not None and dataset.timestamp is None:
        problems.append(
            Problem(
                (*at, "window"),
                f"a sliding window needs a 'timestamp' column; dataset '{model.dataset}' "
                "declares none",
            )
        )
    if dataset is not None and policy.labels == "feedback":
        problems += _check_feedback_key(at, model, dataset)
    return problems


def _check_feedback_key(at: Path, model: ModelConfig, dataset: DatasetConfig) -> list[Problem]:
    """A feedback row is keyed by its request's prediction id (text) unless the key is a
    feature the request carries; any other key column would quarantine every such row."""
    key = dataset.key
    column = dataset.columns.get(key) if key is not None else None
    if key is None or column is None or key in model.features or column.type == "string":
        return []
    kind = column.type
    return [
        Problem(
            (*at, "labels"),
            f"feedback rows are keyed by their request's prediction id (text), but the "
            f"dataset's key '{key}' is {'an' if kind[0] in 'aeiou' else 'a'} {kind} column, "
            "so every such row would be "
            f"quarantined; declare '{key}' as type: string, or make it one of the features",
        )
    ]
