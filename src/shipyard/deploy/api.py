"""The deploy stage's facade: plan and write an image's build files, or a cluster's manifests.

Both start from the project file as written (never the settings it resolves to,
which may hold a password from ``SHIPYARD_DATABASE_URL``) and the champions in the
registry. Every refusal is a :class:`DeployError` (exit 1) raised before anything
is written; the files are then written whole or not at all (:mod:`.output`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipyard.config import ENV_OVERRIDES, ProjectConfig
from shipyard.errors import NotFoundError
from shipyard.models import Models, ModelVersion
from shipyard.storage.urls import artifact_location, database_url

from .dockerfile import dockerfile, dockerignore
from .k8s import ClusterPlan, SecretRef, k8s_name, manifests
from .lock import image_python, lock, lock_text, recorded_pins, shipyard_version
from .output import check_target, write_folder
from .records import DeployError, ImagePlan
from .secrets import env_references, literal_secrets, without_comments
from .wheel import shipyard_wheel

logger = logging.getLogger(__name__)

_S3_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SHIPYARD_S3_ENDPOINT_URL")


@dataclass(frozen=True)
class Written:
    """What a command wrote: the folder, its files, and the champions it is for."""

    out: Path
    files: list[str]
    champions: dict[str, int]
    notes: list[str]


class Deploy:
    """Images and manifests for the project whose file is ``project_file``."""

    def __init__(
        self,
        config: ProjectConfig,
        project_file: Path,
        models: Models,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._config = config
        self._file = project_file
        self._models = models
        self._environ = os.environ if environ is None else environ

    # -- the two commands ------------------------------------------------------------
    def build(self, names: list[str], out: Path, *, force: bool = False) -> Written:
        """Write ``Dockerfile``, ``.dockerignore``, ``requirements.lock``, shipyard's wheel and
        ``app/`` (the project file and the user's modules) into ``out``."""
        self._check_out(out, force=force, command="shipyard build")
        text = self._project_text()
        self._check_exposure()
        champions = self.champions(names)
        python = image_python(champions.values())
        recorded = recorded_pins(champions.values())
        pins = lock(recorded, python=python, extras=self._extras())
        plan = ImagePlan(
            project=self._config.project,
            python=python,
            pins=pins,
            champions={n: v.version for n, v in champions.items()},
            shipyard_version=shipyard_version(),
            served=tuple(dict.fromkeys(names)),
        )
        wheel_name, wheel = shipyard_wheel()
        refs = ", ".join(v.ref for v in champions.values())
        files: dict[str, str | bytes] = {
            "Dockerfile": dockerfile(plan, wheel=wheel_name),
            ".dockerignore": dockerignore(),
            "requirements.lock": lock_text(
                pins,
                recorded=recorded,
                header=f"the environment of {refs} (Python {python}), written by 'shipyard build'",
            ),
            f"wheels/{wheel_name}": wheel,
            "app/shipyard.yaml": text,
            **{f"app/{p}": data for p, data in self._user_modules().items()},
        }
        write_folder(out, files, force=force, command="shipyard build")
        logger.info("wrote the build files of %s to %s", refs, out)
        notes = self._version_notes(champions, plan.shipyard_version)
        return Written(out, sorted(files), plan.champions, notes)

    def k8s(
        self,
        names: list[str],
        out: Path,
        *,
        image: str,
        replicas: int = 2,
        force: bool = False,
    ) -> Written:
        """Write the manifests (one file per object kind) into ``out``."""
        self._check_out(out, force=force, command="shipyard deploy k8s")
        if replicas < 1:
            raise DeployError(f"--replicas {replicas}: needs at least 1")
        text = self._project_text()
        self._check_shared_storage(replicas)
        self._check_exposure()
        champions = self.champions(names)
        plan = ClusterPlan(
            project=self._config.project,
            image=image,
            replicas=replicas,
            project_file=text,
            drain_s=self._config.server.drain_s,
            secrets=self._secret_refs(text),
            served=tuple(dict.fromkeys(names)),
        )
        files = {name: _yaml(objects) for name, objects in manifests(plan).items()}
        write_folder(out, files, force=force, command="shipyard deploy k8s")
        logger.info("wrote the Kubernetes manifests of %s to %s", self._config.project, out)
        secret = f"{k8s_name(self._config.project)}-secrets"
        keys = ", ".join(r.name for r in plan.secrets)
        notes = [f"the pods read {keys} from the Secret '{secret}' (create it before applying)"]
        return Written(out, sorted(files), {n: v.version for n, v in champions.items()}, notes)

    # -- checks ----------------------------------------------------------------------
    def champions(self, names: list[str]) -> dict[str, ModelVersion]:
        """The champion of each model named (every declared model when none is)."""
        wanted = list(dict.fromkeys(names)) or list(self._config.models)
        if not wanted:
            raise DeployError(
                f"{self._file.name} declares no model, so there is nothing to serve",
                hint="declare one under models: and promote a version of it",
            )
        found = {}
        for name in wanted:
            try:
                self._models.config(name)
            except NotFoundError as exc:
                raise DeployError(exc.message, hint=exc.hint) from None
            champion = self._models.registry.aliases(name).get("champion")
            if champion is None:
                raise DeployError(
                    f"model '{name}' has no champion, so there is no version to serve",
                    hint=f"promote one first: 'shipyard promote {name}@N' (see 'shipyard models show {name}')",
                )
            found[name] = self._models.registry.resolve(f"{name}@{champion}")
        return found

    def _project_text(self) -> str:
        """The project file as written without its comments, refused if it holds a literal
        secret."""
        text = without_comments(self._file.read_text(encoding="utf-8"))
        findings = literal_secrets(text)
        if findings:
            first = findings[0]
            more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
            raise DeployError(
                f"{self._file.name}: {first.path} holds {first.what}{more}; the project file goes "
                "into the image and the manifests, so it must not hold secrets. Nothing was written",
                hint="write the secret as an environment variable reference, e.g. "
                "https://hooks.slack.com/services/${SLACK_WEBHOOK_PATH} or "
                "postgresql://user:${PGPASSWORD}@host/db, and set that variable at run time",
            )
        return text

    def _check_out(self, out: Path, *, force: bool, command: str) -> None:
        """Refuse ``out`` before any work: not the project's folder, nor where it keeps state."""
        check_target(out, force=force, command=command, keep=self._file.parent, state=self._state())

    def _state(self) -> list[Path]:
        """Where this project keeps state on this machine: its ``.shipyard`` folder, a local
        artifact store, a SQLite database file."""
        root = self._file.parent
        storage = self._config.storage
        folders = [root / ".shipyard"]
        location = artifact_location(storage.artifacts, root)
        if location.protocol == "file":
            folders.append(Path(location.root))
        database = database_url(storage.database, root)
        if database.startswith("sqlite:///"):
            folders.append(Path(database.removeprefix("sqlite:///")))
        return folders

    def _check_exposure(self) -> None:
        server = self._config.server
        if not (server.require_token or server.public):
            raise DeployError(
                "the server in a container listens on 0.0.0.0, which needs server.require_token "
                f"or server.public in {self._file.name}; it has neither, so it would not start",
                hint="set server.require_token: true (and give the container SHIPYARD_API_TOKEN "
                "at run time), or server.public: true if anyone who reaches it may predict",
            )

    def _check_shared_storage(self, replicas: int) -> None:
        storage = self._config.storage
        embedded = []
        if storage.database.startswith("sqlite"):
            embedded.append("the database is SQLite (storage.database)")
        if not storage.artifacts.startswith("s3://"):
            embedded.append("the artifacts are a local folder (storage.artifacts)")
        if not embedded:
            return
        why = (
            f"{replicas} replicas need PostgreSQL and S3, the only state pods can share"
            if replicas > 1
            else "the server and the worker run in separate pods, which need PostgreSQL "
            "and S3 to share state"
        )
        raise DeployError(
            f"refusing to deploy to Kubernetes: {why}, but {' and '.join(embedded)}",
            hint="set storage.database: postgresql://user:${PGPASSWORD}@host/db and "
            "storage.artifacts: s3://bucket/prefix in the project file (or SHIPYARD_DATABASE_URL "
            "and SHIPYARD_ARTIFACTS_URL when you run deploy), then deploy again; on one "
            "machine 'shipyard serve --workers N' needs neither",
        )

    # -- what goes in ------------------------------------------------------------------
    def _extras(self) -> list[str]:
        storage = self._config.storage
        extras = []
        if storage.database.startswith(("postgresql", "postgres")):
            extras.append("postgres")
        if storage.artifacts.startswith("s3://"):
            extras.append("s3")
        return extras

    def _secret_refs(self, text: str) -> tuple[SecretRef, ...]:
        refs = {name: SecretRef(name, optional=False) for name in env_references(text)}
        for variable in ENV_OVERRIDES.values():  # given when deploying: the pods need it too
            refs.setdefault(variable, SecretRef(variable, optional=not self._environ.get(variable)))
        if self._config.storage.artifacts.startswith("s3://"):
            for variable in _S3_VARIABLES:  # optional: a workload identity may stand in
                refs.setdefault(variable, SecretRef(variable, optional=True))
        if self._config.server.require_token:
            refs.setdefault("SHIPYARD_API_TOKEN", SecretRef("SHIPYARD_API_TOKEN", optional=False))
        refs.setdefault("SHIPYARD_ADMIN_TOKEN", SecretRef("SHIPYARD_ADMIN_TOKEN", optional=True))
        return tuple(refs.values())

    def _user_modules(self) -> dict[str, bytes]:
        """The user's modules the project file names (``module:function``), as found beside it."""
        root = self._file.parent
        files: dict[str, bytes] = {}
        for spec in self._entry_points():
            top = spec.partition(":")[0].split(".")[0]
            single = root / f"{top}.py"
            package = root / top
            if single.is_file():
                files[single.name] = single.read_bytes()
            elif (package / "__init__.py").is_file():
                for path in sorted(package.rglob("*")):
                    relative = path.relative_to(root)
                    if path.is_file() and "__pycache__" not in relative.parts:
                        files[relative.as_posix()] = path.read_bytes()
        return files

    def _entry_points(self) -> list[str]:
        specs: list[str] = []
        for model in self._config.models.values():
            if model.train:
                specs.append(model.train)
            if model.fallback is not None and isinstance(model.fallback.rules, str):
                specs.append(model.fallback.rules)
        for dataset in self._config.datasets.values():
            specs += [check.function for check in dataset.checks.custom]
        return specs

    def _version_notes(self, champions: dict[str, ModelVersion], running: str) -> list[str]:
        notes = []
        for version in champions.values():
            recorded = (version.environment.get("packages") or {}).get("shipyard")
            if recorded and recorded != running:
                notes.append(
                    f"{version.ref} was registered with shipyard {recorded}; "
                    f"the image carries shipyard {running} (this one)"
                )
        return notes


class _Dumper(yaml.SafeDumper):
    """Block style for text of several lines (the project file reads as written); no
    ``&id001`` anchors where two places hold equal labels (people read these files)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
