"""The demo's monitoring act: drifting traffic, labels from a changed world, alerts to the owner.

A local webhook receiver stands in for the owner's pager. The demo points the
owner's ``webhook`` at it, sends traffic whose loans are larger and applicants
older than anything in training, sends ground truth in which the model's risk
ranking no longer holds, and runs ``shipyard monitor`` twice: the first run fires
the drift and the ROC AUC alerts (one message each), the second finds them still
firing and sends nothing.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .project import Project

Step = Callable[[str], None]
Post = Callable[[str, Any], tuple[int, Any]]


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    received.append(json.loads(self.rfile.read(length)))
                    self.send_response(204)
                except ValueError:
                    self.send_response(400)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts/risk-team"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def point_owner_at(project_file: Path, url: str) -> None:
    """Give the example model's owner a webhook (the demo's receiver), allowed by name.

    The receiver listens on 127.0.0.1, which alerts may reach only when
    ``alerting.allow_hosts`` lists it: the demo lists exactly that address.
    """
    text = project_file.read_text(encoding="utf-8")
    text, count = re.subn(
        r"owner: \{name: risk-team, file: alerts.jsonl\}",
        f"owner: {{name: risk-team, file: alerts.jsonl, webhook: {url}}}",
        text,
    )
    text, allowed = re.subn(
        r"^alerting:\n",
        "alerting:\n  allow_hosts: [127.0.0.1]     # the demo's webhook receiver, on this machine\n",
        text,
        flags=re.MULTILINE,
    )
    if count != 1 or allowed != 1:  # the template changed: say so, not run without a pager
        raise RuntimeError("the example project file has no risk-team owner or alerting to extend")
    project_file.write_text(text, encoding="utf-8")


def send_drifting_traffic(
    post: Post, rows: list[dict[str, Any]], features: list[str], step: Step
) -> dict[str, int]:
    """Requests from a shifted population, then labels from a world the model no longer fits."""
    step(
        f"sending drifting traffic: {len(rows)} applications, loans 3x larger, applicants 15 years older"
    )
    shifted = [
        {**{f: row[f] for f in features}, "amount": min(row["amount"] * 3, 1_000_000.0),
         "age": min(row["age"] + 15, 120)}
        for row in rows
    ]  # fmt: skip
    labels: list[dict[str, Any]] = []
    for start in range(0, len(shifted), 50):
        status, body = post("/v1/models/default-risk/predict", shifted[start : start + 50])
        if status == 200:  # label the rows of answered batches only, each with its own id
            labels += [
                {"prediction_id": pid, "label": not bool(row["defaulted"])}
                for pid, row in zip(body["prediction_ids"], rows[start : start + 50], strict=True)
            ]
    ids = [label["prediction_id"] for label in labels]
    step("sending their ground truth: in this world the model's risk ranking is reversed")
    status, body = post("/v1/models/default-risk/feedback", labels)
    return {"predictions": len(ids), "labels": int(body.get("accepted", 0)) if status == 202 else 0}


def monitoring_demo(project: Project, receiver: WebhookReceiver, step: Step) -> dict[str, Any]:
    """Run monitoring twice; the owner's webhook must get each alert exactly once."""
    step("monitoring default-risk over the last hour: drift, quality, feedback, latency")
    first = project.monitor("default-risk")
    fired = [a for a in first.alerts if a.state == "firing"]
    after_first = len(receiver.messages)
    step("monitoring again: the alerts still fire, and nobody is paged twice")
    second = project.monitor("default-risk")
    report = first.report
    return {
        "rows": report.rows,
        "reference": report.reference,
        "drifted": report.drifted,
        "verdicts": [
            {"feature": f.feature, "method": f.method, "value": f.value, "drifted": f.drifted}
            for f in report.drift + report.prediction_drift
        ],
        "metrics": report.performance.metrics,
        "labelled": report.performance.labelled,
        "latency_p95": report.service.latency_p95,
        "degraded_rate": report.service.degraded_rate,
        "fired": [{"id": a.id, "rule": a.rule, "message": a.message} for a in fired],
        "webhook_messages": [
            {"status": m["status"], "rule": m["rule"], "severity": m["severity"]}
            for m in receiver.messages
        ],
        "messages_after_second_run": len(receiver.messages) - after_first,
        "second_run_changed": [a.rule for a in second.alerts],
        "report": project.monitoring.link(first.html_key),
        "report_json": project.monitoring.link(first.report_key),
    }
