"""The actions page, ``/ui/models/NAME/actions``, and the POSTs its forms send.

GET shows the forms (promote a version that passed its evaluation, roll the champion
back, acknowledge an open alert), the message of the action just done, and the recent
audit trail; it sets the CSRF cookie when the browser has no valid one, and changes
nothing else. A POST runs :class:`~.actions.Actions` and answers 303 back to the page
with the message in a signed cookie, or the refusal as a page with its 4xx status:
what was wrong and what to do, the form's link to try again.
"""

from __future__ import annotations

from urllib.parse import quote

from . import csrf, flash
from .actions import Actions, Form
from .actions_view import actions_view
from .admin_token import OFF_HINT, VARIABLE, AdminGate
from .http import Request, Response, redirect
from .refusals import Refused
from .templates import render

TITLES = {
    400: "bad request", 401: "admin token needed", 403: "refused", 404: "not found",
    409: "not allowed now", 422: "the form is incomplete",
}  # fmt: skip


def actions_page(request: Request) -> Response:
    """The forms for one model, with the message of the action just done."""
    name = request.params["name"]
    view = actions_view(request.project, name)
    guard = csrf.current()
    jar = flash.cookies(request.headers.get("cookie"))
    token = jar.get(csrf.COOKIE)
    headers: list[tuple[bytes, bytes]] = []
    if not guard.valid(token):
        token = guard.issue()
        headers.append((b"set-cookie", flash.cookie_header(csrf.COOKIE, token, request.prefix)))
    done = flash.decode(guard, jar.get(flash.COOKIE))
    if flash.COOKIE in jar:  # shown once
        headers.append(
            (b"set-cookie", flash.cookie_header(flash.COOKIE, "", request.prefix, max_age=0))
        )
    gate = AdminGate.from_environment()
    page = render(
        request, "actions.html", v=view, csrf=token, done=done,
        actions_on=gate.enabled, off=f"Actions are off: the server has no {VARIABLE}.",
        off_hint=OFF_HINT,
    )  # fmt: skip
    return Response(page.status, page.body, page.content_type, tuple(headers))


def _post(request: Request, action: str, back: str) -> Response:
    fields = {k: v[0] for k, v in request.form().items() if v}
    form = Form(
        fields,
        cookie=flash.cookies(request.headers.get("cookie")).get(csrf.COOKIE),
        authorization=request.headers.get("authorization"),
    )
    guard = csrf.current()
    try:
        done = Actions(request.project, AdminGate.from_environment(), guard).perform(
            action, request.params, form, base=request.prefix
        )
    except Refused as refused:
        return render(
            request, "refused.html", refused.status, status=refused.status,
            title=TITLES.get(refused.status, "refused"), message=refused.message,
            hint=refused.hint, back=back,
        )  # fmt: skip
    response = redirect(done.location)
    cookie = flash.cookie_header(flash.COOKIE, flash.encode(guard, done.message), request.prefix)
    return Response(
        response.status, response.body, response.content_type,
        (*response.headers, (b"set-cookie", cookie)),
    )  # fmt: skip


def _model_actions(request: Request, name: str | None = None) -> str:
    model = name if name is not None else request.params["name"]
    return request.url(f"/models/{quote(model, safe='')}/actions")


def promote_action(request: Request) -> Response:
    """POST: make the form's version the champion (through the evaluation gate)."""
    return _post(request, "promote", _model_actions(request))


def rollback_action(request: Request) -> Response:
    """POST: move the champion back to the previous one (or the form's version)."""
    return _post(request, "rollback", _model_actions(request))


def ack_action(request: Request) -> Response:
    """POST: acknowledge the alert (the form names its model, for the way back)."""
    model = (request.form().get("model") or [""])[0]
    return _post(request, "ack", _model_actions(request, model) if model else request.url(""))
