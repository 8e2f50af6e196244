"""Scale-out on one machine: `shipyard serve` replicas behind nginx (``scale_cluster.py``),
sharing one database and one object store, driven by client threads through nginx.

What ``make scale-demo`` runs (``scripts/scale_demo.py``) and what the scale-out test
asserts on (``tests/serving/test_scale_out.py``). Every process listens on 127.0.0.1.

The scenario (:func:`run_scenario`), under continuous load through nginx:

1. promote a new champion: each replica follows within ``server.alias_poll_s``;
2. ``kill -9`` one replica: nginx routes around it (``proxy_next_upstream`` on errors,
   passive health with ``max_fails``/``fail_timeout``); only requests in flight on it fail,
   and only the rows it had not flushed yet (``server.log_flush_s``) are missing from the log;
3. restart it: it refuses connections until its models are loaded, then rejoins;
4. read the prediction log back: every answered request exactly once, but the lost ones;
   ``shipyard monitor`` over it: one alert per problem, however many replicas wrote it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from scale_cluster import SHIPYARD, Replica, cluster

MODEL = "risk"
ALIAS_POLL_S = 0.5
LOG_FLUSH_S = 1.0

PROJECT = f"""\
project: scale-out
server:
  alias_poll_s: {ALIAS_POLL_S}
  log_flush_s: {LOG_FLUSH_S}
  drain_s: 1
  access_log: false
datasets:
  loans:
    target: defaulted
    columns:
      amount: {{type: float, min: 0, max: 10000000}}
      age: {{type: int, min: 18, max: 120}}
      country: {{type: category, categories: [DE, FR, PL, US]}}
      defaulted: {{type: bool}}
models:
  {MODEL}:
    owner: {{name: risk-team, email: risk@example.com}}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    latency_budget_ms: 5000
    monitoring: {{window: 1h}}
    alerts:
      - {{name: drift, when: drift}}
"""
"""One model with one alert rule (drift); short alias poll and log flush so that the
scenario's bounds (``alias_poll_s`` + 2 s, ``log_flush_s``) are seconds, not minutes."""


def loans(n: int, seed: int, *, shift: float = 0.0) -> Any:
    """``n`` rows of the loans dataset; ``shift`` scales amounts up (drift)."""
    import polars as pl

    rng = np.random.default_rng(seed)
    amount = rng.lognormal(9, 0.6, n) * (1 + shift)
    age = rng.integers(18, 80, n)
    country = rng.choice(["DE", "FR", "PL", "US"], n, p=[0.4, 0.3, 0.2, 0.1])
    score = amount / 40_000 + (age < 30) * 0.5 + rng.normal(0, 0.3, n)
    return pl.DataFrame(
        {"amount": amount, "age": age, "country": country, "defaulted": score > 0.7}
    )


def make_project(folder: Path) -> tuple[int, int]:
    """The project in ``folder`` on the stores ``SHIPYARD_DATABASE_URL`` and
    ``SHIPYARD_ARTIFACTS_URL`` name: a dataset version, v1 (champion) and v2 of the model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import shipyard

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT)
    frame = loans(3000, 0)
    X, y = frame.drop("defaulted").to_pandas(), frame["defaulted"].to_numpy()
    with shipyard.open(folder) as project:
        data = project.ingest("loans", frame).version.ref
        versions = []
        for c in (1.0, 0.05):
            pipeline = make_pipeline(
                ColumnTransformer(
                    [
                        ("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                        ("numbers", StandardScaler(), ["amount", "age"]),
                    ]
                ),
                LogisticRegression(C=c),
            ).fit(X, y)
            versions.append(project.register(pipeline, MODEL, dataset=data))
        project.models.alias(versions[0].ref, "champion")
    return versions[0].version, versions[1].version


# -- the load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request through nginx: when it went and came back (monotonic), its status, the
    replica that answered (``upstream``; all it tried, comma-separated), the version, its ids."""

    sent: float
    done: float
    status: int | str
    upstream: str
    version: int | None = None
    ids: tuple[str, ...] = ()

    @property
    def answered_by(self) -> str:
        return self.upstream.split(",")[-1].strip()


