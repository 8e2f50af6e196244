"""Which version of which model a server answers with: ``MODEL`` (its champion), ``MODEL@alias`` or ``MODEL@3``."""

from __future__ import annotations

from shipyard.errors import ConfigError, NotFoundError
from shipyard.project import Project

DEFAULT_ALIAS = "champion"


def resolve_targets(project: Project, specs: list[str]) -> dict[str, str]:
    """{model: alias or version number}, each checked against the registry now (fail fast)."""
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
        target = target or DEFAULT_ALIAS
        project.models.config(name)
        try:
            project.models.registry.resolve(f"{name}@{target}")
        except NotFoundError as exc:
            hint = (
                f"promote a version first: shipyard promote {name}@N"
                if target == DEFAULT_ALIAS
                else f"see `shipyard models show {name}` for its versions and aliases"
            )
            raise NotFoundError(f"cannot serve {name}@{target}: {exc.message}", hint=hint) from None
        targets[name] = target
    return targets
