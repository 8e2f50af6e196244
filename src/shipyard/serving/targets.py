"""Which versions of which models a server answers with: ``MODEL`` (its champion),
``MODEL@alias`` or ``MODEL@3``, several of one model at once (``m@4 m@3``).

A model's first target is served at its own routes (``/v1/models/m/predict``), each
further one at ``/v1/models/m/versions/{target}/predict``. An alias that names no
version yet (a model with no champion) does not stop the others: that model is
served not ready (503) until the alias names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.errors import ConfigError, NotFoundError, first_line
from shipyard.project import Project

DEFAULT_ALIAS = "champion"


@dataclass
class Targets:
    """``serve``'s targets: {model: [alias or version number, ...]}, and the ones that name
    no version yet ({``NAME@TARGET``: why}), served not ready until they do."""

    models: dict[str, list[str]]
    not_ready: dict[str, str] = field(default_factory=dict)

    def refs(self) -> list[str]:
        return [f"{name}@{target}" for name, targets in self.models.items() for target in targets]


def declared_targets(project: Project, specs: list[str]) -> dict[str, list[str]]:
    """{model: [alias or version number, ...]} for names the project file declares (no store
    read); a target named twice is served once."""
    if not specs:
        specs = list(project.config.models)
        if not specs:
            raise ConfigError(
                "the project declares no models to serve",
                hint="declare one under 'models:' in shipyard.yaml, train it and promote it",
            )
    targets: dict[str, list[str]] = {}
    for spec in specs:
        name, _, target = spec.partition("@")
        project.models.config(name)  # NotFoundError, with "did you mean", for a typo
        wanted = targets.setdefault(name, [])
        if (target or DEFAULT_ALIAS) not in wanted:
            wanted.append(target or DEFAULT_ALIAS)
    return targets


def resolve_targets(project: Project, specs: list[str]) -> Targets:
    """The targets, each checked against the registry now.

    A version number that does not exist is refused (a typo, most likely); an alias that
    names no version yet is served not ready (its routes 503, ``/readyz`` says why) while
    at least one other target names a version; when none does, nothing could answer and
    the first one's problem is raised.
    """
    targets = Targets(declared_targets(project, specs))
    first: tuple[str, str, NotFoundError] | None = None
    for name, wanted in targets.models.items():
        for target in wanted:
            ref = f"{name}@{target}"
            try:
                project.models.registry.resolve(ref)
            except NotFoundError as exc:
                if target.isdigit():
                    raise _cannot_serve(name, target, exc) from None
                targets.not_ready[ref] = first_line(exc)
                first = first or (name, target, exc)
    if first is not None and len(targets.not_ready) == len(targets.refs()):
        raise _cannot_serve(*first) from None
    return targets


def _cannot_serve(name: str, target: str, exc: NotFoundError) -> NotFoundError:
    hint = (
        f"promote a version first: shipyard promote {name}@N"
        if target == DEFAULT_ALIAS
        else f"see `shipyard models show {name}` for its versions and aliases"
    )
    return NotFoundError(f"cannot serve {name}@{target}: {exc.message}", hint=hint)
