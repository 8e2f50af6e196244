"""The dashboard's actions over a real project: promote, roll back, acknowledge — each
behind a CSRF token, the admin token and a reason, audited with the actor; every bad
form refused in words with a 4xx status, and nothing changed then."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from act_support import ADMIN, fire, seed
from dashboard_support import Pages, text_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.dashboard.actions import Actions, Form
from shipyard.dashboard.admin_token import AdminGate
from shipyard.dashboard.csrf import COOKIE, CsrfGuard
from shipyard.dashboard.refusals import Refused
from shipyard.project import Project

MODEL = "default-risk"
GUARD = CsrfGuard(b"k" * 32)
# a form opened 13 h ago on this server (its key comes from the admin token)
GUARD_STALE = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN}).issue(
    now=time.time() - 13 * 3600
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    opened = seed(tmp_path_factory.mktemp("act") / "proj")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def actions(project: Project) -> Actions:
    return Actions(project, AdminGate(ADMIN), GUARD)


def form(**fields: str) -> Form:
    token = GUARD.issue()
    return Form({"csrf": token, "token": ADMIN, **fields}, cookie=token)


def champion(project: Project) -> int | None:
    return project.models.registry.aliases(MODEL).get("champion")


def test_a_version_that_passed_its_evaluation_is_promoted_with_the_reason_and_actor(
    project: Project, actions: Actions
) -> None:
    done = actions.perform(
        "promote", {"name": MODEL}, form(version="1", reason="v1 passed", actor="  Ann  Lee ")
    )
    assert re.fullmatch(r"default-risk@1 is (now|already) the champion.*", done.message)
    assert done.location == "/ui/models/default-risk/actions"
    assert champion(project) == 1
    [event] = [
        e for e in project.audit(subject=MODEL, limit=20)
        if e.reason == "v1 passed" and e.action == "model.promoted"
    ]  # fmt: skip
    assert event.actor == "Ann Lee via dashboard"
    assert event.detail["to"] == 1


def test_a_version_that_failed_its_evaluation_is_refused_and_nothing_moves(
    project: Project, actions: Actions
) -> None:
    before, events = champion(project), len(project.audit(limit=1000))
    with pytest.raises(Refused) as refused:
        actions.perform("promote", {"name": MODEL}, form(version="2", reason="try it"))
    assert refused.value.status == 409
    assert "latest evaluation of default-risk@2 failed: gate roc_auc" in refused.value.message
    assert champion(project) == before and len(project.audit(limit=1000)) == events


def test_rollback_moves_the_champion_back_to_the_previous_one(
    project: Project, actions: Actions
) -> None:
    project.models.alias(f"{MODEL}@2", "champion", reason="setup: an earlier champion")
    actions.perform("promote", {"name": MODEL}, form(version="1", reason="v1 is better"))
    assert champion(project) == 1
    done = actions.perform("rollback", {"name": MODEL}, form(reason="v1 misbehaves", actor="Bo"))
    assert done.message == "default-risk's champion moved back from v1 to v2"
    assert champion(project) == 2
    newest = project.audit(subject=MODEL, limit=1)[0]
    assert (newest.action, newest.reason, newest.actor) == (
        "model.rolled_back", "v1 misbehaves", "Bo via dashboard",
    )  # fmt: skip


def test_an_alert_is_acknowledged_once_with_the_reason(project: Project, actions: Actions) -> None:
    alert = fire(project, MODEL)
    done = actions.perform("ack", {"id": str(alert)}, form(reason="on it", actor="Cy"))
    assert done.message == f"alert #{alert} ({MODEL} errors) acknowledged by Cy via dashboard"
    assert project.monitoring.alerts.get(alert).acked_by == "Cy via dashboard"
    event = project.audit(subject=f"{MODEL}/errors", limit=1)[0]
    assert (event.action, event.reason) == ("alert.acked", "on it")
    with pytest.raises(Refused, match="acknowledged already, by Cy via dashboard") as again:
        actions.perform("ack", {"id": str(alert)}, form(reason="again"))
    assert again.value.status == 409


def _stale() -> Form:
    token = GUARD.issue(now=time.time() - 13 * 3600)
    return Form({"csrf": token, "token": ADMIN, "version": "1", "reason": "r"}, cookie=token)


def _forged() -> Form:
    token = CsrfGuard(b"x" * 32).issue()  # signed by another key
    return Form({"csrf": token, "token": ADMIN, "version": "1", "reason": "r"}, cookie=token)


def _mismatched() -> Form:
    return Form({"csrf": GUARD.issue(), "token": ADMIN, "version": "1", "reason": "r"},
                cookie=GUARD.issue())  # fmt: skip


BAD_FORMS = {
    "no csrf field": (lambda: Form({"token": ADMIN, "version": "1", "reason": "r"}),
                      "promote", {"name": MODEL}, 403, "carried no CSRF token"),
    "no cookie": (lambda: Form({"csrf": GUARD.issue(), "token": ADMIN, "version": "1",
                                "reason": "r"}), "promote", {"name": MODEL}, 403, "no dashboard cookie"),
    "mismatched": (_mismatched, "promote", {"name": MODEL}, 403, "does not match"),
    "stale": (_stale, "promote", {"name": MODEL}, 403, "the form is stale: it was opened 13 h ago"),
    "forged": (_forged, "promote", {"name": MODEL}, 403, "not signed by this server"),
    "no token": (lambda: form(token="", version="1", reason="r"),
                 "promote", {"name": MODEL}, 401, "needs the admin token; none was given"),
    "wrong token": (lambda: form(token="guess", version="1", reason="r"),
                    "promote", {"name": MODEL}, 401, "the admin token is wrong"),
    "no reason": (lambda: form(version="1", reason="   "),
                  "promote", {"name": MODEL}, 422, "a reason is required"),
    "long reason": (lambda: form(version="1", reason="x" * 1001),
                    "promote", {"name": MODEL}, 422, "1001 characters long"),
    "bad version": (lambda: form(version="one", reason="r"),
                    "promote", {"name": MODEL}, 422, "must be a version number like 3, got 'one'"),
    "unknown version": (lambda: form(version="9", reason="r"),
                        "promote", {"name": MODEL}, 404, "9"),
    "unknown model": (lambda: form(version="1", reason="r"),
                      "promote", {"name": "nope"}, 404, "no such model 'nope'"),
    "unknown alert": (lambda: form(reason="r"), "ack", {"id": "999"}, 404, "999"),
    "unknown action": (lambda: form(reason="r"), "delete", {"name": MODEL}, 404, "no dashboard action"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_FORMS))
def test_a_bad_form_is_refused_in_words_and_changes_nothing(
    project: Project, actions: Actions, case: str
) -> None:
    make, action, params, status, words = BAD_FORMS[case]
    before, events = champion(project), len(project.audit(limit=1000))
    with pytest.raises(Refused) as refused:
        actions.perform(action, params, make())
    assert refused.value.status == status
    assert words in str(refused.value)
    assert "\n" not in refused.value.message
    assert champion(project) == before and len(project.audit(limit=1000)) == events


def test_without_an_admin_token_actions_say_how_to_turn_them_on(project: Project) -> None:
    off = Actions(project, AdminGate.from_environment({}), GUARD)
    assert not off.gate.enabled
    with pytest.raises(Refused) as refused:
        off.perform("promote", {"name": MODEL}, form(version="1", reason="r"))
    assert refused.value.status == 403
    assert "actions are off" in refused.value.message
    assert "export SHIPYARD_ADMIN_TOKEN=" in (refused.value.hint or "")


def test_the_token_may_come_as_a_bearer_header(project: Project, actions: Actions) -> None:
    token = GUARD.issue()
    sent = Form({"csrf": token, "version": "1", "reason": "header"}, cookie=token,
                authorization=f"Bearer {ADMIN}")  # fmt: skip
    assert "champion" in actions.perform("promote", {"name": MODEL}, sent).message


def test_replicas_with_one_admin_token_accept_each_others_forms() -> None:
    a = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN})
    b = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN})
    token = a.issue()
    b.check(token, token)
    other = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN + "x"})
    with pytest.raises(Refused, match="not signed by this server"):
        other.check(token, token)
    lone = CsrfGuard.from_environment({})
    with pytest.raises(Refused):  # no admin token: a per-process key
        CsrfGuard.from_environment({}).check(lone.issue(), lone.issue())


@settings(max_examples=50)
@given(st.text(max_size=80), st.integers(min_value=0, max_value=2**40))
def test_no_altered_token_passes(tail: str, now: int) -> None:
    token = GUARD.issue(now=now)
    GUARD.check(token, token, now=now + 60)
    for altered in {token + tail, token[:-1] + tail, tail} - {token}:
        with pytest.raises(Refused):
            GUARD.check(altered, altered, now=now + 60)


# -- the same actions over HTTP: the actions page and its POSTs, in-process -----------


@pytest.fixture
def pages(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pages]:
    monkeypatch.setenv("SHIPYARD_ADMIN_TOKEN", ADMIN)
    client = Pages(project)
    try:
        yield client
    finally:
        client.close()


def _csrf(pages: Pages) -> str:
    """Open the actions page; the CSRF token its forms carry (also set as the cookie)."""
    page = pages.get(f"/ui/models/{MODEL}/actions")
    assert page.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token and pages.client.cookies.get(COOKIE) == token[1]
    return token[1]


def test_a_post_redirects_to_the_page_which_says_what_was_done_once(
    project: Project, pages: Pages
) -> None:
    project.models.alias(f"{MODEL}@2", "champion", reason="setup: an earlier champion")
    token = _csrf(pages)
    sent = {"csrf": token, "token": ADMIN, "version": "1", "reason": "<i>v1</i> & more"}
    answer = pages.request("POST", f"/ui/models/{MODEL}/promote", data=sent)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ui/models/{MODEL}/actions"
    assert champion(project) == 1
    page = pages.get(answer.headers["location"])
    assert text_of(re.search(r'<p class="flash".*?</p>', page.text, re.S)[0]) == (
        "Done: default-risk@1 is now the champion (was v2)"
    )
    assert "&lt;i&gt;v1&lt;/i&gt; &amp; more" in page.text and "<i>v1</i>" not in page.text
    assert 'class="flash"' not in pages.get(f"/ui/models/{MODEL}/actions").text


REFUSED_POSTS = {
    "wrong token": ({"token": "nope", "version": "1", "reason": "r"}, 401,
                    "the admin token is wrong"),
    "no reason": ({"version": "1", "reason": ""}, 422, "a reason is required"),
    "stale csrf": ({"csrf": GUARD_STALE, "version": "1", "reason": "r"}, 403,
                   "the form is stale: it was opened 13 h ago"),
    "unknown version": ({"version": "99", "reason": "r"}, 404, "99"),
    "failed evaluation": ({"version": "2", "reason": "r"}, 409,
                          "the latest evaluation of default-risk@2 failed: gate roc_auc"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED_POSTS))
def test_a_refused_post_is_a_4xx_page_in_words(project: Project, pages: Pages, case: str) -> None:
    changes, status, words = REFUSED_POSTS[case]
    before, events = champion(project), len(project.audit(limit=1000))
    sent = {"csrf": _csrf(pages), "token": ADMIN, **changes}
    if "csrf" in changes:  # the browser kept the old page's cookie
        pages.client.cookies.clear()
        pages.client.cookies.set(COOKIE, changes["csrf"])
    answer = pages.request("POST", f"/ui/models/{MODEL}/promote", data=sent)
    assert answer.status_code == status
    message = text_of(re.search(r'<p class="message".*?</p>', answer.text, re.S)[0])
    assert words in message and "Traceback" not in answer.text
    assert "Nothing was changed" in text_of(answer.text)
    assert champion(project) == before and len(project.audit(limit=1000)) == events


def test_a_get_never_acts(project: Project, pages: Pages) -> None:
    before, events = champion(project), len(project.audit(limit=1000))
    for path in (f"/ui/models/{MODEL}/promote?version=1&reason=r&token={ADMIN}",
                 f"/ui/models/{MODEL}/rollback", "/ui/alerts/1/ack"):  # fmt: skip
        assert pages.get(path).status_code == 405
    assert champion(project) == before and len(project.audit(limit=1000)) == events


def test_without_an_admin_token_the_page_renders_and_says_how_to_turn_actions_on(
    project: Project, pages: Pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPYARD_ADMIN_TOKEN")
    page = pages.get(f"/ui/models/{MODEL}/actions")
    assert page.status_code == 200
    said = text_of(re.search(r'<p class="missing"[^>]*id="actions-off".*?</p>', page.text, re.S)[0])
    assert "Actions are off: the server has no SHIPYARD_ADMIN_TOKEN" in said
    assert "export SHIPYARD_ADMIN_TOKEN=" in said


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(version=st.text(max_size=24), alert=st.text(max_size=24))
def test_any_version_or_alert_id_is_acted_on_or_refused_in_words(
    project: Project, actions: Actions, version: str, alert: str
) -> None:
    for name, params, fields in (
        ("promote", {"name": MODEL}, {"version": version}),
        ("rollback", {"name": MODEL}, {"to": version}),
        ("ack", {"id": alert}, {}),
    ):
        try:
            actions.perform(name, params, form(reason="fuzz", **fields))
        except Refused as refused:
            assert 400 <= refused.status < 500 and "\n" not in refused.message
