"""``shipyard demo``: the whole lifecycle that exists so far, in a fresh folder.

It grows with every stage until it is the full loop. Today it: writes the
example project file, opens the project (creating and migrating the metadata
database), makes two messy batches of loan applications and ingests them
(validation, quarantine with reasons, two immutable versions), diffs the two
versions, trains the example model twice, registers a third model as a notebook
would, evaluates all three (gates, slices, behavioural tests, latency), shows the
gate refusing the failing ones and promotes the best passing one to champion,
serves it, monitors it (drift and feedback alerts reach the owner's webhook),
closes the loop (``demo_maintenance``: retrain on feedback, shadow, automatic
promotion, a forced bad version rolled back by the guard), and runs the doctor's
checks; every change lands in the audit log. An act that cannot run (no version
passed its checks, so there is no champion to serve) or does not finish its story is
named in ``DemoSummary.skipped`` with the reason: the CLI reports it and exits 1.

Library code: it reports each step through ``on_step`` and prints nothing.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config.example_data import write_loans_batch
from .data import DatasetDiff, IngestResult
from .demo_maintenance import maintenance_demo, prepare_policy
from .demo_monitoring import WebhookReceiver, monitoring_demo, point_owner_at, send_drifting_traffic
from .doctor import DoctorReport, run_doctor
from .errors import ConfigError
from .evaluation import Evaluation, GateError
from .models import ModelVersion
from .project import Project, init_project, open_project
from .serving.app import ServingApp
from .serving.embedded import EmbeddedServer
from .serving.server import pin_threads
from .storage import redact

Step = Callable[[str], None]


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
    serving: dict[str, Any] | None = None
    monitoring: dict[str, Any] | None = None
    maintenance: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)  # "act: why", for each act not done

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
            "serving": self.serving,
            "monitoring": self.monitoring,
            "maintenance": self.maintenance,
            "skipped": self.skipped,
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
    # one native thread per pool, as a serving worker runs its model (--threads 1): the
    # demo's servers run in this process, and on a busy machine OpenMP's waiting threads
    # multiply a single-row prediction's cost (the evaluation's latency check pins its own)
    pin_threads(1)

    step(f"writing the example project file into {folder}")
    project_file = init_project(folder, name="credit-demo")
    receiver = WebhookReceiver()
    step(f"pointing the owner's webhook at a local receiver, {receiver.url}")
    point_owner_at(project_file, receiver.url)
    step("giving default-risk a quick retraining policy: 300 shadowed requests, auto, a guard")
    prepare_policy(project_file)

    with receiver, open_project(folder) as project:
        step(f"opening the metadata database {redact(project.config.storage.database)}")
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

        serving = monitoring = maintenance = None
        skipped = [] if best is not None else _no_champion(evaluated)
        for act in skipped:
            step(f"skipped {act}")
        if best is not None:
            serving = _serving_demo(project, step)
            monitoring = monitoring_demo(project, receiver, step)
            unsent = project.data.load("loans@latest").drop_nulls().slice(900).to_dicts()
            maintenance = maintenance_demo(project, receiver, unsent, step)
            if maintenance.get("unfinished"):
                skipped.append(f"maintenance: {maintenance['unfinished']}")
                step(f"unfinished: {skipped[-1]}")

        step("running the doctor's checks")
        report = run_doctor(project)
        events = [event.as_dict() for event in project.audit(limit=100)]  # all of it
        current = project.models.registry.aliases("default-risk").get("champion")
        champion = f"default-risk@{current}" if current is not None else None

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
        champion=champion,  # the champion now: the maintenance act may have moved it
        schema_revision=revision,
        audit_events=events,
        doctor=report,
        serving=serving,
        monitoring=monitoring,
        maintenance=maintenance,
        skipped=skipped,
    )


def _no_champion(evaluated: list[Evaluation]) -> list[str]:
    """The acts that need a champion, each with why there is none."""
    failed = "; ".join(
        f"{e.report.ref} failed {', '.join(c.name for c in e.report.failed)}" for e in evaluated
    )
    return [
        f"promotion: no version passed its evaluation ({failed}), so there is no champion",
        "serving: no champion to serve",
        "monitoring: no champion was served, so there were no predictions to monitor",
        "maintenance: no champion was served, so there was no alert or feedback to retrain on",
    ]


def _serving_demo(project: Project, step: Step) -> dict[str, Any]:
    """Serve the champion on the loopback and send it traffic: good, bad, and a failing model."""
    token = secrets.token_urlsafe(16)
    app = ServingApp(
        project,
        {"default-risk": "champion"},
        environ={"SHIPYARD_ADMIN_TOKEN": token},
        access_log=False,
    )
    with EmbeddedServer(app) as server:
        step(f"serving default-risk@champion on {server.url}")
        client = _Client(server.url, token)
        rows = project.data.load("loans@latest").drop_nulls().head(900).to_dicts()
        features = ["amount", "age", "country"]
        records = [{f: row[f] for f in features} for row in rows]

        step("sending 100 single-row requests and 5 batches of 20 rows")
        answers = [client.predict(record) for record in records[:100]]
        answers += [client.predict(records[100 + 20 * i : 120 + 20 * i]) for i in range(5)]

        step("sending bad requests: wrong types, malformed JSON, an unknown model")
        bad = [
            client.post(PREDICT, [{"amount": "12,5", "age": 17, "country": "XX"}]),
            client.post(PREDICT, b'{"amount": 1000, "age": '),
            client.post("/v1/models/no-such-model/predict", records[0]),
        ]

        step("injecting a model failure: the fallback chain answers, the breaker opens")
        client.post("/v1/admin/fault", {"model": "default-risk", "mode": "error", "seconds": 60})
        failing = [client.predict(record) for record in records[:5]]  # answered before: cache
        failing += [client.predict(record) for record in records[200:215]]  # new: rules, default
        failing.append(client.predict({"amount": 250000.0, "age": 40, "country": "DE"}))
        breaker_open = client.get("/v1/models/default-risk")[1]["circuit"]

        step("clearing the fault; after the cool-down a probe closes the breaker")
        client.post("/v1/admin/fault", {"model": "default-risk", "mode": "off"})
        time.sleep(project.config.models["default-risk"].serving.breaker.cooldown_s + 0.2)
        recovered = [client.predict(record) for record in records[215:220]]
        breaker_after = client.get("/v1/models/default-risk")[1]["circuit"]

        step("sending ground truth for 100 of the predictions")
        labels = [  # each answered request's id with its row's truth
            {"prediction_id": body["prediction_ids"][0], "label": bool(row["defaulted"])}
            for (status, body), row in zip(answers[:100], rows, strict=False)
            if status == 200
        ]
        feedback = client.post("/v1/models/default-risk/feedback", labels)[1]
        drifting = send_drifting_traffic(client.post, rows[300:900], features, step)
        metrics = client.text("/metrics")

    def paths(batch: list[tuple[int, Any]]) -> dict[str, int]:
        counted: dict[str, int] = {}
        for _status, body in batch:
            for path in body.get("paths") or [body.get("path")] * len(body.get("predictions", [])):
                counted[path] = counted.get(path, 0) + 1
        return counted

    segments = [
        k for k in project.artifacts.list("predictions/default-risk/") if k.endswith(".parquet")
    ]
    return {
        "url": server.url,
        "answered": paths(answers),
        "shed_and_sent_again": client.shed,
        "bad_requests": [
            {"status": status, "error": body.get("error"), "problems": body.get("problems", [])}
            for status, body in bad
        ],
        "while_failing": paths(failing),
        "failure_reasons": sorted({b.get("reason") for _s, b in failing if b.get("reason")}),
        "degraded_example": failing[-1][1],
        "breaker_while_failing": breaker_open,
        "after_recovery": paths(recovered),
        "breaker_after": breaker_after,
        "feedback_accepted": feedback.get("accepted"),
        "drifting": drifting,
        "log_segments": len(segments),
        "metrics": [
            line for line in metrics.splitlines()
            if line.startswith(("shipyard_degraded_total", "shipyard_predictions_total"))
        ],
    }  # fmt: skip


PREDICT = "/v1/models/default-risk/predict"


class _Client:
    """A few lines of urllib: the demo needs no HTTP client library."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.shed = 0  # predictions the server shed for load (and were sent again)
        self.retry_after: str | None = None

    def predict(self, body: Any) -> tuple[int, Any]:
        return self.post(PREDICT, body)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        """POST JSON; a request the server shed for load (429/503 with Retry-After) is sent
        again, as a well-behaved client does (the demo waits at most a second a try)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        for _attempt in range(5):
            request = urllib.request.Request(
                self.url + path,
                data=data,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.token}",
                },
            )
            status, answer = self._send(request)
            if status not in (429, 503) or answer.get("code") != "overloaded":
                break
            self.shed += 1
            time.sleep(min(1.0, float(self.retry_after or 1)))
        return status, answer

    def get(self, path: str) -> tuple[int, Any]:
        return self._send(urllib.request.Request(self.url + path))

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return str(response.read().decode())

    def _send(self, request: urllib.request.Request) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            self.retry_after = exc.headers.get("Retry-After")
            return exc.code, json.loads(exc.read())


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
        model,
        "default-risk",
        dataset=ref,
        features=features,
        metrics={"roc_auc": float(auc)},
        holdout=holdout,  # the rows it never saw: shipyard scores it on them
    )
