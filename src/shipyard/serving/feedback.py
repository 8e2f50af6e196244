"""Ground truth for earlier predictions, by prediction id (one or many per request).

Accepted shapes: ``{"prediction_id": "…", "label": 1}``, a list of those, or
``{"feedback": [...]}``. A label must be one of the model's classes (a number
for a regressor). Whether the id was really served is for monitoring to judge
when it joins the logs: the request path reads no log.
"""

from __future__ import annotations

import math
import time
from typing import Any

from shipyard.predlog import Chunk

from .deployment import Deployment
from .validation import MalformedRequestError, RequestError, TooLargeError


def feedback_chunk(name: str, body: Any, deployment: Deployment, max_rows: int) -> Chunk:
    items = body.get("feedback", body) if isinstance(body, dict) else body
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise MalformedRequestError(
            'expected {"prediction_id": "...", "label": ...} or a list of them'
        )
    if not items:
        raise RequestError("the request has no feedback", hint="send at least one label")
    if len(items) > max_rows:
        raise TooLargeError(f"{len(items)} labels in one request; the limit is {max_rows}")
    classes = deployment.current.predictor.classes if deployment.current else None
    regression = deployment.config.task == "regression"
    problems: list[str] = []
    ids: list[str] = []
    labels: list[Any] = []
    for index, item in enumerate(items):
        at = f"feedback[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: expected an object with prediction_id and label")
            continue
        unknown = set(item) - {"prediction_id", "label"}
        if unknown:
            problems.append(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        pid = item.get("prediction_id")
        if not isinstance(pid, str) or not 0 < len(pid) <= 100:
            problems.append(f"{at}.prediction_id: expected the id a prediction answered with")
        if "label" not in item:
            problems.append(f"{at}.label: required, missing")
            continue
        label = item["label"]
        if regression:
            if (
                isinstance(label, bool)
                or not isinstance(label, int | float)
                or not math.isfinite(label)
            ):
                problems.append(f"{at}.label: expected a number, got {label!r}")
        elif classes is not None and not is_class(label, classes):
            problems.append(f"{at}.label: expected one of the classes {classes}, got {label!r}")
        ids.append(str(pid))
        labels.append(label)
    if problems:
        raise RequestError(
            f"the feedback has {len(problems)} problem(s); none of it was recorded",
            problems=problems[:50],
        )
    now = time.time()
    return Chunk(name, len(ids), (("time", now),), (("prediction_id", ids), ("label", labels)))


def is_class(label: Any, classes: list[Any]) -> bool:
    """Whether ``label`` is one of ``classes``: ``true`` is not the class ``1`` (nor ``1`` the
    class ``True``), though Python finds them equal."""
    flag = type(label) is bool
    return any(label == c and (type(c) is bool) == flag for c in classes)