@dataclass
class Load:
    """``threads`` clients, each sending one single-row request after another through ``url``
    (drifted rows: the problem monitoring has to find) until :meth:`stop`."""

    url: str
    threads: int = 3
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        rows = loans(2000, 7, shift=0.6).drop("defaulted").to_dicts()
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(rows[index :: self.threads],))
            thread.start()
            self._threads.append(thread)

    def _run(self, rows: list[dict[str, Any]]) -> None:
        path = f"{self.url}/v1/models/{MODEL}/predict"
        with httpx.Client(timeout=60) as client:
            i = 0
            while not self._stop.is_set():
                row = rows[i % len(rows)]
                i += 1
                sent = time.monotonic()
                upstream = ""
                try:
                    # streamed, so that a body cut off (the replica killed between its
                    # header and its body: nginx closes the connection) still says who
                    with client.stream("POST", path, json=row) as response:
                        upstream = response.headers.get("x-upstream", "")
                        response.read()
                except httpx.HTTPError as exc:
                    failed = Answer(sent, time.monotonic(), type(exc).__name__, upstream)
                    self.answers.append(failed)
                    continue
                done = time.monotonic()
                if response.status_code != 200:
                    self.answers.append(Answer(sent, done, response.status_code, upstream))
                    continue
                body = response.json()
                self.answers.append(
                    Answer(
                        sent, done, 200, upstream, body["version"], tuple(body["prediction_ids"])
                    )
                )

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def since(self, moment: float) -> list[Answer]:
        return [a for a in list(self.answers) if a.sent >= moment]


# -- the scenario -------------------------------------------------------------------------


@dataclass
class Report:
    """What the scenario saw; :func:`describe` prints it, the test asserts on it."""

    old: int = 0
    new: int = 0
    requests: int = 0
    failed: list[Answer] = field(default_factory=list)
    answered_by: dict[str, int] = field(default_factory=dict)
    switch_s: dict[str, float] = field(default_factory=dict)
    switch_asked: list[str] = field(default_factory=list)  # prediction ids of those checks
    old_after_switch: int = 0
    slowest_s: float = 0.0
    slow: int = 0
    slow_during_restart: int = 0
    killed: str = ""
    failed_elsewhere: list[Answer] = field(default_factory=list)
    sent_to_dead: list[Answer] = field(default_factory=list)
    dead_at: float = 0.0
    in_flight_at_kill: int = 0
    answered_by_killed_after_kill: int = 0
    readyz_while_starting: list[str] = field(default_factory=list)
    restart_ready_s: float = 0.0
    rejoined: int = 0
    rejoined_versions: set[int | None] = field(default_factory=set)
    logged: int = 0
    duplicates: int = 0
    unanswered_rows: int = 0
    lost: int = 0
    lost_from: set[str] = field(default_factory=set)
    lost_oldest_s: float = 0.0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alerts_after_second_run: list[dict[str, Any]] = field(default_factory=list)


