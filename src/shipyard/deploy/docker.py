"""``docker build`` of a written build context, when a Docker engine answers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .records import DeployError

# [registry[:port]/]path[:tag], lower-case path components (Docker's reference grammar, simplified)
_TAG = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
ENGINE_TIMEOUT_S = 10


def check_tag(tag: str, option: str = "--tag") -> str:
    """``tag`` if Docker would take it as an image name; else a DeployError naming the
    rule and the ``option`` it was given as."""
    if not _TAG.match(tag):
        raise DeployError(
            f"{option} '{tag}' is not an image name Docker accepts",
            hint="use lower-case NAME[:TAG], e.g. credit-serving:1.0 or registry.example.com/team/credit:1.0",
        )
    return tag


def engine_problem() -> str | None:
    """Why no Docker engine can build here (``None`` when one answers)."""
    docker = shutil.which("docker")
    if docker is None:
        return "the docker command is not installed"
    try:
        answer = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'docker info' did not answer ({type(exc).__name__})"
    if answer.returncode != 0:
        said = (answer.stderr.strip().splitlines() or ["no reason given"])[-1]
        return f"no Docker engine answers ({said})"
    return None


def build_image(context: Path, tag: str) -> None:
    """Run ``docker build`` on ``context``; its output goes to the terminal as it comes."""
    problem = engine_problem()
    if problem is not None:
        raise DeployError(
            f"the build files are in {context}, but the image was not built: {problem}",
            hint=f"run 'docker build --tag {tag} {context}' where a Docker engine runs",
        )
    docker = shutil.which("docker") or "docker"
    done = subprocess.run([docker, "build", "--tag", tag, str(context)], check=False)
    if done.returncode != 0:
        raise DeployError(
            f"'docker build' failed (exit {done.returncode}); the build files are in {context}",
            hint="read Docker's output above; the files stay for another try",
        )
