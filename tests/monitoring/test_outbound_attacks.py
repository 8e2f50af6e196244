"""Alerts cannot be turned inward (SSRF): destinations are checked when the project file
loads and again when a message is sent, after DNS, and redirects are not followed.

Every server here listens on 127.0.0.1; names that must not resolve use the
reserved ``.test`` domain with a resolver that answers for it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_support import loans, make_project, traffic

from shipyard.cli import cli
from shipyard.config import parse_config
from shipyard.config.destinations import AllowList, DestinationRefused, literal_address, resolve
from shipyard.config.schema import SmtpConfig
from shipyard.errors import ConfigError
from shipyard.monitoring import outbound
from shipyard.monitoring.notifiers import Channel, Notifier

MESSAGE = {
    "id": 1, "status": "firing", "model": "risk", "rule": "drift", "severity": "warning",
    "owner": "risk-team", "message": "risk: 2 of 3 features drifted",
}  # fmt: skip

PROJECT = """\
project: outbound
alerting:
  allow_hosts: %(allow)s
  routes:
    oncall: {%(kind)s: "%(url)s"}
datasets:
  loans:
    target: y
    columns:
      amount: {type: float}
      y: {type: float}
models:
  risk:
    owner: {name: risk-team, webhook: "%(owner)s"}
    task: regression
    dataset: loans
    features: [amount]
