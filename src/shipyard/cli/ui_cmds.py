"""``shipyard ui``: the web dashboard alone, without serving predictions."""

from __future__ import annotations

import click

from shipyard.errors import ShipyardError

from .app import cli, open_from
from .output import err_console


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free one).",
)
@click.option(
    "--public",
    is_flag=True,
    help="Allow a non-loopback --host: anyone who can reach it may read the dashboard.",
)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int, public: bool) -> None:
    """Serve the web dashboard at http://HOST:PORT/ui until Ctrl-C.

    The overview shows every model's health and why (alerts, drift, degraded answers,
    errors, latency), each model's page its versions, lineage, monitoring and alerts.
    `shipyard serve` answers /ui too. The dashboard reads the project; it has no token
    of its own, so a --host other than a loopback address needs --public.
    """
    import asyncio
    import socket

    import uvicorn

    from shipyard.dashboard.app import DashboardApp
    from shipyard.serving.exposure import is_loopback

    if not is_loopback(host) and not public:
        raise ShipyardError(
            f"refusing to serve the dashboard on {host}: anyone who can reach it could read "
            "every model, dataset and alert of this project",
            hint="listen on 127.0.0.1 (behind a reverse proxy with its own login), "
            "or pass --public if that is meant",
        )
    project = open_from(ctx, lazy_stores=True)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ShipyardError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (0: any free one)",
        ) from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"dashboard: http://{shown}:{bound}/ui (Ctrl-C to stop)", soft_wrap=True)
    app = DashboardApp(project)
    config = uvicorn.Config(app, lifespan="on", access_log=False, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        project.close()
