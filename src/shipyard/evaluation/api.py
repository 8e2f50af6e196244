"""The evaluation stage's API: evaluate a version, keep the result, gate promotion on it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from shipyard.config import ProjectConfig
from shipyard.data import Datasets
from shipyard.data.api import Progress
from shipyard.errors import ConfigError, DataError, NotFoundError, ShipyardError
from shipyard.models import Models, ModelVersion
from shipyard.storage import ArtifactStore, MetadataStore
from shipyard.training.run import split

from .comparison import VersionComparison, compare_versions
from .holdout import (
    NO_HOLDOUT,
    RECORDED,
    Holdout,
    as_polars,
    labelled_rows,
    parquet,
    read_parquet,
    shared_rows,
    typed,
)
from .html import render
from .records import Evaluation, EvaluationSummary
from .report import EvaluationReport
from .repository import EvaluationStore
from .run import evaluate

__all__ = ["Evaluation", "EvaluationSummary", "Evaluations", "GateError"]


class GateError(ShipyardError):
    """A promotion the gates refuse: the version's evaluation failed or is missing."""

    http_status = 409


class Evaluations:
    """Evaluate model versions and promote only those that pass."""

    def __init__(
        self,
        config: ProjectConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        data: Datasets,
        models: Models,
    ) -> None:
        self._config = config
        self.store = EvaluationStore(metadata)
        self._artifacts = artifacts
        self._data = data
        self._models = models

    def evaluate(
        self, ref: str, *, data: str | None = None, progress: Progress | None = None
    ) -> Evaluation:
        """Run the model's evaluation spec on ``ref``; store the report; return it.

        The rows are the version's recorded holdout (its training split, or what it was
        registered with), or ``data`` (a dataset version named now); without either, its
        dataset version, and the report says these rows may be ones it trained on.
        ``progress`` is called with each step's name.
        """
        step = progress or _silent
        version = self._models.resolve(ref)
        model = self._models.config(version.model)
        dataset = self._data.config(model.dataset)
        target = dataset.target
        assert target is not None
        step(f"loading {version.ref}")
        predictor = self._models.load(version.ref)
        step("reading the rows to evaluate on")
        frame, holdout = self._rows(version, data, target, predictor.classes)
        _probe(predictor, frame[model.features], version.ref, holdout.rows_from)
        champion = self._champion(version)
        golden = None
        if model.evaluation.golden is not None:
            golden = self._data.load(model.evaluation.golden.dataset).to_pandas()
        step(f"scoring {len(frame):,} rows: metrics, gates, slices, behaviour, latency")
        report = evaluate(
            predictor,
            frame,
            model,
            target,
            ref=(version.model, version.version),
            dataset=holdout.rows_from,
            champion=(champion.ref, self._models.load(champion.ref)) if champion else None,
            golden=golden,
            holdout=holdout,
            is_champion=self._is_champion(version),
        )
        step("writing the report")
        return self._keep(report)

    def holdout(self, version: ModelVersion) -> tuple[Any, Any, Holdout]:
        """The labelled rows ``version`` is scored on (pandas features, labels) and what they
        are: what monitoring calibrates the model's probabilities on."""
        model = self._models.config(version.model)
        target = self._data.config(model.dataset).target
        if target is None:
            raise ConfigError(f"dataset '{model.dataset}' declares no target: no labelled rows")
        frame, holdout = self._rows(version, None, target, version.classes)
        return frame[model.features], frame[target].to_numpy(), holdout

    def _frame(self, version: ModelVersion, data: str | None, target: str) -> tuple[Any, str]:
        """The rows to evaluate on (pandas), and what they are in words."""
        frame, holdout = self._rows(version, data, target, version.classes)
        return frame, holdout.rows_from

    def _rows(
        self, version: ModelVersion, data: str | None, target: str, classes: list[Any] | None
    ) -> tuple[Any, Holdout]:
        """The rows to evaluate on: ``data`` whole, the recorded holdout, or the dataset version."""
        model = self._models.config(version.model)
        allowed = model.evaluation.allow_unrecorded_holdout

        def checked(rows: Any, where: str, hint: str | None = None, rare: bool = False) -> Any:
            return labelled_rows(
                rows, features=model.features, target=target, task=model.task,
                classes=classes, where=where, hint=hint, rare_unknown=rare,
            )  # fmt: skip

        if data is not None:
            chosen = self._data.show(data)
            hint = f"evaluate on a version of '{model.dataset}' (e.g. {model.dataset}@latest)"
            rows = checked(self._data.load(chosen.ref), chosen.ref, hint)
            return self._apart(rows, version, chosen.ref, "named with --data", allowed, "data")
        recorded = version.training.get("holdout")
        if isinstance(recorded, dict) and recorded.get("kind") == "dataset":
            ref = str(recorded["ref"])
            rows = checked(self._data.load(ref), f"the holdout {ref}")
            said = f"recorded as the holdout when {version.ref} was registered"
            return self._apart(rows, version, ref, said, allowed, "dataset")
        if isinstance(recorded, dict) and recorded.get("kind") == "frame":
            where = f"the holdout recorded with {version.ref}"
            rows = checked(read_parquet(self._artifacts.get(str(recorded["artifact"]))), where)
            return rows.to_pandas(), Holdout(
                "frame", f"{where} ({rows.height:,} rows)",
                f"{rows.height:,} rows handed over as the holdout when {version.ref} was "
                f"registered (sha256 {str(recorded['sha256'])[:12]})",
            )  # fmt: skip
        if version.dataset is None:
            raise ConfigError(
                f"{version.ref} records no dataset version and no holdout, so there are no rows "
                "to evaluate it on",
                hint=f"name some: shipyard evaluate {version.ref} --data {model.dataset}@latest",
            )
        split_rule = version.training.get("split")
        if version.source == "train" and isinstance(split_rule, dict):
            selection = version.training.get("selection")
            # trained on a selection of rows: its holdout is drawn from those
            where = f"{version.dataset} (the rows {version.ref} was trained on)"
            source = self._data.rows(selection) if selection else self._data.load(version.dataset)
            rows = checked(source, where, rare=True)
            _, kept = split(
                rows,
                split_rule.get("strategy", model.split.strategy),
                split_rule.get("holdout", model.split.holdout),
                split_rule.get("seed", model.split.seed),
                self._data.config(model.dataset).timestamp,
            )
            return rows[kept].to_pandas(), Holdout(
                "split", f"{version.dataset} (holdout)",
                f"{len(kept):,} rows of {version.dataset} shipyard kept apart when training "
                f"({split_rule.get('strategy')} split, {split_rule.get('holdout', 0):.0%})",
            )  # fmt: skip
        rows = checked(self._data.load(version.dataset), version.dataset)
        return rows.to_pandas(), Holdout(
            "none", f"{version.dataset} (no recorded holdout)",
            f"{NO_HOLDOUT} ({version.ref} was registered with {version.dataset} and no holdout=)",
            allowed,
        )  # fmt: skip

    def _apart(
        self, rows: Any, version: ModelVersion, ref: str, said: str, allowed: bool, kind: str
    ) -> tuple[Any, Holdout]:
        """The dataset version ``ref``'s ``rows`` less those of the version the model was
        registered with (rows it may have trained on); none left: no holdout at all."""
        seen = self._data.load(version.dataset) if version.dataset else None
        shared = shared_rows(rows, seen) if seen is not None else None
        count = int(shared.sum()) if shared is not None else 0
        if count == rows.height:
            why = f"every row of {ref} is in {version.dataset}, which {version.ref} was registered with"
            return rows.to_pandas(), Holdout("none", ref, f"{NO_HOLDOUT} ({why})", allowed)
        if not count:
            return rows.to_pandas(), Holdout(kind, _named(ref, kind), f"{ref}, {said}")
        assert shared is not None
        less = f"less the {count:,} rows also in {version.dataset}"
        return rows.filter(~shared).to_pandas(), Holdout(
            kind, f"{_named(ref, kind)} {less}",
            f"{ref}, {said}, {less} (which {version.ref} was registered with): "
            f"{rows.height - count:,} rows scored",
        )  # fmt: skip

    def record_holdout(
        self,
        name: str,
        holdout: Any,
        *,
        dataset: str | None = None,
        classes: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Check ``holdout`` for model ``name`` and keep it; the record for the version's lineage.

        ``holdout`` is a dataset version (``"loans@3"``, recorded by reference) or a pandas
        or polars DataFrame (checked against the dataset's columns and stored as Parquet).
        ``dataset`` is the version the model is registered with: it cannot be its holdout.
        """
        model = self._models.config(name)
        declared = self._data.config(model.dataset)
        target = declared.target
        assert target is not None

        def checked(rows: Any, where: str) -> Any:
            return labelled_rows(
                rows, features=model.features, target=target, task=model.task,
                classes=classes, where=where,
            )  # fmt: skip

        if isinstance(holdout, str):
            chosen = self._data.show(holdout)
            dataset = self._data.show(dataset).ref if dataset is not None else None
            rows = checked(self._data.load(chosen.ref), f"the holdout {chosen.ref}")
            seen = self._data.load(dataset) if dataset is not None else None
            shared = int(shared_rows(rows, seen).sum()) if seen is not None else 0
            if shared == rows.height:
                raise ConfigError(
                    f"holdout={holdout!r}: every row of {chosen.ref} is in {dataset}, the dataset "
                    "version the model is registered with: none was kept apart from training",
                    hint="hand over the held-out rows as a DataFrame (holdout=frame), or name a "
                    "dataset version with rows the model never saw",
                )
            return {"kind": "dataset", "ref": chosen.ref, "content_hash": chosen.content_hash,
                    "rows": rows.height - shared, "shared_with_training": shared}  # fmt: skip
        where = f"the holdout handed over for '{name}'"
        rows = checked(typed(as_polars(holdout), declared.columns, where=where), where)
        stored = self._artifacts.put(parquet(rows), prefix=f"holdouts/{name}", suffix=".parquet")
        return {"kind": "frame", "artifact": stored.key, "sha256": stored.sha256,
                "rows": rows.height, "columns": rows.columns}  # fmt: skip

    def _is_champion(self, version: ModelVersion) -> bool:
        return self._models.registry.aliases(version.model).get("champion") == version.version

    def _champion(self, version: ModelVersion) -> ModelVersion | None:
        pointed = self._models.registry.aliases(version.model).get("champion")
        if pointed is None or pointed == version.version:
            return None
        return self._models.registry.resolve(f"{version.model}@{pointed}")

    def _keep(self, report: EvaluationReport) -> Evaluation:
        prefix = f"evaluations/{report.model}"
        document = json.dumps(report.as_dict(), sort_keys=True, default=_json).encode()
        stored = self._artifacts.put(document, prefix=prefix, suffix=".json")
        page = self._artifacts.put(render(report).encode(), prefix=prefix, suffix=".html")
        row_id = self.store.add(report, report_key=stored.key, html_key=page.key)
        return Evaluation(row_id, report, stored.key, page.key, self._artifacts.link(page.key))

    def latest(self, ref: str) -> EvaluationSummary | None:
        """The newest evaluation of the version ``ref`` names, if any."""
        version = self._models.resolve(ref)
        return self.store.latest(version.model, version.version)

    def history(self, name: str | None = None, *, limit: int = 100) -> list[EvaluationSummary]:
        """The newest ``limit`` evaluations (of model ``name``), newest first."""
        if name is not None:
            self._models.known(name)
        return self.store.history(name, limit=limit)

    def compare(
        self, name: str, versions: list[str | int] | None = None, *, latest: int = 3
    ) -> VersionComparison:
        """Versions of model ``name`` side by side: params, metrics, dataset version and the
        newest evaluation's verdict of each, every differing row marked.

        ``versions``: numbers or aliases (``[3, "champion"]``); by default the champion,
        the challenger and the ``latest`` newest versions.
        """
        _one_line(self._models.known, name)
        registry = self._models.registry
        aliases = registry.aliases(name)
        if versions:
            chosen = [
                _one_line(self._models.resolve, f"{name}@{str(v).lstrip('@')}") for v in versions
            ]
        else:
            every = registry.versions(name)
            if not every:
                raise NotFoundError(
                    f"model '{name}' has no versions yet; train or register one first"
                )
            picked = {v.version for v in every[:latest]}
            picked |= {aliases[a] for a in ("champion", "challenger") if a in aliases}
            chosen = [v for v in every if v.version in picked]
        unique = list({v.version: v for v in chosen}.values())
        found = {v.version: self.store.latest(name, v.version) for v in unique}
        return compare_versions(unique, aliases, found)

    def get(self, evaluation_id: int) -> EvaluationSummary | None:
        """The evaluation with this id, if there is one."""
        return self.store.get(evaluation_id)

    def link(self, key: str) -> str:
        """Where a person opens a stored report (a file path, or the store's URL)."""
        return self._artifacts.link(key)

    def promote(
        self, ref: str, *, to: str = "champion", force: bool = False, reason: str | None = None
    ) -> tuple[int | None, int]:
        """Point alias ``to`` at ``ref`` if its newest evaluation passed (or ``force`` with a reason)."""
        version = self._models.resolve(ref)
        if self._models.registry.aliases(version.model).get(to) == version.version:
            return version.version, version.version  # already there: nothing moves or is audited
        latest = self.latest(version.ref)
        problem = None
        if latest is None:
            problem = f"{version.ref} has not been evaluated"
        elif not latest.passed:
            failed = [f"holdout ({NO_HOLDOUT})" if n == "holdout" else n for n in latest.failed]
            problem = f"the latest evaluation of {version.ref} failed: {', '.join(failed)}"
        if problem and not force:
            override = 'or override with --force --reason "..."'
            hint = (
                f"run 'shipyard evaluate {version.ref}' first; {override}"
                if latest is None
                else f"'shipyard evaluate {version.ref}' shows what failed; {override}"
            )
            if latest is not None and "holdout" in latest.failed:
                hint = (
                    f"register it with holdout=, run 'shipyard evaluate {version.ref} --data "
                    f"DATASET@N' on rows it never saw, or set "
                    f"models.{version.model}.evaluation.allow_unrecorded_holdout: true"
                )
            raise GateError(f"refusing to promote {version.ref} to {to}: {problem}", hint=hint)
        if force and not (reason and reason.strip()):
            raise ConfigError(
                "--force needs --reason: an override is written to the audit log with why"
            )
        # the alias moves and the promotion is audited in one transaction: both or neither
        return self._models.registry.promote(
            version.ref,
            to,
            detail={
                "evaluation": latest.id if latest else None,
                "forced": force,  # asked to; gate_problem says what it overrode, if anything
                "gate_problem": problem,
            },
            reason=reason,
        )


def _one_line(call: Any, ref: str) -> Any:
    """``call(ref)``, its "not found" said in one line: the message, then what to run."""
    try:
        return call(ref)
    except NotFoundError as exc:
        if exc.hint is None:
            raise
        raise NotFoundError(f"{exc.message}; {exc.hint}") from None


def _named(ref: str, kind: str) -> str:
    """What the report says it scored: a recorded holdout is called one, other rows are not."""
    return f"{ref} (holdout)" if kind in RECORDED else ref


def _probe(predictor: Any, features: Any, ref: str, where: str) -> None:
    """Predict once on the rows: a model that cannot score them is a user error, said in one line."""
    try:
        predictor.answer(features)
    except ShipyardError:
        raise
    except Exception as exc:  # the user's model on the user's rows
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise DataError(
            f"{ref} cannot predict on {where}: {type(exc).__name__}: {first}",
            hint="the rows must have the columns and types the model was trained on",
        ) from None


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _silent(_message: str) -> None:
    """The progress callback when nobody listens."""
