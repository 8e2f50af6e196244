"""The processes of a scale-out on one machine: `shipyard serve` replicas on loopback
ports and nginx in front of them, each started and stopped here.

nginx runs in the foreground with a config file, pid, logs and temp folders of its own
in a scratch folder (``nginx -p DIR -c FILE``), never as a system service. Used by
``scale_out.py`` (the scenario of ``make scale-demo`` and the scale-out test) and by
``benchmarks/bench_scale.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

SHIPYARD = [sys.executable, "-m", "shipyard"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    """One ``shipyard serve`` process on a fixed loopback port (so nginx's config holds
    across a restart), its stderr in ``log``."""

    def __init__(
        self,
        index: int,
        folder: Path,
        port: int,
        log: Path,
        *,
        model: str,
        workers: int = 1,
    ) -> None:
        self.index, self.folder, self.port, self.log = index, folder, port, log
        self.workers, self.model = workers, model
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*SHIPYARD, "-C", str(self.folder), "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(self.workers), self.model],
                stdout=subprocess.DEVNULL, stderr=out, start_new_session=True,
            )  # fmt: skip

    def readyz(self, timeout: float = 0.5) -> str:
        """What ``/readyz`` says now: its status code, ``refused`` or ``no answer``."""
        try:
            return str(httpx.get(f"{self.url}/readyz", timeout=timeout).status_code)
        except httpx.ConnectError:
            return "refused"
        except httpx.HTTPError:
            return "no answer"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.readyz() == "200":
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.index} did not become ready; see {self.log}")

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (drain, flush the log), then SIGKILL after 60 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  upstream shipyard {{
{servers}
    keepalive 64;
    keepalive_timeout 4s;  # under the replicas' server.keep_alive_s (5 s): nginx closes first
  }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{
      proxy_pass http://shipyard;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # a refused or reset connection, or a replica that does not answer in time, is
      # tried on the next one (a POST only when it was not sent yet: nginx's rule)
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;  # above a replica's cold start: a request queued at a
                               # starting replica waits for its models, it does not fail
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


class Nginx:
    """nginx in the foreground with its own config, pid, logs and temp folders in ``folder``;
    passive health: ``max_fails`` failures take a replica out for ``fail_timeout``."""

    def __init__(
        self, folder: Path, upstreams: list[str], *, max_fails: int = 1, fail_timeout_s: int = 2
    ) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None
        servers = "\n".join(
            f"    server {u} max_fails={max_fails} fail_timeout={fail_timeout_s}s;"
            for u in upstreams
        )
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf = folder / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(dir=folder, port=self.port, servers=servers))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.folder / "stderr.log").open("ab") as out:
            self.process = subprocess.Popen(
                ["nginx", "-p", str(self.folder), "-c", str(self.conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=out, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(self.folder / 'stderr.log').read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def cluster(
    folder: Path, replicas: int, *, model: str, workers: int = 1
) -> Iterator[tuple[list[Replica], Nginx]]:
    """``replicas`` replicas of the project in ``folder`` (each its own copy of the project
    file, as each pod has its own) behind nginx; all stopped on the way out."""
    nodes = []
    for index in range(replicas):
        home = folder / f"replica-{index}"
        home.mkdir(parents=True, exist_ok=True)
        (home / "shipyard.yaml").write_text((folder / "shipyard.yaml").read_text())
        log = folder / f"replica-{index}.log"
        nodes.append(Replica(index, home, free_port(), log, workers=workers, model=model))
    balancer = Nginx(folder / "nginx", [n.address for n in nodes])
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
        balancer.start()
        yield nodes, balancer
    finally:
        balancer.stop()
        for node in nodes:
            node.stop()
