"""Secrets in URLs stay secret: a password from the environment cannot change where a URL
points, and no URL shipyard prints or logs shows a password, a token or a webhook's key."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from shipyard.cli import cli
from shipyard.config import expand_env
from shipyard.storage import redact

# a password that would move the host (@), end the authority (/), split user and
# password (:), start a fragment (#) and point at another host if taken literally
PASSWORD = "p@ss/w:rd#x@evil.example"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_password_with_url_characters_cannot_change_the_database_host() -> None:
    url = expand_env(
        "postgresql://shipyard:${PGPASS}@db.internal:5432/app?sslmode=require",
        where="storage.database",
        environ={"PGPASS": PASSWORD},
    )
    parsed = make_url(url)
    assert (parsed.host, parsed.port, parsed.database) == ("db.internal", 5432, "app")
    assert (parsed.username, parsed.password) == ("shipyard", PASSWORD)  # round-trips
    assert parsed.query == {"sslmode": "require"}


def test_only_the_user_part_of_a_url_is_encoded() -> None:
    environ = {"HOST": "db.internal:5432", "PW": "a b", "DB": "app"}
    url = expand_env("postgresql://u:${PW}@${HOST}/${DB}", where="x", environ=environ)
    assert url == "postgresql://u:a%20b@db.internal:5432/app"
    assert expand_env("${PW}", where="alerting.smtp.password", environ=environ) == "a b"


def test_a_password_with_url_characters_reaches_the_right_host_and_is_never_printed(
    tmp_path: Path,
) -> None:
    pytest.importorskip("psycopg")
    port = _closed_port()
    (tmp_path / "shipyard.yaml").write_text(
        "project: secrets\n"
        f"storage: {{database: 'postgresql://shipyard:${{PGPASS}}@127.0.0.1:{port}/app'}}\n"
    )
    runner = CliRunner()
    for args in (["doctor"], ["doctor", "--json"]):
        result = runner.invoke(
            cli, ["-C", str(tmp_path), *args], env={"PGPASS": PASSWORD}, catch_exceptions=False
        )
        output = result.output
        assert result.exit_code != 0
        # the connection went to 127.0.0.1 at that port, not to evil.example
        assert f"postgresql://shipyard:***@127.0.0.1:{port}/app" in output
        assert '"127.0.0.1"' in output.replace('\\"', '"') and str(port) in output
        for leak in ("p@ss", "w:rd", "evil.example", "p%40ss"):
            assert leak not in output, f"{leak!r} in: {output}"


def test_credentials_in_an_s3_artifacts_url_are_refused_without_being_printed(
    tmp_path: Path,
) -> None:
    (tmp_path / "shipyard.yaml").write_text("project: secrets\n")
    result = CliRunner().invoke(
        cli,
        ["-C", str(tmp_path), "doctor", "--json"],
        env={"SHIPYARD_ARTIFACTS_URL": "s3://AKIAEXAMPLE:hunter2@bucket/x"},
        catch_exceptions=False,
    )
    assert "s3://AKIAEXAMPLE:***@bucket/x has credentials in its URL" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:hunter2@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://app:p@ss/w:rd#x@evil.example@db/x", "postgresql://app:***@db/x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("https://ghp_token123@hooks.example.com/x", "https://***@hooks.example.com/x"),
        ("https://hooks.slack.com/services/T0/B0/XYZsecret", "https://hooks.slack.com/services/…"),
        ("https://discord.com/api/webhooks/1/tok", "https://discord.com/api/webhooks/…"),
        (
            "https://s3.example.com/b/k?X-Amz-Credential=AK&X-Amz-Signature=ab&partNumber=1",
            "https://s3.example.com/b/k?X-Amz-Credential=***&X-Amz-Signature=***&partNumber=1",
        ),
        (
            "https://chat.example.com/v1/spaces/S/messages?key=K&token=T",
            "https://chat.example.com/v1/spaces/S/messages?key=***&token=***",
        ),
        ("https://example.com/cb#access_token=abc", "https://example.com/cb#…"),
        ("sqlite:///.shipyard/shipyard.db", "sqlite:///.shipyard/shipyard.db"),
        (".shipyard/artifacts", ".shipyard/artifacts"),
    ],
)
def test_redact_hides_passwords_tokens_and_webhook_keys(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_webhook_credentials_from_the_environment_round_trip_and_never_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    from shipyard.monitoring.notifiers import Channel, Notifier

    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"path": self.path, **dict(self.headers)})
            self.send_response(404)  # refused: the error is printed and logged too
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    url = f"http://alerts:${{HOOK_PASS}}@127.0.0.1:{port}/hooks/T0/B0/sekret?token=tok123"
    message = {
        "id": 1, "status": "firing", "model": "risk", "rule": "drift",
        "severity": "warning", "owner": "risk-team", "message": "drifted",
    }  # fmt: skip
    try:
        with caplog.at_level(logging.DEBUG):
            delivery = Notifier(
                retries=0, environ={"HOOK_PASS": PASSWORD}, allow_hosts=["127.0.0.1"]
            ).send(Channel("webhook", url), message)
    finally:
        server.shutdown()
        server.server_close()
    [request] = seen  # it reached 127.0.0.1 with the password intact, as basic auth
    credentials = base64.b64decode(request["Authorization"].removeprefix("Basic ")).decode()
    assert credentials == f"alerts:{PASSWORD}"
    assert request["path"] == "/hooks/T0/B0/sekret?token=tok123"
    shown = json.dumps([delivery.channel.label, delivery.error]) + caplog.text
    assert not delivery.ok and f"webhook:http://alerts:***@127.0.0.1:{port}/…" in shown
    for leak in ("p@ss", "evil.example", "sekret", "tok123", "HOOK_PASS"):
        assert leak not in shown, f"{leak!r} in: {shown}"


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40))
def test_any_password_from_the_environment_round_trips_and_keeps_the_host(password: str) -> None:
    url = expand_env(
        "postgresql://shipyard:${PGPASS}@db.internal:5432/app",
        where="storage.database",
        environ={"PGPASS": password},
    )
    parsed = make_url(url)
    assert (parsed.host, parsed.port, parsed.database) == ("db.internal", 5432, "app")
    assert parsed.password == password
    assert redact(url) == "postgresql://shipyard:***@db.internal:5432/app"
