"""A server in a background thread of this process: for the demo, notebooks and tests.

The same ASGI app and the same uvicorn as ``shipyard serve``, with the same
protections against slow and idle clients (:mod:`.connections`), on a socket bound
here (port 0 picks a free one), started and stopped from Python. It does not raise
this process's open-file limit; its connection cap comes from the limit as it is.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Self

from shipyard.errors import ShipyardError

from .server import bind


class EmbeddedServer:
    """``with EmbeddedServer(app) as server: server.url`` — ready (models warm) inside the block.

    ``http`` picks uvicorn's parser: ``httptools``, ``h11`` or ``auto`` (httptools if installed).
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, http: str = "auto"
    ) -> None:
        import uvicorn

        from shipyard.config.schema import ServerConfig

        from .connections import ConnectionGuard, descriptor_limit, limits_for, protocol_class

        self.app = app
        self.sock = bind(host, port)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        settings = getattr(app, "settings", None)
        limits = limits_for(
            settings if isinstance(settings, ServerConfig) else None, descriptor_limit()
        )
        self.guard = ConnectionGuard(limits, getattr(app, "metrics", None))
        config = uvicorn.Config(
            app,
            http=protocol_class(self.guard, http),
            ws="none",
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
            timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]  # a float works
            backlog=limits.backlog,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self, timeout: float = 60.0) -> Self:
        self.thread.start()
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return self
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        detail = json.loads(last) if last.startswith("{") else last
        raise ShipyardError(f"the server did not become ready in {timeout:.0f} s: {detail}")

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        self.sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
