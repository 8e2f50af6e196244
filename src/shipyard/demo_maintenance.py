"""The demo's maintenance act: the loop closes, and a bad promotion is undone by itself.

After the monitoring act has paged the owner (drift, ROC AUC), this act does what
``shipyard worker`` would, one tick at a time so nothing depends on timing luck:
the policy's trigger is due → ``retrain`` adds the served requests and their
feedback labels to the dataset as a new version, trains a candidate and evaluates
it → ``challenger`` points at it → a real server on 127.0.0.1 answers drifted
traffic with the champion and shadows every request to the challenger → the
comparison decides and the policy (``promote: auto``) promotes → a hurried fix,
trained on a German extract of the loans (``loans-de``: the registry accepts it,
as it scores every row of the data it is registered with), is promoted by force
→ it cannot score the other countries, the fallback answers, the ``fallback``
alert fires → the guard moves ``champion`` back and tells the owner. ``shipyard
runs list`` and the audit log tell the story.

:func:`prepare_policy` declares that extract, gives the model a latency budget a
busy shared machine can keep (a request's wall time there is mostly waiting for a
CPU: up to a few hundred milliseconds where the model takes ten; the server would
shed or degrade at 50 ms, as it should, and the story would not be told), and
gives it a policy that fits in a minute:
300 shadow requests instead of 2,000, automatic promotion, a 10-minute guard that
watches a ``fallback`` alert (the share of answers from the fallback), a loose
shadow latency limit (the demo shares its machine). The guard period of the good
candidate is passed by moving the maintenance clock (``now``) forward, not by waiting.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .demo_monitoring import WebhookReceiver, send_drifting_traffic
from .maintenance import RetrainRun
from .project import Project
from .serving.app import ServingApp
from .serving.embedded import EmbeddedServer

Step = Callable[[str], None]

MODEL = "default-risk"
FEATURES = ["amount", "age", "country"]
SHADOW_REQUESTS = 300  # compared requests before the decision (the template says 2,000)
SHADOW_CHUNK = 400  # rows sent per round of shadow traffic (in requests of 50 rows)
SHADOW_ROUNDS = 4  # rounds at most (a copy shed under load is sent again in the next)
BAD_REQUESTS = 80  # single-row requests answered (or not) by the bad version
READY_S = 60.0  # how long to wait for the server to load the challenger
GUARD = "fallback"
EXTRACT = "loans-de"  # the hurried fix's data: the German rows of loans
BUDGET_MS = 1000  # a request's wall time on a busy shared machine (the model's own: ~10 ms)

POLICY = [  # (what the template says, what the demo says instead)
    (
        r"latency_budget_ms: 50 +#.*",
        f"latency_budget_ms: {BUDGET_MS}     # the demo: its machine may be busy (the example: 50)",
    ),
    (
        r"(      - \{name: latency, when: latency_p99.*\n)",
        r"\1      - {name: fallback, when: degraded_rate, above: 0.25, severity: critical}"
        "  # the guard watches this\n",
    ),
    (
        r"shadow: \{requests: 2000, max_duration: 1h\}",
        f"shadow: {{requests: {SHADOW_REQUESTS}, max_duration: 1h, max_latency_ratio: 3}}",
    ),
    (r"promote: approve +#.*", "promote: auto             # the demo: when every check passes"),
    (r"guard: \{duration: 1h, alerts: \[auc\]\}", f"guard: {{duration: 10m, alerts: [{GUARD}]}}"),
]


def prepare_policy(project_file: Path) -> None:
    """Make the example model's retraining policy fit the demo (see the module docstring).

    Only the demo's copy changes; each edit must match exactly once, so a changed
    template stops the demo with a clear message instead of running another policy.
    """
    text = project_file.read_text(encoding="utf-8")
    for pattern, replacement in POLICY:
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise RuntimeError(f"the example project file has no '{pattern}' to change")
    text = text.replace(
        "# roll back by itself if this fires within an hour",
        "# the demo: 10 minutes, watching the fallback",
    )
    loans = re.search(r"^  loans:\n((?:    .*\n)+)", text, flags=re.MULTILINE)
    if loans is None:
        raise RuntimeError("the example project file has no 'loans' dataset to extract from")
    extract = f"  {EXTRACT}:  # the demo: German applications only, for a hurried fix\n"
    text = text[: loans.end()] + extract + loans.group(1) + text[loans.end() :]
    project_file.write_text(text, encoding="utf-8")


def maintenance_demo(
    project: Project, receiver: WebhookReceiver, rows: list[dict[str, Any]], step: Step
) -> dict[str, Any]:
    """Close the loop on ``MODEL`` (its champion serves; its alerts fired). ``rows`` are
    clean loan applications the earlier acts have not sent."""
    from .maintenance.triggers import due

    started = datetime.now(UTC)
    first_audit = max((e.id for e in project.audit(limit=1)), default=0)
    paged = [f"{m.get('rule')} ({m.get('status')})" for m in receiver.messages]
    step(f"the owner was paged: {', '.join(paged) or 'nothing'}; the policy retrains on drift, auc")
    trigger = due(project, MODEL) or ("manual", "the demo asks by hand")
    step(f"the worker's trigger check: {trigger[0]} — {trigger[1]}")
    run = project.maintenance.retrain(MODEL, trigger=trigger[0], reason=trigger[1])
    step(_trained(run))
    out: dict[str, Any] = {"trigger": list(trigger), "first_run": run.id}
    if run.state == "shadowing":
        run = _shadow(project, run, rows[: SHADOW_ROUNDS * SHADOW_CHUNK], step)
        step(_compared(run))
    if run.state == "guarding":
        step(f"promoted by {run.decided_by}: champion → {run.candidate_ref}; guard for 10 minutes")
        step("moving the maintenance clock 10 minutes on: no guard alert fired meanwhile")
        run = _pass_guard(project, run)
    step(f"run #{run.id}: {run.state}" + (f" ({run.error})" if run.error else ""))
    if run.state == "promoted":
        out |= _bad_promotion(project, receiver, run, rows[-BAD_REQUESTS:], step)
        if not out["rolled_back"]:
            fired = ", ".join(out["guard_fired"]) or "none"
            out["unfinished"] = (
                f"the guard did not roll back {out['bad_version']} (alerts fired: {fired})"
            )
    else:
        out["unfinished"] = (
            f"retraining run #{run.id} {'is still' if run.active else 'ended'} {run.state} "
            f"({_failed(run)}), so the bad version promoted by force and the guard's rollback "
            "were not shown"
        )
    out["runs"] = [r.as_dict() for r in project.maintenance.runs(MODEL)]
    step("shipyard runs list:")
    for line in runs_table(project.maintenance.runs(MODEL)):
        step("  " + line)
    events = [e for e in reversed(project.audit(limit=100)) if e.id > first_audit]
    out["audit"] = [e.as_dict() for e in events]
    step("the audit log since the alert:")
    for event in events:
        step(f"  #{event.id} {event.action} {event.subject}" + _why(event.reason))
    out["webhook"] = [{"rule": m.get("rule"), "status": m.get("status")} for m in receiver.messages]
    out["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    return out


def runs_table(runs: list[RetrainRun]) -> list[str]:
    """``shipyard runs list`` as lines: id, trigger, candidate, state, who decided, duration."""
    lines = []
    for run in sorted(runs, key=lambda r: r.id):
        was = f" (champion was @{run.champion})" if run.champion is not None else ""
        by = f" by {run.decided_by}" if run.decided_by else ""
        lines.append(
            f"#{run.id} {run.model} {run.trigger}: {run.candidate_ref}{was} → {run.state}{by}, "
            f"{run.duration_s:.0f} s"
        )
    return lines


# -- the steps ---------------------------------------------------------------------------
def _trained(run: RetrainRun) -> str:
    feedback = run.feedback or {}
    added = (
        f"{feedback.get('rows', 0)} served requests with feedback labels → {feedback.get('dataset')}"
        f" ({feedback.get('quarantined', 0)} quarantined)"
        if feedback
        else "no feedback rows"
    )
    gates = run.check("gates") or run.check("vs_champion")
    verdict = f"; evaluation {'passed' if gates and gates.passed else 'failed'}" if gates else ""
    return (
        f"retrain run #{run.id}: {added}; trained {run.candidate_ref} on {run.dataset}{verdict}; "
        f"state {run.state}" + (" (challenger → the candidate)" if run.state == "shadowing" else "")
    )


def _shadow(
    project: Project, run: RetrainRun, rows: list[dict[str, Any]], step: Step
) -> RetrainRun:
    """Serve drifted traffic; the server shadows it to the challenger. One round per server
    start, so its prediction log is flushed when the round ends; then the maintenance tick."""
    for number in range(SHADOW_ROUNDS):
        chunk = rows[number * SHADOW_CHUNK : (number + 1) * SHADOW_CHUNK]
        with Served(project) as (server, client):
            ready = client.wait_for_challenger(run.candidate)
            step(
                f"serving on {server.url}: champion @{run.champion} answers, challenger "
                f"@{run.candidate} {'loaded' if ready else 'loading'} and shadowing every request"
            )
            send_drifting_traffic(client.post_settled, chunk, FEATURES, step)
        if client.resent:
            step(f"{client.resent} request(s) sent again: the server shed their copies (busy)")
        ticked = project.maintenance.tick()
        run = next((r for r in ticked if r.id == run.id), project.maintenance.run(run.id))
        if run.state != "shadowing":
            break
        compared = (run.comparison or {}).get("requests", 0)
        step(f"{compared} of {SHADOW_REQUESTS} requests compared so far; more traffic")
    return run


def _compared(run: RetrainRun) -> str:
    c = run.comparison or {}
    latency = c.get("latency_ms") or {}
    metrics = (
        (c.get("metrics") or {}).get("challenger", {}),
        (c.get("metrics") or {}).get("champion", {}),
    )
    parts = [f"shadow comparison on {c.get('requests', 0)} requests"]
    if c.get("agreement") is not None:
        parts.append(f"agreement {c['agreement']:.0%}")
    if c.get("score_distance") is not None:
        parts.append(f"score distance {c['score_distance']:.3f}")
    if latency.get("p99_ratio") is not None:
        parts.append(f"p99 ratio {latency['p99_ratio']:.2f}")
    if "roc_auc" in metrics[0] and "roc_auc" in metrics[1]:
        parts.append(
            f"roc_auc {metrics[0]['roc_auc']:.3f} vs champion {metrics[1]['roc_auc']:.3f} "
            f"on {c.get('labels', 0)} labels"
        )
    failed = [k.name for k in run.checks if k.passed is False]
    verdict = f"failed: {', '.join(failed)}" if failed else "every check passed"
    return f"{', '.join(parts)}; {verdict} → {run.decision or run.state}"


def _bad_promotion(
    project: Project,
    receiver: WebhookReceiver,
    good: RetrainRun,
    rows: list[dict[str, Any]],
    step: Step,
) -> dict[str, Any]:
    """Promote a version that cannot do its job by force; the guard undoes it."""
    bad = _german_only_model(project)
    step(
        f"a hurried fix, {bad}, trained on {EXTRACT} (German applications only), promoted by force"
    )
    project.promote(bad, force=True, reason="hotfix before the weekend; no time to evaluate")
    guarded = [r for r in project.maintenance.runs(MODEL) if r.state == "guarding"]
    if guarded:
        step(f"run #{guarded[0].id}: {guarded[0].trigger}, guarding for 10 minutes")
    before = len(receiver.messages)
    with Served(project) as (_server, client):
        answers = [client.predict({f: row[f] for f in FEATURES}) for row in rows]
    by_bad = sum(1 for a in answers if a[2] == bad.split("@")[1])
    reasons: dict[str, int] = {}
    for _status, body, _version in answers:
        if body.get("degraded"):
            reasons[body.get("reason") or "?"] = reasons.get(body.get("reason") or "?", 0) + 1
    degraded = sum(reasons.values())
    step(
        f"{len(answers)} requests: {by_bad} answered by {bad}, {degraded} by the fallback "
        f"({', '.join(f'{n} {why}' for why, n in reasons.items())}): it raises on FR, PL, US "
        "and its breaker opens"
    )
    watched = project.monitor(MODEL, rows=len(answers))
    fired = [a.rule for a in watched.alerts if a.state == "firing"]
    step(
        f"monitoring the newest {len(answers)} answers: alert(s) fired: {', '.join(fired) or 'none'}"
    )
    runs = project.maintenance.tick()
    after = next((r for r in runs if r.state == "rolled_back"), None)
    if after is not None:
        step(f"the guard: run #{after.id} rolled_back; champion back to @{after.champion}")
    with Served(project) as (_server, client):
        served = client.predict({f: rows[0][f] for f in FEATURES})[2]
    told = [f"{m.get('rule')} ({m.get('status')})" for m in receiver.messages[before:]]
    step(
        f"the server answers from version {served} again; the owner's webhook got: {'; '.join(told)}"
    )
    return {
        "bad_version": bad,
        "bad_answers": len(answers),
        "bad_degraded": degraded,
        "guard_fired": fired,
        "served_after_rollback": served,
        "rolled_back": after is not None,
        "good_version": good.candidate,
    }


def _german_only_model(project: Project) -> str:
    """A version that refuses every country it has not seen (scikit-learn raises on them),
    registered with the German extract it was trained on (it scores each of its rows)."""
    import polars as pl
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rows = project.data.load("loans@latest").drop_nulls()
    ref = project.ingest(EXTRACT, rows.filter(pl.col("country") == "DE")).version.ref
    german = project.data.load(ref).to_pandas()
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="error"), ["country"]), remainder="passthrough"
        ),
        LogisticRegression(max_iter=1000),
    ).fit(german[FEATURES], german["defaulted"])
    return project.register(model, MODEL, dataset=ref, features=FEATURES).ref


def _pass_guard(project: Project, run: RetrainRun) -> RetrainRun:
    """The maintenance tick as it will be when ``run``'s guard period has passed."""
    guard = project.config.models[MODEL].retrain.guard
    duration = guard.duration if guard else 0.0
    later = (run.promoted_at or datetime.now(UTC)) + timedelta(seconds=duration + 1)
    project.maintenance.tick(now=later)
    return project.maintenance.run(run.id)


