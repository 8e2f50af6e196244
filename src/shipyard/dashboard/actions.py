"""The dashboard's actions: promote a version, roll the champion back, acknowledge an alert.

Each is a POST of a form carrying a CSRF token (csrf.py), the admin token
(admin_token.py) and a reason, checked in that order; then one call of the same API the
CLI uses (``Project.promote``, ``Project.rollback``, ``alerts.ack``), audited with the
reason and the actor: the name typed into the form's "Your name" field (else the
server's ``SHIPYARD_ACTOR`` or login), marked "via dashboard". Every refusal is a
:class:`~.refusals.Refused` with its status and what to do; nothing changes then.

The dashboard promotes only through the evaluation gate: a version whose latest
evaluation failed (or that was never evaluated, or that its retraining run rejected)
is refused, as ``shipyard promote`` refuses it without ``--force``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.storage import acting_as, current_actor

from .admin_token import AdminGate
from .csrf import FIELD as CSRF_FIELD
from .csrf import CsrfGuard
from .refusals import Refused, refused_by, said, whole

if TYPE_CHECKING:
    from shipyard.project import Project

log = logging.getLogger(__name__)

REASON_FIELD = "reason"
ACTOR_FIELD = "actor"
MAX_REASON = 1000
MAX_ACTOR = 100


@dataclass(frozen=True)
class Done:
    """An action carried out: what to tell the user and the page to go back to."""

    message: str
    location: str


@dataclass(frozen=True)
class Form:
    """A posted action form as the browser sent it, with the request's credentials."""

    fields: Mapping[str, str]
    cookie: str | None = None  # the CSRF cookie
    authorization: str | None = None  # the Authorization header, if any

    def get(self, name: str) -> str:
        return (self.fields.get(name) or "").strip()


Action = Callable[["Project", Mapping[str, str], Form, str], Done]


class Actions:
    """Carry out a posted action after its CSRF token, admin token and reason pass."""

    def __init__(self, project: Project, gate: AdminGate, csrf: CsrfGuard) -> None:
        self.project = project
        self.gate = gate
        self.csrf = csrf

    def perform(
        self, name: str, params: Mapping[str, str], form: Form, *, base: str = "/ui"
    ) -> Done:
        """Run action ``name`` (``promote``, ``rollback``, ``ack``) with the path's ``params``."""
        action = ACTIONS.get(name)
        if action is None:
            raise Refused(404, f"no dashboard action named '{name}'")
        self.csrf.check(form.cookie, form.fields.get(CSRF_FIELD))
        self.gate.check(form.fields.get("token"), form.authorization, action=name)
        reason = _reason(form)
        actor = _actor(form)
        try:
            with acting_as(actor):
                done = action(self.project, params, form, base)
        except ShipyardError as exc:
            log.info("dashboard action %s %s refused: %s", name, dict(params), exc.message)
            raise refused_by(exc) from None
        log.info(
            "dashboard action %s %s by %s: %s (%s)", name, dict(params), actor, done.message, reason
        )
        return done


def _reason(form: Form) -> str:
    reason = form.get(REASON_FIELD)
    if not reason:
        raise Refused(
            422,
            "a reason is required: it is written to the audit log with the action",
            hint="say in a few words why, e.g. 'v3 passed its evaluation; drift on amount in v2'",
        )
    if len(reason) > MAX_REASON:
        raise Refused(
            422,
            f"the reason is {len(reason)} characters long; at most {MAX_REASON} are kept",
            hint="shorten it and link to the longer story",
        )
    return reason


def _actor(form: Form) -> str:
    """Who the audit log names: the form's "Your name", else the server's actor."""
    who = " ".join(form.get(ACTOR_FIELD).split())
    if len(who) > MAX_ACTOR:
        raise Refused(422, f"the name is {len(who)} characters long; at most {MAX_ACTOR}")
    return f"{who or current_actor()} via dashboard"


def _version(form: Form, field: str, *, required: bool) -> int | None:
    text = form.get(field)
    if not text and not required:
        return None
    if not whole(text) or int(text) < 1:
        raise Refused(
            422,
            f"the {field} must be a version number like 3, got '{said(text)}'",
            hint="pick a version from the list on the model page",
        )
    return int(text)


def _model_page(base: str, name: str) -> str:
    from urllib.parse import quote

    return f"{base}/models/{quote(name, safe='')}/actions"


def promote(project: Project, params: Mapping[str, str], form: Form, base: str) -> Done:
    """Make ``{name}@version`` the champion, if its latest evaluation passed."""
    name = params["name"]
    version = _version(form, "version", required=True)
    project.models.known(name)  # an unknown model: NotFoundError naming the known ones
    ref = f"{name}@{version}"
    before, after = project.promote(ref, reason=form.get(REASON_FIELD))
    if before == after:
        message = f"{ref} is already the champion; nothing moved"
    elif before is None:
        message = f"{ref} is now the champion"
    else:
        message = f"{ref} is now the champion (was v{before})"
    return Done(message, _model_page(base, name))


def rollback(project: Project, params: Mapping[str, str], form: Form, base: str) -> Done:
    """Move ``{name}``'s champion back to the previous one (or to the form's ``to``)."""
    name = params["name"]
    to = _version(form, "to", required=False)
    before, after = project.rollback(name, to=to, reason=form.get(REASON_FIELD))
    return Done(f"{name}'s champion moved back from v{before} to v{after}", _model_page(base, name))


def ack(project: Project, params: Mapping[str, str], form: Form, base: str) -> Done:
    """Acknowledge alert ``{id}``: no more reminders; it still resolves by itself."""
    text = params["id"]
    if not whole(text):
        raise Refused(404, f"no alert #{said(text)}: alert ids are numbers")
    alerts = project.monitoring.alerts
    alert = alerts.get(int(text))
    if alert.acked_at is not None:
        raise Refused(
            409,
            f"alert #{alert.id} was acknowledged already, by {alert.acked_by}",
            hint="nothing to do; it resolves by itself when the condition clears",
        )
    if alert.state not in ("pending", "firing"):
        raise Refused(
            409,
            f"alert #{alert.id} is {alert.state}; only pending or firing alerts can be acknowledged",
        )
    done = alerts.ack(alert.id, now=datetime.now(UTC), reason=form.get(REASON_FIELD))
    return Done(
        f"alert #{done.id} ({done.model} {done.rule}) acknowledged by {done.acked_by}",
        _model_page(base, done.model),
    )


ACTIONS: dict[str, Action] = {"promote": promote, "rollback": rollback, "ack": ack}
