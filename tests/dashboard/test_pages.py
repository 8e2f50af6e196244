"""The overview and model pages of a seeded project: the right values in the right rows.

One project for the module (see ``dashboard_support.seed``), its pages fetched in-process
through the dashboard's ASGI app; every figure checked is read back from the project
itself, so a page that shows the wrong version, owner, count or verdict fails.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from dashboard_support import (
    HOSTILE,
    HOSTILE_CATEGORY,
    OWNER,
    Pages,
    Seeded,
    row_of,
    seed,
    text_of,
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    found = seed(tmp_path_factory.mktemp("dash"))
    yield found
    found.project.close()


@pytest.fixture(scope="module")
def pages(seeded: Seeded) -> Iterator[Pages]:
    client = Pages(seeded.project)
    yield client
    client.close()


@pytest.fixture(scope="module")
def overview(pages: Pages) -> str:
    response = pages.get("/ui")
    assert response.status_code == 200
    return response.text


@pytest.fixture(scope="module")
def risk_page(pages: Pages) -> str:
    response = pages.get("/ui/models/risk")
    assert response.status_code == 200
    return response.text


# -- the overview ---------------------------------------------------------------------


def test_each_model_row_has_its_owner_champion_and_challenger(overview: str) -> None:
    risk = row_of(overview, "data-model", "risk")
    assert (risk["owner"], risk["champion"], risk["challenger"]) == (OWNER, "v1", "v2")
    idle = row_of(overview, "data-model", "idle")
    assert (idle["owner"], idle["champion"], idle["challenger"]) == ("idle-team", "v1", "none")
    quiet = row_of(overview, "data-model", "quiet")
    assert quiet["champion"] == "none"


def test_the_badge_says_why_a_drifting_model_is_not_healthy(overview: str, seeded: Seeded) -> None:
    risk = row_of(overview, "data-model", "risk")
    assert risk["health"] == "warning"
    alert = seeded.project.monitoring.alerts.list(model="risk")[0]
    assert alert.rule == "drift" and alert.state == "firing"
    assert f"alert 'drift' firing (warning): {alert.message}" in risk["reasons"]
    run = seeded.project.monitoring.runs("risk", limit=1)[0]
    drifted = ", ".join(run.summary["drifted"][:4])
    assert f"drift in the last monitoring run: {drifted}" in risk["reasons"]
    share = seeded.degraded / len(seeded.latencies)
    assert f"{share:.1%} of answers degraded (fallback) in the last 15 minutes" in risk["reasons"]


def test_requests_per_minute_and_p99_against_the_budget(overview: str, seeded: Seeded) -> None:
    risk = row_of(overview, "data-model", "risk")
    per_minute = len(seeded.latencies) * 60 / 900
    assert float(risk["rpm"]) == pytest.approx(per_minute, abs=0.01)
    p99 = float(np.quantile(seeded.latencies, 0.99, method="higher"))
    assert risk["p99"] == f"{p99:g} ms / 40 ms budget"
    assert p99 > 40 and f"p99 latency {p99:.0f} ms over the 40 ms budget" in risk["reasons"]
    assert 'class="bad"' in re.search(r'<td class="num p99">(.*?)</td>', overview, re.S)[1]


def test_models_without_traffic_say_what_to_run_next(overview: str) -> None:
    idle = row_of(overview, "data-model", "idle")
    assert idle["health"] == "unknown"
    assert (
        "never served or monitored: `shipyard serve idle`, then `shipyard monitor idle`"
        in (idle["reasons"])
    )
    assert idle["last-run"] == "never"
    quiet = row_of(overview, "data-model", "quiet")
    assert "no champion yet: promote a version with `shipyard promote quiet@N`" in quiet["reasons"]


def test_a_run_over_too_few_rows_is_unknown_with_the_next_command(overview: str) -> None:
    thin = row_of(overview, "data-model", "thin")
    assert thin["health"] == "unknown"
    assert "the last monitoring run saw 5 predictions; drift needs 30" in thin["reasons"]
    assert "`shipyard monitor thin --window 24h`" in thin["reasons"]


def test_the_dataset_row_has_its_latest_version_and_quarantine_share(
    overview: str, seeded: Seeded
) -> None:
    version = seeded.project.data.show("loans@latest")
    row = row_of(overview, "data-dataset", "loans")
    count = len(seeded.project.data.log("loans"))
    assert row["latest"] == f"v{version.version} ({count} version{'' if count == 1 else 's'})"
    assert row["rows"] == f"{version.rows:,}"
    share = version.rows_quarantined / version.rows_received
    assert row["quarantine"] == (
        f"{share:.1%} ({version.rows_quarantined} of {version.rows_received})"
    )


def test_the_counts_above_the_table_add_up(overview: str) -> None:
    badges = re.findall(r'<span class="badge (\w+)">', overview)
    assert sorted(badges) == ["unknown", "unknown", "unknown", "warning"]
    assert "4 models: 0 failing, 1 warning, 3 unknown, 0 healthy." in text_of(overview)


# -- the model page -------------------------------------------------------------------


def test_versions_with_their_aliases_metrics_and_params(risk_page: str, seeded: Seeded) -> None:
    for version in seeded.project.models.registry.versions("risk"):
        row = row_of(risk_page, "data-version", str(version.version))
        cells = re.findall(
            r'<td class="num metric" data-metric="([^"]+)">([^<]*)</td>',
            re.search(rf'<tr data-version="{version.version}">(.*?)</tr>', risk_page, re.S)[1],
        )
        assert dict(cells)["roc_auc"] == f"{version.metrics['roc_auc']:.3f}".rstrip("0")
        assert row["params"] == f"C={version.params['C']}"
    assert row_of(risk_page, "data-version", "1")["#1"] == "champion"
    assert row_of(risk_page, "data-version", "2")["#1"] == "challenger"


def test_lineage_names_the_source_file_and_its_sha256(risk_page: str, seeded: Seeded) -> None:
    digest = hashlib.sha256(seeded.csv.read_bytes()).hexdigest()
    row = row_of(risk_page, "data-dataset-version", "loans@1")
    assert str(seeded.csv) in row["#2"] and digest in row["#2"]


def test_the_latest_run_per_feature_with_threshold_verdict_and_chart(
    risk_page: str, seeded: Seeded
) -> None:
    run = seeded.project.monitoring.runs("risk", limit=1)[0]
    assert f"Latest run #{run.id}" in text_of(risk_page)
    amount = row_of(risk_page, "data-feature", "amount")
    assert amount["verdict"] == "drifted"
    assert float(amount["threshold"]) == 0.1
    assert float(amount["value"]) > 0.1
    figure = re.search(r'<figure data-feature="amount">(.*?)</figure>', risk_page, re.S)
    assert figure, "no distribution chart for amount"
    assert "amount: reference and current" in figure[1]
    assert len(re.findall(r"class=.bar.", figure[1])) >= 4  # reference and current bins


def test_charts_over_time_are_drawn_from_the_runs(risk_page: str, seeded: Seeded) -> None:
    over_time = risk_page.split('id="over-time"', 1)[1].split('id="alerts"', 1)[0]
    assert "amount: drift per run (DRIFTED in the last)" in over_time
    drawn = re.findall(
        r"<circle class='point' data-series='amount' data-x='([^']+)' data-y='([^']+)'",
        over_time,
    )
    stored = [
        (p.at.timestamp(), p.value)
        for p in seeded.project.monitoring.history("risk", kind="drift", feature="amount")
        if p.threshold is not None
    ]
    assert len(stored) == 2
    points = sorted((float(x), float(y)) for x, y in drawn)
    assert [x for x, _ in points] == [x for x, _ in sorted(stored)]
    assert [y for _, y in points] == pytest.approx([y for _, y in sorted(stored)])
    assert "risk: latency per run" in over_time and "budget 40 ms" in over_time
    assert "risk: degraded answers and errors per run" in over_time


def test_alerts_with_owner_and_acknowledgement(risk_page: str, seeded: Seeded) -> None:
    alert = seeded.project.monitoring.alerts.list(model="risk")[0]
    row = row_of(risk_page, "data-alert", str(alert.id))
    assert (row["#1"], row["state"], row["#4"]) == ("drift", "firing", OWNER)
    assert row["ack"] == "no"


def test_the_audit_trail_and_reports(risk_page: str, pages: Pages, seeded: Seeded) -> None:
    text = text_of(risk_page)
    assert "model.promoted risk the first champion" in text
    assert "eval-1" in text and 'href="/ui/reports/eval-1"' in risk_page
    report = pages.get("/ui/reports/eval-1")
    assert report.status_code == 200 and "risk" in report.text
    policy = report.headers["content-security-policy"]
    assert "'sha256-" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert pages.get("/ui/reports/mon-2").status_code == 200
    missing = pages.get("/ui/reports/eval-99")
    assert missing.status_code == 404 and "there is no evaluation #99" in missing.text


def test_a_model_never_trained_says_how_to_start(pages: Pages) -> None:
    text = text_of(pages.get("/ui/models/quiet").text)
    assert "No versions yet. Next: shipyard train quiet" in text
    assert "quiet has not been monitored yet. Next: serve it ( shipyard serve quiet )" in text


def test_a_run_with_too_few_rows_says_what_to_do(pages: Pages) -> None:
    text = text_of(pages.get("/ui/models/thin").text)
    assert "Some features were not judged" in text
    assert "shipyard monitor thin --window 24h" in text


def test_an_unknown_model_is_a_404_page_naming_the_models(pages: Pages) -> None:
    response = pages.get("/ui/models/riks")
    assert response.status_code == 404
    assert "no such model 'riks' (did you mean 'risk'?)" in text_of(response.text)
    assert '<main id="main"' in response.text  # in the layout


def test_a_missing_report_artifact_names_it_and_the_rest_renders(
    pages: Pages, seeded: Seeded
) -> None:
    run = seeded.project.monitoring.runs("risk", limit=1)[0]
    path = Path(seeded.project.artifacts.link(run.report_key))
    kept = path.read_bytes()
    path.unlink()
    try:
        response = pages.get("/ui/models/risk")
    finally:
        path.write_bytes(kept)
    assert response.status_code == 200
    text = text_of(response.text)
    assert f"Missing: the report of monitoring run #{run.id}." in text
    assert run.report_key in text
    assert 'id="versions-table"' in response.text and 'id="audit-table"' in response.text


# -- escaping ---------------------------------------------------------------------------


def test_user_strings_are_escaped_everywhere(overview: str, pages: Pages) -> None:
    pages_seen = [overview, *(pages.get(f"/ui/models/{n}").text for n in ("quiet", "risk"))]
    for html in pages_seen:
        assert "<script>alert" not in html
        assert '<b onmouseover="alert(1)">' not in html
        assert "{{ 7*7 }}" in text_of(html)  # shown as written: no template ran it
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &#34;q&#34; {{ 7*7 }} &amp;amp;"
    assert escaped in overview  # the owner's name, in the overview
    assert escaped in pages_seen[1]  # on its model page
    assert escaped in pages_seen[2]  # the alias's reason, in risk's audit trail
    assert HOSTILE in text_of(pages_seen[2]) and HOSTILE_CATEGORY not in pages_seen[2]


def test_the_summaries_read_at_once_match_each_models_own_reads(seeded: Seeded) -> None:
    registry = seeded.project.models.registry
    summaries = {s.name: s for s in seeded.project.models.summaries()}
    assert set(summaries) == {"risk", "quiet", "thin", "idle"}
    for name, summary in summaries.items():
        versions = registry.versions(name)
        assert summary.versions == len(versions)
        assert summary.latest == (versions[0] if versions else None)
        assert summary.aliases == registry.aliases(name)


def test_shares_and_latencies_are_drawn_from_zero(pages: Pages, seeded: Seeded) -> None:
    # every degraded and error share 0 drew its axis from -1 to 1: a share is never negative
    seeded.project.monitor("thin", window=1800, now=seeded.now - timedelta(minutes=5), notify=False)
    page = pages.get("/ui/models/thin").text  # two runs now, no answer degraded, 3 ms each
    over_time = page.split('id="over-time"', 1)[1].split('id="alerts"', 1)[0]
    for title, least in (("degraded answers and errors per run", 0.05), ("latency per run", 3)):
        chart = over_time.split(f"thin: {title}", 1)[1].split("</svg>", 1)[0]
        found = re.search(r"data-y-domain='([^']+)'", chart)
        assert found, title
        lo, hi = (float(v) for v in found[1].split())
        assert lo == 0.0 and hi >= least, (title, lo, hi)
