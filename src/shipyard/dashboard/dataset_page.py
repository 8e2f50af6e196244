"""The dataset page, ``/ui/datasets/NAME``: versions with their counts, the validation
report, quarantined rows with their reasons (``?page=``), and a diff (``?diff=A..B``)."""

from __future__ import annotations

from .dataset_view import dataset_view
from .http import Request, Response
from .refusals import Refused
from .templates import render


def dataset_page(request: Request) -> Response:
    """One dataset; ``?version=N`` picks the version whose report and quarantine are shown."""
    name = request.params["name"]
    try:
        view = dataset_view(
            request.project,
            name,
            version=request.arg("version"),
            page=request.arg("page"),
            diff=request.arg("diff"),
        )
    except Refused as refused:
        return render(
            request, "refused.html", refused.status, status=refused.status,
            title="not found" if refused.status == 404 else "bad request",
            message=refused.message, hint=refused.hint,
            back=request.url(f"/datasets/{name}") if refused.status != 404 else request.url(""),
        )  # fmt: skip
    return render(request, "dataset.html", d=view)
