"""``shipyard build`` and ``shipyard deploy k8s``: a container image and Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .app import cli, open_from
from .complete import complete_models
from .output import console, json_option, print_json

if TYPE_CHECKING:
    from shipyard.deploy import Deploy, Written
    from shipyard.project import Project


def _deploy(project: Project) -> Deploy:
    from shipyard.deploy import Deploy

    return Deploy(project.config, project.file, project.models)


def _out(project: Project, out: Path | None, default: str) -> Path:
    return out if out is not None else project.root / "deploy" / default


@cli.command()
@click.argument("names", metavar="[NAME]...", nargs=-1, shell_complete=complete_models)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder to write the build context to (default: deploy/image in the project).",
)
@click.option(
    "--tag",
    metavar="IMAGE",
    help="Also run 'docker build --tag IMAGE' on it (needs a reachable Docker engine).",
)
@click.option("--force", is_flag=True, help="Replace --out when it exists and is not empty.")
@json_option
@click.pass_context
def build(
    ctx: click.Context,
    names: tuple[str, ...],
    out: Path | None,
    tag: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write a Dockerfile, .dockerignore and requirements.lock for NAME's champion (default:
    every model's), pinned to the Python and package versions it was trained with.

    The image runs `shipyard serve` on 0.0.0.0:8000 as an unprivileged user; the project
    file needs server.require_token (give SHIPYARD_API_TOKEN at run time) or server.public.
    Credentials come from the environment at run time, never from the image: a literal
    secret in the project file is refused. With --tag and a Docker engine, builds it too.
    """
    from shipyard.deploy import build_image, check_tag

    if tag is not None:
        check_tag(tag)
    with open_from(ctx) as project:
        written = _deploy(project).build(list(names), _out(project, out, "image"), force=force)
    _report(written, as_json, what="build files")
    if tag is not None:
        build_image(written.out, tag)
        console.print(f"built image {tag}", markup=False, highlight=False)


@cli.group()
def deploy() -> None:
    """Manifests to run the project's servers and worker elsewhere."""


@deploy.command("k8s")
@click.argument("names", metavar="[NAME]...", nargs=-1, shell_complete=complete_models)
@click.option(
    "--replicas",
    default=2,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Server replicas (the autoscaler's minimum; it may add up to three times as many).",
)
@click.option(
    "--image",
    metavar="IMAGE",
    help="The image 'shipyard build --tag' made (default: PROJECT:latest).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder to write the manifests to (default: deploy/k8s in the project).",
)
@click.option("--force", is_flag=True, help="Replace --out when it exists and is not empty.")
@json_option
@click.pass_context
def k8s(
    ctx: click.Context,
    names: tuple[str, ...],
    replicas: int,
    image: str | None,
    out: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write Kubernetes manifests: the servers (Deployment, Service, HPA, PDB), the project
    file (ConfigMap), the worker (Deployment) and references to the Secret they read.

    The models named (default: every model) must have a champion. Storage must be
    PostgreSQL and S3: pods share state only through them. No secret value is written.
    """
    from shipyard.deploy import check_tag, k8s_name

    if image is not None:
        check_tag(image, option="--image")
    with open_from(ctx) as project:
        chosen = image or f"{k8s_name(project.name)}:latest"
        written = _deploy(project).k8s(
            list(names), _out(project, out, "k8s"), image=chosen, replicas=replicas, force=force
        )
    _report(written, as_json, what="Kubernetes manifests")


def _report(written: Written, as_json: bool, *, what: str) -> None:
    if as_json:
        print_json(
            {
                "out": str(written.out),
                "files": written.files,
                "champions": written.champions,
                "notes": written.notes,
            }
        )
        return
    models = ", ".join(f"{name}@{v}" for name, v in sorted(written.champions.items()))
    console.print(f"wrote {what} for {models} to {written.out}", markup=False, highlight=False)
    for name in written.files:
        console.print(f"  {name}", markup=False, highlight=False)
    for note in written.notes:
        console.print(f"note: {note}", markup=False, highlight=False, style="yellow")
