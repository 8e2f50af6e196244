"""The deploy stage's records: what an image is built from, and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.errors import ShipyardError


class DeployError(ShipyardError):
    """``build`` or ``deploy k8s`` cannot write what was asked: nothing was written."""

    exit_code = 1
    http_status = 409


@dataclass(frozen=True)
class ImagePlan:
    """What goes into the image: the Python to base it on, the pins, what it serves.

    ``python`` is the champions' recorded Python (``3.11.7``); ``pins`` maps a
    distribution to its exact version (or, when not installed here, to a range);
    ``served`` names the models ``shipyard serve`` is given (empty: every model).
    """

    project: str
    python: str
    pins: dict[str, str]
    champions: dict[str, int]
    shipyard_version: str
    served: tuple[str, ...] = ()
    port: int = 8000
