"""The Dockerfile and ``.dockerignore`` of a model server image.

Two stages. ``build`` (the full Python image: compilers for any package without a
wheel) turns ``requirements.lock`` into wheels. The runtime stage (the slim image of
the same Python) installs those wheels and shipyard's own from a bind mount, so no
wheel stays in a layer, then copies the project file and the user's modules into
``/app``. It runs as an unprivileged user that owns only ``/app`` itself (files a
``file:`` alert sink writes) and ``/app/.shipyard`` (embedded state), not the code.

No secret is in any layer: the project file holds ``${VAR}`` references only
(:mod:`.secrets` refuses literal ones) and every credential comes from the
environment at run time. The server listens on ``0.0.0.0``, which ``shipyard serve``
allows only with ``server.require_token`` (a ``SHIPYARD_API_TOKEN`` given at run
time) or ``server.public: true``; the build refuses a project with neither, or the
container would stop at once.
"""

from __future__ import annotations

import json

from .records import ImagePlan

APP = "/app"
USER_ID = 10001
HEALTHCHECK_START_S = 60  # cold start measured 10-14 s on 2 busy cores (see .k8s)

IGNORED = (
    "# the build context is this folder; nothing else belongs in the image",
    "**/.git",
    "**/.env",
    "**/.env.*",
    "**/*.db",
    "**/*.db-*",
    "**/.shipyard",
    "**/__pycache__",
    "**/*.pyc",
    "**/.venv",
    "**/*.pem",
    "**/*.key",
)


def dockerfile(plan: ImagePlan, *, wheel: str) -> str:
    """The Dockerfile text for ``plan``; ``wheel`` is shipyard's wheel under ``wheels/``."""
    python = plan.python
    models = ", ".join(f"{name}@{v}" for name, v in sorted(plan.champions.items()))
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{plan.port}/healthz', timeout=3)"
    )
    health = json.dumps(["python", "-c", probe])
    command = json.dumps(["serve", *plan.served, "--host", "0.0.0.0", "--port", str(plan.port)])
    return f"""\
# syntax=docker/dockerfile:1
# Written by 'shipyard build' for project '{plan.project}' (champions: {models}).
# Python {python} and requirements.lock are the champions' recorded environment.
# Credentials come from the environment at run time, never from this image:
# SHIPYARD_DATABASE_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, SHIPYARD_API_TOKEN
# and every ${{VAR}} the project file names.

FROM python:{python} AS build
WORKDIR /build
COPY requirements.lock ./
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /build/wheels \\
        --requirement requirements.lock
COPY wheels/{wheel} /build/wheels/

FROM python:{python}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    SHIPYARD_PROJECT={APP}
RUN groupadd --system --gid {USER_ID} shipyard \\
    && useradd --system --uid {USER_ID} --gid shipyard --home-dir {APP} --no-create-home \\
        --shell /usr/sbin/nologin shipyard
RUN --mount=type=bind,from=build,source=/build,target=/build \\
    pip install --no-cache-dir --no-index --find-links=/build/wheels \\
        --requirement /build/requirements.lock shipyard=={plan.shipyard_version}
# skops's default trusted types, computed once here (root-owned, read-only to the server):
# without them every pod's first start imports all of scikit-learn to rebuild them
ENV XDG_CACHE_HOME=/var/cache/shipyard-image
RUN python -c "from shipyard.models.skops_io import import_skops_io; import_skops_io()" \
    && test -n "$(ls /var/cache/shipyard-image/shipyard/)"
WORKDIR {APP}
COPY app/ ./
RUN mkdir -p {APP}/.shipyard && chown {USER_ID}:{USER_ID} {APP} {APP}/.shipyard
USER {USER_ID}:{USER_ID}
EXPOSE {plan.port}
HEALTHCHECK --interval=10s --timeout=5s --start-period={HEALTHCHECK_START_S}s --retries=3 \\
    CMD {health}
ENTRYPOINT ["shipyard"]
CMD {command}
"""


def dockerignore() -> str:
    """``.dockerignore``: state, secrets and caches never enter the build context."""
    return "\n".join(IGNORED) + "\n"
