"""Which version of which model a server answers with: ``MODEL`` (its champion), ``MODEL@alias`` or ``MODEL@3``."""

from __future__ import annotations

from shipyard.errors import ConfigError, NotFoundError
from shipyard.project import Project

DEFAULT_ALIAS = "champion"


def declared_targets(project: Project, specs: list[str]) -> dict[str, str]:
    """{model: alias or version number} for names the project file declares (no store read)."""
    if not specs:
        specs = list(project.config.models)
        if not specs:
            raise ConfigError(
                "the project declares no models to serve",
                hint="declare one under 'models:' in shipyard.yaml, train it and promote it",
            )
    targets: dict[str, str] = {}
    for spec in specs:
        name, _, target = spec.partition("@")
        project.models.config(name)  # NotFoundError, with "did you mean", for a typo
        targets[name] = target or DEFAULT_ALIAS
    return targets


def resolve_targets(project: Project, specs: list[str]) -> dict[str, str]:
    """{model: alias or version number}, each checked against the registry now (fail fast)."""
    targets = declared_targets(project, specs)
    for name, target in targets.items():
        try:
            project.models.registry.resolve(f"{name}@{target}")
        except NotFoundError as exc:
            hint = (
                f"promote a version first: shipyard promote {name}@N"
                if target == DEFAULT_ALIAS
                else f"see `shipyard models show {name}` for its versions and aliases"
            )
            raise NotFoundError(f"cannot serve {name}@{target}: {exc.message}", hint=hint) from None
    return targets
