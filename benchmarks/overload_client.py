"""An open-loop HTTP load generator for the overload benchmark (wrk2-style, in one asyncio process).

wrk is closed-loop: a slow server slows its own load down and its queue never shows.
This client sends on a fixed schedule instead (request i is due at start + i / rate)
and measures each answer's latency from the time it was DUE, so time a request spent
waiting for a free connection counts too (no coordinated omission). Connections are
HTTP/1.1 keep-alive; when every open one is busy a new one is opened, up to a cap;
beyond the cap, due requests wait in the client and their wait shows in the latency.
A request with no answer ``--timeout`` seconds after it was due is a time-out: its
connection is closed (or, if it was never sent, it is dropped).

With ``--closed N`` it is a closed loop instead (N connections, each sending the next
request as soon as an answer comes), the way the capacity is measured.

Responses are parsed only as far as needed: the status line, Content-Length (or a
chunked body's end), and the body's ``"path"`` field when there is one (shipyard says
there who answered: ``model``, or a fallback such as ``cache`` or ``default``).

    python benchmarks/overload_client.py --url http://127.0.0.1:18080/predict \
        --body body.json --rate 2000 --warmup 5 --seconds 20

Prints one JSON object: what was offered and sent, answers by status and by path,
errors, time-outs, latency percentiles of the answers, the client's own CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import resource
import sys
import time
import urllib.parse
from array import array
from pathlib import Path
from typing import Any

NO_PATH = b"-"  # a 200 answer without a "path" field (servers that have no fallback)


class Stats:
    """What happened to the requests that were due inside the measured window."""

    def __init__(self, measured_from: float) -> None:
        self.measured_from = measured_from
        self.offered = 0
        self.sent = 0
        self.by_status: collections.Counter[int] = collections.Counter()
        self.by_path: collections.Counter[bytes] = collections.Counter()
        self.by_reason: collections.Counter[bytes] = collections.Counter()  # fallback answers
        self.errors = 0  # connection refused or reset, unparseable answers
        self.timeouts_sent = 0  # sent, but no answer in time
        self.timeouts_unsent = 0  # due, never sent in time (every connection busy, cap reached)
        self.latency_ok = array("d")  # 200 answers, seconds since due
        self.latency_shed = array("d")  # 429/503 answers

    def counts(self, due: float) -> bool:
        return due >= self.measured_from


class Connection(asyncio.Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due: float | None = None  # the request in flight, by the time it was due
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.client.ready(self)

    def send(self, due: float) -> None:
        self.due = due
        self.client.in_flight.add(self)
        self.transport.write(self.client.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.due is None:  # nothing asked: nothing to wait for
            return
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end]).lower()
        body_start = head_end + 4
        length_at = head.find(b"\r\ncontent-length:")
        if length_at >= 0:
            line_end = head.find(b"\r\n", length_at + 2)
            length = int(head[length_at + 17 : line_end if line_end >= 0 else None])
            if len(self.buffer) < body_start + length:
                return
            end = body_start + length
        elif b"transfer-encoding: chunked" in head:
            terminator = self.buffer.find(b"\r\n0\r\n\r\n", body_start - 2)
            if terminator < 0:
                return
            end = terminator + 7
        else:
            end = body_start
        try:
            status = int(self.buffer[9:12])
        except ValueError:
            status = 0
        body = bytes(self.buffer[body_start:end])
        del self.buffer[:end]
        due, self.due = self.due, None
        self.client.in_flight.discard(self)
        self.client.answered(due, status, body)
        if b"\r\nconnection: close" in head:
            self.close()
        else:
            self.client.ready(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.client.lost(self)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.abort()
            self.client.lost(self)


class Client:
    def __init__(self, args: argparse.Namespace, loop: asyncio.AbstractEventLoop) -> None:
        url = urllib.parse.urlsplit(args.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        body = Path(args.body).read_bytes()
        self.request = (
            f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.loop = loop
        self.args = args
        self.timeout = args.timeout
        self.cap = args.closed or args.max_connections
        self.idle: list[Connection] = []
        self.open: set[Connection] = set()
        self.connecting = 0
        self.in_flight: set[Connection] = set()
        self.backlog: collections.deque[float] = collections.deque()
        self.start = 0.0
        self.stats = Stats(0.0)
        self.peak_connections = 0
        self.peak_in_flight = 0
        self.peak_backlog = 0
        self.connect_failures = 0
        self.opened = 0
        self.connects: set[asyncio.Task[None]] = set()
        self.stopping = False

    # -- what happens to a request -----------------------------------------------------
    def due(self, when: float) -> None:
        if self.stats.counts(when):
            self.stats.offered += 1
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                self._send(connection, when)
                return
        self.backlog.append(when)
        self.peak_backlog = max(self.peak_backlog, len(self.backlog))
        self._grow()

    def _send(self, connection: Connection, when: float) -> None:
        if self.stats.counts(when):
            self.stats.sent += 1
        connection.send(when)
        self.peak_in_flight = max(self.peak_in_flight, len(self.in_flight))

    def ready(self, connection: Connection) -> None:
        """A connection is open and free: it takes the oldest waiting request, or waits."""
        if connection not in self.open:
            self.connecting -= 1
            self.open.add(connection)
            self.opened += 1
            self.peak_connections = max(self.peak_connections, len(self.open))
        if self.args.closed and not self.stopping:
            self._send(connection, time.perf_counter())
            return
        now = time.perf_counter()
        while self.backlog:
            when = self.backlog.popleft()
            if now - when <= self.timeout:
                self._send(connection, when)
                return
            if self.stats.counts(when):
                self.stats.timeouts_unsent += 1
        self.idle.append(connection)

    def answered(self, due: float, status: int, body: bytes) -> None:
        if not self.stats.counts(due) or (self.stopping and self.args.closed):
            return
        elapsed = time.perf_counter() - due
        stats = self.stats
        if elapsed > self.timeout:  # came in after the client had given up on it
            stats.timeouts_sent += 1
            return
        stats.by_status[status] += 1
        if status == 200:
            at = body.find(b'"path":"')
            path = body[at + 8 : body.find(b'"', at + 8)] if at >= 0 else NO_PATH
            stats.by_path[path] += 1
            if path not in (b"model", NO_PATH):  # why the fallback answered, when it says
                at = body.find(b'"reason":"')
                stats.by_reason[body[at + 10 : body.find(b'"', at + 10)] if at >= 0 else b"?"] += 1
            stats.latency_ok.append(elapsed)
        elif status in (429, 503):
            stats.latency_shed.append(elapsed)

    def lost(self, connection: Connection) -> None:
        self.open.discard(connection)
        if connection.due is not None:
            self.in_flight.discard(connection)
            if self.stats.counts(connection.due) and not self.stopping:
                self.stats.errors += 1
            connection.due = None
        if not self.stopping and (self.backlog or self.args.closed):
            self._grow()

    def _grow(self) -> None:
        while len(self.open) + self.connecting < self.cap and (
            self.args.closed or self.connecting < len(self.backlog)
        ):
            self.connecting += 1
            task = self.loop.create_task(self._connect())
            self.connects.add(task)
            task.add_done_callback(self.connects.discard)
            if self.args.closed:
                continue
            break

    async def _connect(self) -> None:
        try:
            await self.loop.create_connection(lambda: Connection(self), self.host, self.port)
        except OSError:
            self.connecting -= 1
            self.connect_failures += 1
            await asyncio.sleep(0.01)
            if not self.stopping:
                self._grow()

    # -- the clocks ------------------------------------------------------------------
    async def watchdog(self) -> None:
        """Every 50 ms: close connections whose request ran past the time-out, drop stale waits."""
        while not self.stopping:
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            for connection in [c for c in self.in_flight if now - c.due > self.timeout]:  # type: ignore[operator]
                if self.stats.counts(connection.due):  # type: ignore[arg-type]
                    self.stats.timeouts_sent += 1
                connection.due = None
                self.in_flight.discard(connection)
                connection.close()
            while self.backlog and now - self.backlog[0] > self.timeout:
                if self.stats.counts(self.backlog.popleft()):
                    self.stats.timeouts_unsent += 1

    async def run(self) -> dict[str, Any]:
        args = self.args
        self.start = time.perf_counter()
        self.stats = Stats(self.start + args.warmup)
        end = self.start + args.warmup + args.seconds
        watchdog = self.loop.create_task(self.watchdog())
        cpu_before = _cpu()
        if args.closed:
            # one connection every --ramp seconds, not a burst: a burst of connects lands
            # on whichever worker process accepts first, and keep-alive pins it there
            for _ in range(args.closed):
                if len(self.open) + self.connecting < self.cap:
                    self.connecting += 1
                    task = self.loop.create_task(self._connect())
                    self.connects.add(task)
                    task.add_done_callback(self.connects.discard)
                await asyncio.sleep(args.ramp)
            await asyncio.sleep(end - time.perf_counter())
            self.stopping = True
        else:
            sent = 0
            total = int((args.warmup + args.seconds) * args.rate)
            while sent < total:
                now = time.perf_counter()
                due_now = min(total, int((now - self.start) * args.rate) + 1)
                while sent < due_now:
                    self.due(self.start + sent / args.rate)
                    sent += 1
                wait = self.start + sent / args.rate - time.perf_counter()
                await asyncio.sleep(max(wait, 0.001))  # libuv's timers tick in ms
            wall, cpu = time.perf_counter() - self.start, _cpu() - cpu_before
            # the last requests get their time-out to be answered
            finish = time.perf_counter() + self.timeout + 0.1
            while (self.in_flight or self.backlog) and time.perf_counter() < finish:
                await asyncio.sleep(0.02)
            self.stopping = True
        if args.closed:
            wall, cpu = time.perf_counter() - self.start, _cpu() - cpu_before
        watchdog.cancel()
        for task in self.connects:
            task.cancel()
        await asyncio.gather(*self.connects, return_exceptions=True)
        for connection in list(self.open) + self.idle:
            connection.close()
        await asyncio.sleep(0.1)  # the transports finish closing before the loop does
        return self.report(wall, cpu)

    def report(self, wall: float, cpu: float) -> dict[str, Any]:
        s, seconds = self.stats, self.args.seconds
        return {
            "mode": f"closed, {self.args.closed} connections" if self.args.closed else "open",
            "rate": self.args.rate,
            "seconds": seconds,
            "offered": s.offered if not self.args.closed else s.sent,
            "sent": s.sent,
            "send_rate": s.sent / seconds,
            "by_status": {str(k): v for k, v in sorted(s.by_status.items())},
            "by_path": {k.decode(errors="replace"): v for k, v in sorted(s.by_path.items())},
            "fallback_reasons": {
                k.decode(errors="replace"): v for k, v in sorted(s.by_reason.items())
            },
            "errors": s.errors,
            "connect_failures": self.connect_failures,
            "timeouts_sent": s.timeouts_sent,
            "timeouts_unsent": s.timeouts_unsent,
            "ok_ms": _percentiles(s.latency_ok),
            "shed_ms": _percentiles(s.latency_shed),
            "peak_connections": self.peak_connections,
            "connections_opened": self.opened,
            "peak_in_flight": self.peak_in_flight,
            "peak_backlog": self.peak_backlog,
            "client_cpu": cpu / wall,  # while sending: 1.0 is a whole core, all this client has
        }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentiles(values: array[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] * 1000

    return {"p50": at(0.50), "p99": at(0.99), "max": ordered[-1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="a file holding the JSON body to POST")
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second (open loop)")
    parser.add_argument("--closed", type=int, default=0, help="closed loop with N connections")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--max-connections", type=int, default=2048)
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="seconds between opening closed-loop connections"
    )
    args = parser.parse_args()
    if not args.closed and args.rate <= 0:
        parser.error("give --rate R (open loop) or --closed N (closed loop)")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    client = Client(args, loop)
    result = loop.run_until_complete(client.run())
    loop.close()
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