def run_scenario(folder: Path, *, threads: int = 3, say: Any = print) -> Report:
    """The whole scenario on the project ``make_project`` wrote in ``folder``."""
    import shipyard
    from shipyard.predlog import PREDICTIONS, read_rows

    report = Report()
    report.old, report.new = _versions(folder)
    started = datetime.now(UTC) - timedelta(minutes=1)
    say("starting 3 replicas and nginx ...")
    with cluster(folder, 3, model=MODEL) as (nodes, balancer):
        say(f"nginx on {balancer.url} -> {', '.join(n.address for n in nodes)}")
        load = Load(balancer.url, threads)
        load.start()
        try:
            time.sleep(2)
            # 1. a new champion: each replica follows within alias_poll_s
            say(f"promoting {MODEL}@{report.new} to champion under load ...")
            with shipyard.open(folder) as project:
                promoted = time.monotonic()
                project.promote(f"{MODEL}@{report.new}", force=True, reason="scale-out demo")
            report.switch_s, report.switch_asked = _switch_times(nodes, report.new, promoted)
            switched = promoted + max(report.switch_s.values())
            report.old_after_switch = sum(
                1 for a in load.since(switched) if a.status == 200 and a.version != report.new
            )
            time.sleep(1.5)
            # 2. kill -9 one replica
            victim = nodes[0]
            report.killed = victim.address
            say(f"kill -9 replica 0 ({victim.address}) ...")
            killed_at = time.monotonic()
            victim.kill9()
            report.dead_at = dead_at = time.monotonic()
            time.sleep(3)
            answers = list(load.answers)
            report.in_flight_at_kill = sum(  # sent to it before it died, not back yet
                1
                for a in answers
                if a.sent <= dead_at and a.done >= killed_at and victim.address in a.upstream
            )
            # what nginx sent to it before it noticed the death: each client's request in
            # flight, and at most one more per client on a connection nginx had kept open
            # to it (a POST already sent is not sent again: nginx answers 502)
            report.sent_to_dead = [
                a
                for a in answers
                if a.status != 200 and a.answered_by == victim.address and a.done >= killed_at
            ]
            report.failed_elsewhere = [
                a for a in answers if a.status != 200 and a not in report.sent_to_dead
            ]
            report.answered_by_killed_after_kill = sum(
                1
                for a in answers
                if a.sent > dead_at and a.status == 200 and a.answered_by == victim.address
            )
            # 3. restart it: nothing answered before its models are in, then it rejoins
            say("restarting it ...")
            restarted = time.monotonic()
            victim.start()
            seen: list[str] = []
            while (state := victim.readyz(timeout=2)) != "200":
                if not seen or seen[-1] != state:
                    seen.append(state)
                if time.monotonic() - restarted > 120:
                    raise RuntimeError(
                        f"the restarted replica never became ready; see {victim.log}"
                    )
                time.sleep(0.1)
            report.readyz_while_starting = seen
            ready_at = time.monotonic()
            report.restart_ready_s = ready_at - restarted
            deadline = time.monotonic() + 30
            back: list[Answer] = []
            while time.monotonic() < deadline:
                back = [a for a in load.since(restarted) if a.answered_by == victim.address]
                if len(back) >= 20:
                    break
                time.sleep(0.2)
            time.sleep(1)
        finally:
            load.stop()
        back = [a for a in load.since(restarted) if a.answered_by == victim.address]
        report.rejoined = len(back)
        report.rejoined_versions = {a.version for a in back}
        say("stopping (SIGTERM: each replica flushes its log) ...")
    answers = load.answers
    report.requests = len(answers)
    report.failed = [a for a in answers if a.status != 200]
    report.answered_by = dict(Counter(a.answered_by for a in answers if a.status == 200))
    report.slowest_s = max(a.done - a.sent for a in answers)
    report.slow = sum(1 for a in answers if a.done - a.sent > 1)
    report.slow_during_restart = sum(
        1 for a in answers if a.done - a.sent > 1 and restarted <= a.sent <= ready_at
    )
    # 4. the log: every answered request exactly once, but the killed replica's unflushed rows
    with shipyard.open(folder) as project:
        rows = read_rows(
            project.artifacts,
            PREDICTIONS,
            MODEL,
            started,
            datetime.now(UTC) + timedelta(minutes=1),
            columns=["prediction_id"],
        )
    logged = Counter(rows["prediction_id"].to_list())
    report.logged = len(logged)
    report.duplicates = sum(n - 1 for n in logged.values() if n > 1)
    given = {i: a for a in answers if a.status == 200 for i in a.ids}
    report.unanswered_rows = sum(
        1 for i in logged if i not in given and i not in report.switch_asked
    )
    lost = [a for i, a in given.items() if i not in logged]
    report.lost = len(lost)
    report.lost_from = {a.answered_by for a in lost}
    report.lost_oldest_s = max((killed_at - a.done for a in lost), default=0.0)
    # ... and monitoring over all replicas' segments: one alert per problem
    report.alerts = _monitor(folder, cli=True)
    report.alerts_after_second_run = _monitor(folder, cli=False)
    return report


def _versions(folder: Path) -> tuple[int, int]:
    import shipyard

    with shipyard.open(folder) as project:
        champion = project.models.registry.aliases(MODEL)["champion"]
        newest = max(v.version for v in project.models.registry.versions(MODEL))
    return champion, newest


