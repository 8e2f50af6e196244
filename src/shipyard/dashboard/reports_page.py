"""A stored HTML report (``/ui/reports/eval-3``, ``/ui/reports/mon-7``), served through
the dashboard from the artifact store, as ``shipyard reports open`` finds it.

A report is a page of its own with its styles inline; its Content-Security-Policy
allows exactly those ``<style>`` blocks (by their sha256) and still no script and
nothing fetched.
"""

from __future__ import annotations

import base64
import hashlib
import re

from shipyard.errors import NotFoundError

from .http import Request, Response

_STYLE = re.compile(rb"<style>(.*?)</style>", re.S)


def report_page(request: Request) -> Response:
    """The report ``id`` names, or a 404 page that says which report is missing and why."""
    project = request.project
    entry = project.reports.get(request.params["id"])  # NotFoundError: no such report
    key = _html_key(request, entry.id)
    try:
        body = project.artifacts.get(key)
    except Exception as exc:
        raise NotFoundError(
            f"report {entry.id} ({entry.kind} of {entry.subject}) is missing from the "
            f"artifact store: {key} could not be read ({type(exc).__name__})",
            hint=f"run `shipyard {'evaluate' if entry.kind == 'evaluation' else 'monitor'} "
            f"{entry.subject}` again to write a new one",
        ) from None
    return Response(200, body, csp=report_policy(body))


def _html_key(request: Request, report_id: str) -> str:
    kind, _, number = report_id.partition("-")
    project = request.project
    if kind == "eval":
        found = project.evaluations.get(int(number))
        key = found.html_key if found is not None else None
    else:
        run = project.monitoring.run_summary(int(number))
        key = run.html_key if run is not None else None
    if not key:
        raise NotFoundError(f"report {report_id} has no HTML page")
    return key


def report_policy(body: bytes) -> str:
    """The strict policy, with the report's own inline styles allowed by their hashes."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _STYLE.finditer(body)
    )
    return (
        f"default-src 'none'; style-src {hashes or chr(39) + 'none' + chr(39)}; img-src 'self' data:; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