def _failed(run: RetrainRun) -> str:
    """What stopped ``run``: its failed checks with their details, or its error."""
    failed = [
        f"{c.name}: {c.detail}" if c.detail else c.name for c in run.checks if c.passed is False
    ]
    return (
        "; ".join(failed) or run.error or ("not decided yet" if run.active else "no check failed")
    )


def _why(reason: str | None) -> str:
    return f" — {reason}" if reason else ""


# -- a server and a client -----------------------------------------------------------------
class Served:
    """``with Served(project) as (server, client)``: the champion (and any challenger) on
    127.0.0.1 until the block ends; stopping flushes the prediction log."""

    def __init__(self, project: Project) -> None:
        self.token = secrets.token_urlsafe(16)
        app = ServingApp(
            project,
            {MODEL: "champion"},
            environ={"SHIPYARD_ADMIN_TOKEN": self.token},
            access_log=False,
        )
        self.server = EmbeddedServer(app)

    def __enter__(self) -> tuple[EmbeddedServer, Client]:
        self.server.start()
        return self.server, Client(self.server.url, self.token)

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()


class Client:
    """urllib, with the answer's version (``X-Shipyard-Version``) kept."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.resent = 0  # predictions sent again because their shadow copy was shed

    def predict(self, body: Any) -> tuple[int, Any, str | None]:
        return self.send(f"/v1/models/{MODEL}/predict", body)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        status, answer, _version = self.send(path, body)
        return status, answer

    def post_settled(self, path: str, body: Any) -> tuple[int, Any]:
        """POST; after a prediction, wait until its shadow copy is answered, and send it again
        if the server shed the copy. Which copies a server sheds (those that would compete
        with a live call) depends on the machine; this way every run of the demo compares
        the same requests, and the next one goes out once the challenger is idle."""
        predicting = path.endswith("/predict")
        shed = self._shadow().get("shed", 0) if predicting else 0
        answer = self.post(path, body)
        for _attempt in range(5):
            if not predicting or answer[0] != 200:
                break
            deadline = time.monotonic() + READY_S
            while self._shadow().get("in_flight") and time.monotonic() < deadline:
                time.sleep(0.01)
            now = self._shadow().get("shed", 0)
            if now == shed:
                break
            shed = now
            self.resent += 1
            answer = self.post(path, body)  # its copy was shed: the same rows again
        return answer

    def _shadow(self) -> dict[str, Any]:
        """The server's count of shadow copies (answered, shed, in flight)."""
        described = self.send(f"/v1/models/{MODEL}")[1]
        return dict((described.get("challenger") or {}).get("shadow") or {})

    def send(self, path: str, body: Any | None = None) -> tuple[int, Any, str | None]:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        )
        for _attempt in range(5):  # a request shed for load is sent again, as clients do
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    version = response.headers.get("X-Shipyard-Version")
                    return response.status, json.loads(response.read()), version
            except urllib.error.HTTPError as exc:
                answer = json.loads(exc.read() or b"{}")
                if exc.code not in (429, 503) or answer.get("code") != "overloaded":
                    return exc.code, answer, exc.headers.get("X-Shipyard-Version")
                time.sleep(min(1.0, float(exc.headers.get("Retry-After") or 1)))
        return 503, {"code": "overloaded"}, None

    def wait_for_challenger(self, version: int | None) -> bool:
        """Until the server says it has loaded ``version`` as the challenger (or ``READY_S``)."""
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            _status, described, _v = self.send(f"/v1/models/{MODEL}")
            if (described.get("challenger") or {}).get("version") == version:
                return True
            if described.get("challenger_error") or "challenger" not in described:
                return False  # it could not load it (said in its log), or it does not say
            time.sleep(0.1)
        return False
