"""The project file, ``shipyard.yaml``: parsed once into a frozen, typed object."""

from __future__ import annotations

from importlib.resources import files

from .loader import (
    ENV_OVERRIDES,
    PROJECT_FILE,
    expand_env,
    find_project_file,
    load_config,
    parse_config,
)
from .schema import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DATABASE,
    ColumnConfig,
    DatasetConfig,
    FallbackAnswer,
    FallbackConfig,
    FallbackRule,
    ModelConfig,
    OwnerConfig,
    ProjectConfig,
    ServerConfig,
    StorageConfig,
)

__all__ = [
    "DEFAULT_ARTIFACTS",
    "DEFAULT_DATABASE",
    "ENV_OVERRIDES",
    "PROJECT_FILE",
    "ColumnConfig",
    "DatasetConfig",
    "FallbackAnswer",
    "FallbackConfig",
    "FallbackRule",
    "ModelConfig",
    "OwnerConfig",
    "ProjectConfig",
    "ServerConfig",
    "StorageConfig",
    "example_model_code",
    "example_project_file",
    "expand_env",
    "find_project_file",
    "load_config",
    "parse_config",
]


def example_model_code() -> str:
    """The example project's ``credit_model.py`` that ``shipyard init`` writes beside it."""
    return files(__package__).joinpath("credit_model.py.tmpl").read_text(encoding="utf-8")


def example_project_file(name: str) -> str:
    """The commented example that ``shipyard init`` writes, for project ``name``."""
    template = files(__package__).joinpath("template.yaml").read_text(encoding="utf-8")
    return template.format(name=name)
