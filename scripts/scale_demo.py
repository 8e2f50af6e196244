"""``make scale-demo``: three `shipyard serve` replicas behind nginx on this machine, sharing
one PostgreSQL and one S3 API (the moto server), under load: a promotion, a ``kill -9``, a
restart, then the prediction log and monitoring read back. Prints what it saw.

PostgreSQL: ``SHIPYARD_TEST_POSTGRES_URL`` when set, else one started here with
``scripts/start-postgres.sh`` (and stopped after). S3: moto's server on 127.0.0.1,
started here. nginx: Debian's package (``apt-get install nginx``). Takes about a minute.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from scale_out import describe, make_project, run_scenario  # noqa: E402


def postgres() -> tuple[str, list[str]]:
    """A server URL, and the command that stops it (empty when it was not started here)."""
    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")
    if url:
        return url, []
    print("starting PostgreSQL (scripts/start-postgres.sh) ...", flush=True)
    out = subprocess.run(
        [str(HERE / "start-postgres.sh")], capture_output=True, text=True, check=True
    ).stdout
    found = dict(
        line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line
    )
    stop = [*shlex.split(found["SHIPYARD_TEST_PGCTL"].strip("'"))]
    return found["SHIPYARD_TEST_POSTGRES_URL"], [
        *stop,
        "-D",
        found["SHIPYARD_TEST_PGDATA"],
        "-m",
        "fast",
        "stop",
    ]


def main() -> int:
    if shutil.which("nginx") is None:
        print("the scale-out demo needs nginx: apt-get install nginx", file=sys.stderr)
        return 1
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("the scale-out demo needs moto: pip install -e '.[dev]'", file=sys.stderr)
        return 1
    import boto3
    import psycopg

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: one line a request

    admin, stop_postgres = postgres()
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(key, value)
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    name = f"shipyard_scale_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name.replace("_", "-"))
        os.environ["SHIPYARD_DATABASE_URL"] = f"{admin.rsplit('/', 1)[0]}/{name}"
        os.environ["SHIPYARD_ARTIFACTS_URL"] = f"s3://{name.replace('_', '-')}/artifacts"
        os.environ["SHIPYARD_S3_ENDPOINT_URL"] = endpoint
        print(f"PostgreSQL database {name}; S3 (moto) on {endpoint}", flush=True)
        with tempfile.TemporaryDirectory(prefix="shipyard-scale-") as scratch:
            folder = Path(scratch)
            old, new = make_project(folder)
            print(f"project in {folder}: {old=} champion, {new=} registered", flush=True)
            report = run_scenario(folder, say=lambda text: print(text, flush=True))
            print()
            describe(report)
    finally:
        s3.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if stop_postgres:
            subprocess.run(stop_postgres, capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
