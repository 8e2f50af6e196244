"""What a model format is: one :class:`FormatSpec` per format, and the error they all raise.

Each format's module (``format_skops``, ``format_onnx``, ``format_boosters``,
``format_pickle``) builds its spec from its own small functions;
:mod:`shipyard.models.formats` puts the specs in one table, ``FORMATS``, and every
save, load, detection and predictor goes through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.errors import MissingDependencyError, ShipyardError

if TYPE_CHECKING:
    from .predictor import Predictor


class ModelFormatError(ShipyardError, ValueError):
    """A model cannot be saved or loaded in the asked format, or is not a model at all."""

    http_status = 422


@dataclass(frozen=True)
class LoadContext:
    """What a format's ``load`` may be told about the bytes it rebuilds."""

    trusted_types: tuple[str, ...] = ()
    trusted_pickle: bool = False
    expected_sha256: str | None = None
    where: str = "the model"


def _claims_nothing(model: Any) -> bool:
    return False


@dataclass(frozen=True)
class FormatSpec:
    """One model format: its name, how it is stored, detected, saved, loaded and predicted with.

    Detection first matches the module a model's type comes from against every
    format's ``modules`` (string prefixes), then asks every format's ``claims``,
    both in table order; a format with neither is only used when asked for.
    """

    name: str
    suffix: str  # of the stored artifact
    package: str  # the module ``load`` imports; named when it is missing
    extra: str | None  # the shipyard extra that installs ``package``; None: a core dependency
    dump: Callable[[Any], bytes]
    load: Callable[[bytes, LoadContext], Any]
    predictor: Callable[[Any, list[str], str, list[Any] | None], Predictor]
    modules: tuple[str, ...] = ()
    claims: Callable[[Any], bool] = _claims_nothing
    distributions: tuple[str, ...] = ()  # whose versions a training run records

    def install_hint(self) -> str:
        """The command that installs what this format needs."""
        if self.extra is None:
            return f"pip install {self.package}"
        return f"pip install 'shipyard[{self.extra}]'"

    def missing(self) -> MissingDependencyError:
        """The error for a missing ``package``, with the command that installs it."""
        error = MissingDependencyError(self.package, self.extra or "", f"a {self.name} model")
        error.hint = self.install_hint()  # a core dependency has no extra to name
        return error
