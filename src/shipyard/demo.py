"""``shipyard demo``: the whole lifecycle that exists so far, in a fresh folder.

It grows with every stage until it is the full loop. Today it: writes the
example project file, opens the project (creating and migrating the metadata
database), makes two messy batches of loan applications and ingests them
(validation, quarantine with reasons, two immutable versions), diffs the two
versions, trains the example model twice, registers a third model as a notebook
would, evaluates all three (gates, slices, behavioural tests, latency), shows the
gate refusing the failing ones and promotes the best passing one to champion,
and runs the doctor's checks; every change lands in the audit log.

Library code: it reports each step through ``on_step`` and prints nothing.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .data import DatasetDiff, IngestResult
from .doctor import DoctorReport, run_doctor
from .errors import ConfigError
from .evaluation import Evaluation, GateError
from .models import ModelVersion
from .project import Project, init_project, open_project

Step = Callable[[str], None]

COUNTRIES = ["DE", "FR", "PL", "US"]


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did, for the CLI to print and tests to check."""

    folder: Path
    project_file: Path
    batches: list[Path]
    ingests: list[IngestResult]
    quarantine_sample: list[dict[str, Any]]
    diff: DatasetDiff
    models: list[ModelVersion]
    evaluations: list[Evaluation]
    refused: list[str]
    champion: str | None
    schema_revision: str | None
    audit_events: list[dict[str, Any]] = field(default_factory=list)
    doctor: DoctorReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "project_file": str(self.project_file),
            "batches": [str(p) for p in self.batches],
            "ingests": [r.as_dict() for r in self.ingests],
            "quarantine_sample": self.quarantine_sample,
            "diff": self.diff.as_dict(),
            "models": [m.as_dict() for m in self.models],
            "evaluations": [
                {
                    "ref": e.report.ref,
                    "passed": e.report.passed,
                    "failed": [c.name for c in e.report.failed],
                    "html": e.html_url,
                }
                for e in self.evaluations
            ],
            "refused": self.refused,
            "champion": self.champion,
            "schema_revision": self.schema_revision,
            "audit_events": self.audit_events,
            "doctor": self.doctor.as_dict() if self.doctor else None,
        }


def demo_folder(folder: Path | None) -> Path:
    """A fresh folder for the demo: ``folder`` if it is new or empty, else a new temp one."""
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(
            f"demo folder {folder} is not empty; the demo only writes into a fresh folder",
            hint="pass a new or empty folder with --dir, or leave --dir out for a temporary one",
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_demo(
    folder: Path, *, rows: int = 2000, seed: int = 7, on_step: Step | None = None
) -> DemoSummary:
    """Run the lifecycle so far in ``folder`` (see :func:`demo_folder`)."""
    step = on_step or (lambda _message: None)

    step(f"writing the example project file into {folder}")
    project_file = init_project(folder, name="credit-demo")

    with open_project(folder) as project:
        step(f"opening the metadata database {project.config.storage.database}")
        revision = project.metadata.schema_revision()
        project.record("project.created", project.name, detail={"file": str(project_file)})

        batches, ingests = [], []
        plan = [(rows, seed), (rows // 2, seed + 1)]
        for number, (size, batch_seed) in enumerate(plan, start=1):
            batch = folder / "data" / f"loans-batch-{number}.csv"
            step(f"making messy batch {number}: {size:,} loan applications")
            write_loans_batch(batch, rows=size, seed=batch_seed, first_id=1 + (number - 1) * rows)
            step(f"ingesting {batch.name}: validate, quarantine bad rows, commit a version")
            ingests.append(project.ingest("loans", batch))
            batches.append(batch)
        latest = ingests[-1].version
        sample = project.data.quarantine(ingests[0].version.ref).head(5).to_dicts()
        step(f"diffing loans@1 and {latest.ref}")
        changes = project.data.diff("loans@1", latest.ref)

        step(
            f"training default-risk on {latest.ref} (credit_model.py, monotonic in amount and age)"
        )
        trained = [project.train("default-risk")]
        step("training it again without the monotonic constraints")
        trained.append(project.train("default-risk", params={"monotonic": False}))
        step("registering a model trained elsewhere, as from a notebook")
        trained.append(_notebook_model(project, latest.ref))
        evaluated = []
        for version in trained:
            step(f"evaluating {version.ref}: gates, slices, behaviour, latency")
            evaluated.append(project.evaluate(version.ref))
        passing = [e for e in evaluated if e.report.passed]
        refused = []
        for candidate in evaluated:
            if candidate.report.passed:
                continue
            try:  # the gate must refuse it: this is the demo showing that it does
                project.promote(candidate.report.ref)
            except GateError as exc:
                refused.append(exc.message)
        best = max(passing, key=lambda e: e.report.metrics.get("roc_auc", 0.0), default=None)
        if best is not None:
            project.promote(best.report.ref, reason="passed every check; best holdout ROC AUC")
            step(f"champion → {best.report.ref}")

        step("running the doctor's checks")
        report = run_doctor(project)
        events = [event.as_dict() for event in project.audit(limit=20)]

    return DemoSummary(
        folder=folder,
        project_file=project_file,
        batches=batches,
        ingests=ingests,
        quarantine_sample=sample,
        diff=changes,
        models=trained,
        evaluations=evaluated,
        refused=refused,
        champion=best.report.ref if best else None,
        schema_revision=revision,
        audit_events=events,
        doctor=report,
    )


def _notebook_model(project: Project, ref: str) -> ModelVersion:
    """What a data scientist would do in a notebook: fit, then hand over in one line."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    frame = project.data.load(ref).drop_nulls().to_pandas()
    holdout = frame.sample(frac=0.2, random_state=0)
    train = frame.drop(holdout.index)
    features = ["amount", "age"]
    model = LogisticRegression(max_iter=1000).fit(train[features], train["defaulted"])
    auc = roc_auc_score(holdout["defaulted"], model.predict_proba(holdout[features])[:, 1])
    return project.register(
        model, "default-risk", dataset=ref, features=features, metrics={"roc_auc": float(auc)}
    )


def write_loans_batch(path: Path, *, rows: int, seed: int, first_id: int = 1) -> int:
    """Write ``rows`` loan applications to a CSV, about 3% of them broken; return how many."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    broken = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["loan_id", "amount", "age", "country", "applied_at", "defaulted"])
        for loan_id in range(first_id, first_id + rows):
            amount = round(rng.lognormvariate(9, 0.8), 2)
            age = rng.randint(18, 90)
            country = rng.choice(COUNTRIES)
            applied = (start + timedelta(minutes=7 * loan_id)).isoformat()
            risk = 0.05 + 0.45 * (amount > 20000) + 0.3 * (age < 25) + 0.1 * (country == "PL")
            defaulted = rng.random() < risk
            row: list[Any] = [loan_id, amount, age, country, applied, str(defaulted).lower()]
            if rng.random() < 0.03:
                broken += 1
                flaw = rng.randrange(5)
                if flaw == 0:
                    row[1] = -amount  # negative amount: below min 0
                elif flaw == 1:
                    row[1] = f"{amount:.2f}".replace(".", ",")  # decimal comma: not a number
                elif flaw == 2:
                    row[2] = rng.choice([7, 150])  # age outside 18..120
                elif flaw == 3:
                    row[3] = rng.choice(["XX", "de", ""])  # unknown or missing country
                else:
                    row[4] = "yesterday"  # not a datetime
            writer.writerow(row)
    return broken