"""

INWARD = [
    "127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "0x7f.1", "[::1]",
    "[::ffff:127.0.0.1]", "localhost", "localhost.", "LOCALHOST", "api.localhost", "0.0.0.0",
    "169.254.169.254", "metadata.google.internal", "[fe80::1]", "[fd00::1]", "10.0.0.1",
    "172.16.0.1", "192.168.1.1", "100.64.0.1", "224.0.0.1", "240.0.0.1",
    "[64:ff9b::a9fe:a9fe]",
]  # fmt: skip


class Recorder:
    """A server on 127.0.0.1 that keeps every request (method, path, headers) and answers
    ``status`` with ``location``."""

    def __init__(self, status: int = 204, location: str | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.command, self.path, dict(self.headers)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    try:
        yield found
    finally:
        found.close()


def _project(
    *,
    url: str = "https://hooks.example.com/x",
    kind: str = "webhook",
    owner: str = "",
    allow: str = "[]",
) -> str:
    return PROJECT % {
        "url": url,
        "kind": kind,
        "owner": owner or "https://hooks.example.com/owner",
        "allow": allow,
    }


# -- config time ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", INWARD)
def test_webhook_to_an_inward_address_in_any_spelling_is_refused_when_the_file_loads(
    host: str,
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_project(owner=f"http://{host}:8080/hook"))
    [problem] = info.value.problems
    assert "models.risk.owner.webhook: refused as an alert destination" in problem
    assert "alerting.allow_hosts" in problem


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.sampled_from(["dec", "hex", "oct"]))
def test_every_inet_aton_spelling_of_an_address_is_recognised(
    value: int, parts: int, style: str
) -> None:
    octets = value.to_bytes(4, "big")
    numbers = [*octets[: parts - 1], int.from_bytes(octets[parts - 1 :], "big")]
    spell = {"dec": str, "hex": hex, "oct": lambda n: "0" + oct(n)[2:] if n else "0"}[style]
    spelling = ".".join(spell(n) for n in numbers)
    address = literal_address(spelling)
    assert address == ipaddress.IPv4Address(value)
    assert socket.inet_aton(spelling) == address.packed  # what the resolver would connect to


def test_slack_route_to_the_cloud_metadata_service_is_refused_when_the_file_loads() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_project(kind="slack", url="http://169.254.169.254/latest/meta-data/"))
    [problem] = info.value.problems
    assert "alerting.routes.oncall.slack: refused" in problem and "metadata" in problem


def test_smtp_server_on_a_private_address_is_refused_when_the_file_loads() -> None:
    text = _project().replace(
        "  routes:", "  smtp: {host: '10.0.0.25', from: a@example.com}\n  routes:"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    [problem] = info.value.problems
    assert "alerting.smtp.host: refused" in problem and "private" in problem


@pytest.mark.parametrize(
    ("allow", "host"),
    [
        ("[127.0.0.1]", "127.0.0.1"),
        ("[127.0.0.1]", "0x7f000001"),
        ("[127.0.0.1]", "[::ffff:127.0.0.1]"),
        ("[localhost]", "LOCALHOST."),
        ("[10.0.0.0/8]", "10.20.30.40"),
        ("['fd00::/8']", "[fd00::5]"),
    ],
)
def test_an_inward_destination_listed_in_allow_hosts_is_a_deliberate_choice(
    allow: str, host: str
) -> None:
    config = parse_config(_project(owner=f"http://{host}:9000/hook", allow=allow))
    assert config.models["risk"].owner.webhook == f"http://{host}:9000/hook"


def test_a_malformed_allow_hosts_entry_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_project(allow="['10.0.0.0/33', 'http://x/', '*.internal']"))
    assert [p.split(": ", 1)[1] for p in info.value.problems] == [
        "alerting.allow_hosts[0]: expected a host name, an IP address or a network like "
        "10.0.0.0/8, got '10.0.0.0/33'",
        "alerting.allow_hosts[1]: expected a host name, an IP address or a network like "
        "10.0.0.0/8, got 'http://x/'",
        "alerting.allow_hosts[2]: wildcards are not supported, got '*.internal': list each host "
        "name, or the network its addresses are in (e.g. 10.0.0.0/8)",
    ]


# -- send time --------------------------------------------------------------------------------


def test_webhook_to_a_loopback_receiver_is_refused_at_send_time_without_an_allow_list(
    recorder: Recorder,
) -> None:
    delivery = Notifier(retries=3, backoff_s=0.01).send(
        Channel("webhook", recorder.url + "/hook"), MESSAGE
    )
    assert not delivery.ok and delivery.attempts == 1  # refused at once, not retried
    assert "loopback" in (delivery.error or "") and "alerting.allow_hosts" in (delivery.error or "")
    assert recorder.requests == []


def test_a_host_from_the_environment_is_checked_at_send_time(recorder: Recorder) -> None:
    # ${HOOK_HOST} cannot be judged when the file loads; it is when the message goes
    channel = Channel("webhook", f"http://${{HOOK_HOST}}:{recorder.port}/hook")
    refused = Notifier(retries=0, environ={"HOOK_HOST": "127.0.0.1"}).send(channel, MESSAGE)
    assert not refused.ok and "loopback" in (refused.error or "")
    assert recorder.requests == []
    allowed = Notifier(retries=0, environ={"HOOK_HOST": "127.0.0.1"}, allow_hosts=["127.0.0.1"])
    assert allowed.send(channel, MESSAGE).ok and len(recorder.requests) == 1


def test_a_name_that_resolves_to_loopback_is_refused_at_send_time(recorder: Recorder) -> None:
    def resolver(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    with pytest.raises(DestinationRefused, match=r"hooks\.example\.test resolves to 127\.0\.0\.1"):
        outbound.post(
            f"http://hooks.example.test:{recorder.port}/hook",
            b"{}",
            allow=AllowList(),
            timeout_s=2,
            headers={},
            resolver=resolver,
        )
    assert recorder.requests == []


def test_dns_rebinding_finds_every_resolved_address_checked_and_the_checked_one_connected(
    recorder: Recorder,
) -> None:
    calls: list[str] = []

    def rebinding(host: str, port: int, **_: Any) -> list[Any]:
        calls.append(host)  # a public address first, then the one the attacker wants
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    with pytest.raises(DestinationRefused, match=r"169\.254\.169\.254"):
        resolve("hooks.example.test", 80, AllowList(), resolver=rebinding)

    def loopback(host: str, port: int, **_: Any) -> list[Any]:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    calls.clear()
    answer = outbound.post(
        f"http://hooks.example.test:{recorder.port}/hook",
        b"{}",
        allow=AllowList.parse(["127.0.0.1"]),
        timeout_s=2,
        headers={"Content-Type": "application/json"},
        resolver=loopback,
    )
    # resolved once; the connection went to the checked address, the name went as Host
    assert answer.status == 204 and calls == ["hooks.example.test"]
    [(method, path, headers)] = recorder.requests
    assert (method, path) == ("POST", "/hook")
    assert headers["Host"] == f"hooks.example.test:{recorder.port}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_never_followed(
    status: int, recorder: Recorder
) -> None:
    redirecting = Recorder(status, location=recorder.url + "/stolen?token=s3cr3t")
    try:
        delivery = Notifier(retries=3, backoff_s=0.01, allow_hosts=["127.0.0.1"]).send(
            Channel("webhook", redirecting.url + "/hook"), MESSAGE
        )
    finally:
        redirecting.close()
    assert not delivery.ok and delivery.attempts == 1
    assert f"HTTP {status}" in (delivery.error or "") and "redirect" in (delivery.error or "")
    assert "s3cr3t" not in (delivery.error or "")
    assert recorder.requests == []  # the redirect target never heard from us


def test_smtp_to_loopback_is_refused_at_send_time_without_an_allow_list() -> None:
    from aiosmtpd.controller import Controller

    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpConfig.model_validate({"host": "localhost", "port": port, "from": "a@b.io"})
        refused = Notifier(smtp=smtp, retries=2).send(Channel("email", "x@example.com"), MESSAGE)
        allowed = Notifier(smtp=smtp, allow_hosts=["localhost"]).send(
            Channel("email", "x@example.com"), MESSAGE
        )
    finally:
        controller.stop()
    assert not refused.ok and refused.attempts == 1 and "loopback" in (refused.error or "")
    assert allowed.ok and len(received) == 1


def test_only_http_and_https_destinations_are_sent_to() -> None:
    delivery = Notifier(retries=0, allow_hosts=["127.0.0.1"]).send(
        Channel("webhook", "file:///etc/passwd"), MESSAGE
    )
    assert not delivery.ok and "only http:// and https://" in (delivery.error or "")


# -- what is printed --------------------------------------------------------------------------


def test_shipyard_monitor_never_prints_webhook_credentials_or_keys(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_PASS", "p@ss/w:rd#x@evil.example")
    hook = f"http://alerts:${{HOOK_PASS}}@127.0.0.1:{recorder.port}/hooks/T0/B0/sekret"
    project = make_project(tmp_path / "proj", hook)
    try:
        with traffic(project) as t:
            t.predict(loans(400, 40, shift=0.8))
        result = CliRunner().invoke(
            cli, ["-C", str(project.root), "monitor", "risk"], catch_exceptions=False
        )
    finally:
        project.close()
    assert result.exit_code == 0, result.output
    assert f"webhook:http://alerts:***@127.0.0.1:{recorder.port}/…" in result.output
    assert recorder.requests  # delivered, with the secret path the owner configured
    assert all(path.startswith("/hooks/T0/B0/sekret/") for _, path, _ in recorder.requests)
    for leak in ("p@ss", "evil.example", "sekret", "HOOK_PASS"):
        assert leak not in result.output, f"{leak!r} in: {result.output}"


def test_an_https_webhook_pinned_to_its_address_still_verifies_the_certificate_name(
    tmp_path: Path,
) -> None:
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.example.test",
         "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def record_name(_sock: Any, name: str | None, _context: Any) -> None:
        names.append(name)

    context.sni_callback = record_name
    served = Recorder()
    served.server.socket = context.wrap_socket(served.server.socket, server_side=True)

    def loopback(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    try:
        with pytest.raises(ssl.SSLCertVerificationError, match=r"self[- ]signed"):
            outbound.post(
                f"https://hooks.example.test:{served.port}/hook",
                b"{}",
                allow=AllowList.parse(["127.0.0.1"]),
                timeout_s=5,
                headers={},
                resolver=loopback,
            )
    finally:
        served.close()
    assert names == ["hooks.example.test"]  # SNI named the host; its certificate was checked
    assert served.requests == []