def _switch_times(
    nodes: list[Replica], version: int, since: float
) -> tuple[dict[str, float], list[str]]:
    """Seconds from ``since`` until each replica, asked directly, answers with ``version``;
    and the prediction ids of those direct answers (they are logged too)."""
    row = loans(1, 1).drop("defaulted").to_dicts()[0]
    times: dict[str, float] = {}
    ids: list[str] = []
    deadline = since + 60
    with httpx.Client(timeout=10) as client:
        while len(times) < len(nodes) and time.monotonic() < deadline:
            for node in nodes:
                if node.address in times:
                    continue
                answer = client.post(f"{node.url}/v1/models/{MODEL}/predict", json=row)
                ids += answer.json()["prediction_ids"]
                if answer.headers.get("x-shipyard-version") == str(version):
                    times[node.address] = time.monotonic() - since
            time.sleep(0.02)
    if len(times) < len(nodes):
        raise RuntimeError(f"not every replica switched to v{version} in 60 s: {times}")
    return times, ids


def _monitor(folder: Path, *, cli: bool) -> list[dict[str, Any]]:
    """A monitoring run over every replica's segments (``shipyard monitor``, or the API as a
    replica's background monitoring calls it), then every alert of the model so far."""
    import shipyard

    if cli:
        run = subprocess.run(
            [*SHIPYARD, "-C", str(folder), "monitor", MODEL, "--no-notify", "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if run.returncode != 0:
            raise RuntimeError(f"shipyard monitor failed: {run.stderr.strip()}")
    with shipyard.open(folder) as project:
        if not cli:
            project.monitor(MODEL, notify=False)
        return [a.as_dict() for a in project.monitoring.alerts.list(model=MODEL, every=True)]


def describe(report: Report, *, say: Any = print) -> None:
    """The report, in sentences."""
    ok = report.requests - len(report.failed)
    say(f"requests through nginx: {report.requests} ({ok} answered, {len(report.failed)} failed)")
    say(
        f"  slowest answer {report.slowest_s:.2f} s; {report.slow} took over 1 s, "
        f"{report.slow_during_restart} of them sent while a replica was starting"
    )
    say(
        "  answered per replica: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.answered_by.items()))
    )
    say(
        f"promotion v{report.old} -> v{report.new}: replicas answered with v{report.new} after "
        + ", ".join(f"{s:.2f} s" for s in report.switch_s.values())
        + f" (bound: alias_poll_s {ALIAS_POLL_S} s + 2 s); "
        f"answers with another version after that: {report.old_after_switch}"
    )
    failed = Counter(str(a.status) for a in report.failed)
    say(
        f"kill -9 {report.killed}: {report.in_flight_at_kill} request(s) were in flight on it; "
        f"failed requests: {len(report.failed)} {dict(failed) or ''} "
        f"({len(report.sent_to_dead)} sent to it by nginx, "
        f"{sum(1 for a in report.sent_to_dead if a.sent > report.dead_at)} of them after it died; "
        f"{len(report.failed_elsewhere)} elsewhere); answered by it after "
        f"the kill: {report.answered_by_killed_after_kill}"
    )
    say(
        f"restart: /readyz said {' -> '.join(report.readyz_while_starting) or '-'} -> 200 after "
        f"{report.restart_ready_s:.1f} s; then it answered {report.rejoined} requests "
        f"(versions {sorted(v for v in report.rejoined_versions if v is not None)})"
    )
    say(
        f"prediction log: {report.logged} rows; duplicates {report.duplicates}; rows no client "
        f"got {report.unanswered_rows}; answered but not logged {report.lost}"
        + (
            f" (all from {', '.join(sorted(report.lost_from))}, answered in the last "
            f"{report.lost_oldest_s:.2f} s before the kill; log_flush_s is {LOG_FLUSH_S} s)"
            if report.lost
            else ""
        )
    )
    rules = Counter(a["rule"] for a in report.alerts)
    say(
        f"shipyard monitor over every replica's segments: {len(report.alerts)} alert(s) "
        f"{dict(rules)}; after a second run: {len(report.alerts_after_second_run)}"
    )
