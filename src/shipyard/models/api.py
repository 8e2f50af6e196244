"""The models stage's API: what ``project.models`` offers, and what the CLI calls."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config import ModelConfig, ProjectConfig
from shipyard.config.checks import did_you_mean
from shipyard.entrypoints import user_code_on_path
from shipyard.errors import ConfigError, NotFoundError
from shipyard.refs import parse_ref
from shipyard.storage import ArtifactStore, AuditEvent, MetadataStore, redact

from .environment import EnvironmentCheck, check_environment
from .formats import SUFFIX, ModelFormatError, detect_format, dump, load
from .predictor import Predictor, make_predictor
from .registry import ModelVersion, Registry

if TYPE_CHECKING:  # training and registering need the data layer; loading a version does not
    import polars as pl

    from shipyard.data import Datasets
    from shipyard.data.api import Progress
    from shipyard.data.versions import DatasetVersion

    from .fit_check import Expected


@dataclass(frozen=True)
class ModelCard:
    """Everything known about one model version: the version, its model, lineage and history."""

    version: ModelVersion
    owner: dict[str, Any]
    aliases: dict[str, int]
    versions: list[int]
    lineage: list[dict[str, Any]] = field(default_factory=list)
    history: list[AuditEvent] = field(default_factory=list)
    environment: EnvironmentCheck | None = None  # its recorded environment against this one
    # each metric's value in every version that has it, oldest first: [(version, value)]
    metric_history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.version.as_dict(),
            "environment_check": self.environment.as_dict() if self.environment else None,
            "owner": self.owner,
            "aliases": self.aliases,
            "aliases_here": sorted(a for a, v in self.aliases.items() if v == self.version.version),
            "versions": self.versions,
            "lineage": self.lineage,
            "history": [e.as_dict() for e in self.history],
            "metric_history": {
                name: [{"version": v, "value": value} for v, value in points]
                for name, points in self.metric_history.items()
            },
        }


@dataclass(frozen=True)
class ModelSummary:
    """A declared model: owner, versions, aliases, newest version."""

    name: str
    owner: str
    task: str
    versions: int
    aliases: dict[str, int]
    latest: ModelVersion | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "task": self.task,
            "versions": self.versions,
            "aliases": self.aliases,
            "latest": self.latest.as_dict() if self.latest else None,
        }


class Models:
    """Train, register, import, alias and load the models a project declares."""

    def __init__(
        self,
        config: ProjectConfig,
        root: Path,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        data: Datasets | Callable[[], Datasets],
    ) -> None:
        self._config = config
        self._root = root
        self._artifacts = artifacts
        self._datasets = data  # or what opens it when first needed: serving never does
        self.registry = Registry(metadata)

    @property
    def _data(self) -> Datasets:
        if callable(self._datasets):
            self._datasets = self._datasets()
        return self._datasets

    def config(self, name: str) -> ModelConfig:
        """The declared model ``name`` (every model needs an owner, so it must be declared)."""
        model = self._config.models.get(name)
        if model is None:
            names = list(self._config.models)
            declared = ", ".join(names) if names else "none"
            close = did_you_mean(name, names)
            raise NotFoundError(
                f"no model named '{name}' in the project file{close}; declared: {declared}",
                # a typo wants the right name, not a new model declared under the wrong one
                hint=None
                if close
                else f"declare models.{name} (with its owner, task, dataset and features) in shipyard.yaml",
            )
        return model

    def known(self, ref: str) -> str:
        """The model name of ``ref``, if the project declares it or the registry has it;
        else "no such model" (a name with no versions yet is known, just empty)."""
        name, _ = parse_ref(ref, what="model version")
        if name in self._config.models:
            return name
        registered = self.registry.models()
        if name not in registered:
            names = list(dict.fromkeys([*self._config.models, *registered]))
            raise NotFoundError(
                f"no such model '{name}'{did_you_mean(name, names)}; "
                f"models: {', '.join(names) or 'none declared'}",
                hint="see 'shipyard models list'",
            )
        return name

    def resolve(self, ref: str) -> ModelVersion:
        """The version ``ref`` names, for a ref a user typed: an unknown model is "no such
        model" (with the close one), a known one without versions "no versions yet"."""
        self.known(ref)
        return self.registry.resolve(ref)

    def resolve_champion(self, ref: str, *, use: str) -> ModelVersion:
        """The version ``ref`` names, a bare model name being its champion (what ``serve``,
        ``score`` and ``monitor --data`` read); a model without one is refused with the
        fix (``use``: what the caller does with it, "scores with")."""
        if "@" in ref:
            return self.resolve(ref)
        self.known(ref)
        if "champion" not in self.registry.aliases(ref):
            newest = self.registry.versions(ref)
            if not newest:  # "no versions yet; train or register one first"
                return self.resolve(ref)
            example = newest[0].ref
            raise NotFoundError(
                f"model '{ref}' has no champion, which a bare name {use}",
                hint=f"name a version ({example}) or promote one: shipyard promote {example}",
            )
        return self.resolve(f"{ref}@champion")

    # -- making versions -----------------------------------------------------------
    def train(
        self,
        name: str,
        *,
        data: str | None = None,
        params: dict[str, Any] | None = None,
        selection: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> ModelVersion:
        """Train ``name`` on a dataset version (its dataset's latest by default) and register it.

        With ``selection`` (a ``Selection.as_dict()`` from ``project.data.select``), it trains
        on exactly those rows and records the selection in ``training["selection"]``, so the
        version's holdout is drawn from the same rows by the same split rule. ``progress``
        is called with each step's name (loading, fitting, registering).
        """
        from shipyard.training import check_param_names, train

        from .fit_check import check_fit

        step = progress or _silent
        model = self.config(name)
        check_param_names(name, model, params)
        ref = data or (selection["dataset"] if selection else f"{model.dataset}@latest")
        version = self._data.show(ref)
        if version.dataset != model.dataset:
            raise ConfigError(
                f"model '{name}' learns from dataset '{model.dataset}', not '{version.dataset}' ({ref})"
            )
        if selection is not None and self._data.show(selection["dataset"]).ref != version.ref:
            raise ConfigError(
                f"the selection of rows is of {selection['dataset']}, but data names {ref}",
                hint="give one of them, or both naming the same version",
            )
        dataset = self._data.config(model.dataset)
        step(f"loading {version.ref}")
        rows = self._data.load(version.ref) if selection is None else self._data.rows(selection)
        expected = self.expected(name, list(model.features), version, rows=rows)

        def check(estimator: Any) -> None:
            classes = getattr(estimator, "classes_", None)
            plain = (
                [c.item() if hasattr(c, "item") else c for c in classes]
                if classes is not None
                else None
            )
            check_fit(estimator, expected, classes=plain)

        step(f"fitting {name} on {len(rows):,} rows, measuring its holdout")
        run = train(name, model, dataset, rows, root=self._root, params=params, check=check)
        training = run.training if selection is None else {**run.training, "selection": selection}
        step("registering the new version")
        return self.register(
            run.estimator,
            name,
            dataset=version.ref,
            metrics=run.metrics,
            params=run.params,
            classes=run.classes,
            source="train",
            training=training,
            code=run.code,
            environment=run.environment,
        )

    def register(
        self,
        model: Any,
        name: str,
        *,
        dataset: str | None = None,
        metrics: dict[str, float] | None = None,
        params: dict[str, Any] | None = None,
        format: str | None = None,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        source: str = "register",
        training: dict[str, Any] | None = None,
        code: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Store a fitted ``model`` as the next version of ``name``, with what is known of its lineage."""
        from shipyard.data.ingest import schema_hash
        from shipyard.training import code_version
        from shipyard.training import environment as current_environment

        from .fit_check import check_fit

        declared = self.config(name)
        fmt = format or declared.format or detect_format(model)
        if fmt == "pickle" and not declared.trusted_pickle:
            raise ModelFormatError(
                f"model '{name}' is not marked trusted_pickle; refusing to store a pickle",
                hint=f"set models.{name}.trusted_pickle: true, or store it in a safe format",
            )
        given = bool(features)
        features = list(features or declared.features)
        data = dump(model, fmt)
        # what cannot be loaded back (an untrusted type, a broken model) is refused now, not when served
        loaded = load(
            data,
            fmt,
            trusted_types=declared.trusted_types,
            trusted_pickle=True,
            expected_sha256=hashlib.sha256(data).hexdigest(),
            where=f"the new {name} model",
        )
        dataset_version = self._data.show(dataset) if dataset else None
        if classes is None and hasattr(model, "classes_"):
            classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
        # what does not fit the project (features, task, classes, its answers) is refused here
        expected = self.expected(name, features, dataset_version, given=given)
        features = check_fit(
            model,
            expected,
            classes=classes,
            predictor=lambda names: make_predictor(loaded, fmt, names, declared.task, classes),
        )
        artifact = self._artifacts.put(data, prefix=f"models/{name}", suffix=SUFFIX[fmt])
        pending = ModelVersion(
            model=name,
            version=0,
            task=declared.task,
            format=fmt,
            artifact_key=artifact.key,
            sha256=artifact.sha256,
            size=artifact.size,
            features=features,
            classes=classes,
            dataset=dataset_version.ref if dataset_version else None,
            dataset_hash=dataset_version.content_hash if dataset_version else None,
            schema_hash=schema_hash(self._data.config(declared.dataset))
            if declared.dataset in self._config.datasets
            else None,
            params=_jsonable(params or _estimator_params(model)),
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            code=code if code is not None else code_version(self._root),
            environment=environment if environment is not None else current_environment(),
            training=training or {},
            source=source,
            extra=extra or {},
        )
        return self.registry.register(pending, reason=reason)

    def expected(
        self,
        name: str,
        features: list[str],
        version: DatasetVersion | None = None,
        *,
        given: bool = False,
        rows: pl.DataFrame | None = None,
    ) -> Expected:
        """What model ``name`` must fit: ``features`` (``given``: passed as ``features=``),
        its task, its target's values, and up to ``SAMPLE_ROWS`` rows of ``version`` (the
        model's dataset's latest by default) or of ``rows`` when those are at hand."""
        from .fit_check import (
            Expected,
            ModelMismatchError,
            sample_parquet,
            sample_rows,
            target_values,
        )

        declared = self.config(name)
        dataset = self._config.datasets.get(declared.dataset)
        target = dataset.target if dataset else None
        if version is None and rows is None and dataset is not None:
            version = self._data.versions.latest(declared.dataset)
        where = version.ref if version else f"the rows of {declared.dataset}"
        features_from = "features=" if given else f"models.{name}.features"
        wanted = [*features, *([target] if target else [])]
        column: pl.Series | None = None  # the target, every row
        if rows is None and version is not None and version.rows:
            rows, column = sample_parquet(self._artifacts.get(version.data_key), wanted, target)
        elif rows is not None:
            column = rows.get_column(target) if target in rows.columns else None
            rows = sample_rows(rows.select(c for c in dict.fromkeys(wanted) if c in rows.columns))
        if rows is not None:
            missing = [f for f in features if f not in rows.columns]
            if missing:
                raise ModelMismatchError(
                    f"{where} has no column(s) {', '.join(missing)}, which model '{name}' "
                    f"reads ({features_from})",
                    hint="register the model with the features of its dataset",
                )
        schema = dataset.columns.get(target) if dataset and target else None
        return Expected(
            model=name,
            task=declared.task,
            features=list(features),
            features_from=features_from,
            target=target,
            target_values=None if declared.task == "regression" else target_values(schema, column),
            sample=rows.to_pandas() if rows is not None and rows.height else None,
            data=where,
        )

    def import_mlflow(
        self, path: Path, name: str, *, trust_pickle: bool = False, dataset: str | None = None
    ) -> ModelVersion:
        """Import the scikit-learn model of an MLflow directory as the next version of ``name``."""
        from .mlflow_import import read_mlflow

        declared = self.config(name)
        user_code_on_path(self._root)  # a pickled pipeline may name the user's own functions
        imported = read_mlflow(
            path, trust_pickle=trust_pickle, trusted_types=declared.trusted_types
        )
        return self.register(
            imported.estimator,
            name,
            dataset=dataset,
            format="skops",
            features=imported.features,
            source="mlflow",
            extra={"mlflow": imported.metadata, "imported_from": str(Path(path).resolve())},
        )

    # -- using versions -------------------------------------------------------------
    def load(self, ref: str) -> Predictor:
        """The version ``ref`` names, loaded (hash-verified) behind the :class:`Predictor` interface."""
        version = self.registry.resolve(ref)
        declared = self._config.models.get(version.model)
        data = self._artifacts.get(version.artifact_key)
        user_code_on_path(self._root)  # classes and functions of the user's that the model names
        model = load(
            data,
            version.format,
            trusted_types=declared.trusted_types if declared else [],
            trusted_pickle=bool(declared and declared.trusted_pickle),
            expected_sha256=version.sha256,
            where=version.ref,
        )
        return make_predictor(
            model, version.format, version.features, version.task, version.classes
        )

    def alias(self, ref: str, alias: str, *, reason: str | None = None) -> tuple[int | None, int]:
        """Point ``alias`` at ``ref``; (previous version or None, new version).

        Ungated: the entry points move ``champion`` through ``project.promote``, whose
        evaluation gate sits in a stage above this one.
        """
        self.known(ref)
        return self.registry.set_alias(ref, alias, reason=reason)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> int:
        self.config(name)
        return self.registry.delete_alias(name, alias, reason=reason)

    def delete(self, ref: str, *, reason: str | None = None) -> ModelVersion:
        """Delete a version (archived instead while an alias points at it)."""
        self.known(ref)
        return self.registry.delete(ref, reason=reason)

    def card(self, ref: str) -> ModelCard:
        """The model card of ``ref``: owner, versions, aliases, metrics, lineage, audit trail."""
        version = self.resolve(ref)
        declared = self._config.models.get(version.model)
        owner = declared.owner.model_dump(exclude_none=True) if declared else {}
        for channel in ("webhook", "slack"):  # their URLs carry secrets: never shown whole
            if channel in owner:
                owner[channel] = redact(str(owner[channel]))
        versions = self.registry.versions(version.model)
        return ModelCard(
            version=version,
            owner=owner,
            aliases=self.registry.aliases(version.model),
            versions=[v.version for v in versions],
            lineage=self._lineage(version.dataset),
            history=self.registry.history(version.model),
            environment=check_environment(version),
            metric_history=metric_history(versions),
        )

    def summaries(self) -> list[ModelSummary]:
        """Every declared model, and any registered one no longer declared."""
        counts, latest, aliases = self.registry.overview()  # of every model at once
        names = list(dict.fromkeys([*self._config.models, *self.registry.models()]))
        found = []
        for name in names:
            newest = latest.get(name)
            declared = self._config.models.get(name)
            found.append(
                ModelSummary(
                    name,
                    declared.owner.name if declared else "(not declared)",
                    declared.task if declared else newest.task if newest else "",
                    counts.get(name, 0),
                    aliases.get(name, {}),
                    newest,
                )
            )
        return found

    def _lineage(self, ref: str | None) -> list[dict[str, Any]]:
        """The dataset version and every ancestor, each with its sources (files and their sha256)."""
        chain: list[dict[str, Any]] = []
        seen: set[str] = set()
        todo = [ref] if ref else []
        while todo:
            current = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            try:
                version = self._data.show(current)
            except NotFoundError:
                chain.append({"ref": current, "missing": True})
                continue
            chain.append(
                {
                    "ref": version.ref,
                    "content_hash": version.content_hash,
                    "rows": version.rows,
                    "sources": version.sources,
                    "created_at": version.created_at.isoformat(),
                }
            )
            todo += [f"{version.dataset}@{p}" for p in version.parents]
        return chain


def metric_history(versions: list[ModelVersion]) -> dict[str, list[tuple[int, float]]]:
    """Each metric's value in every version that recorded it, oldest version first."""
    history: dict[str, list[tuple[int, float]]] = {}
    for version in sorted(versions, key=lambda v: v.version):
        for name, value in version.metrics.items():
            history.setdefault(name, []).append((version.version, value))
    return history


def _estimator_params(model: Any) -> dict[str, Any]:
    try:
        return dict(model.get_params(deep=False))
    except Exception:
        return {}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Params as JSON can hold them (an estimator inside becomes its class name)."""
    plain: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float | str):
            plain[key] = value
        elif isinstance(value, list | tuple) and all(
            isinstance(v, bool | int | float | str) for v in value
        ):
            plain[key] = list(value)
        else:
            plain[key] = type(value).__name__
    return plain


def _silent(_message: str) -> None:
    """The progress callback when nobody listens."""
