"""The deploy stage's records: what an image is built from, and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.errors import ShipyardError


class DeployError(ShipyardError):
    """``build`` or ``deploy k8s`` cannot write what was asked: nothing was written."""

    exit_code = 1
    http_status = 409


@dataclass(frozen=True)
class ImagePlan:
    """What goes into the image: the Python to base it on, the pins, the files to copy.

    ``python`` is the champions' recorded Python (``3.11.7``); ``pins`` maps a
    distribution to its exact version; ``files`` maps a path in the build context to
    the text or bytes written there (the project file and the user's modules).
    """

    project: str
    python: str
    pins: dict[str, str]
    champions: dict[str, int]
    shipyard_version: str
    files: dict[str, bytes] = field(default_factory=dict)
    port: int = 8000
