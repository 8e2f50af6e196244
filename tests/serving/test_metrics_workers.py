"""`shipyard serve --workers 2`: counters never go down between scrapes, whichever worker answers.

Load comes from a thread pool over several keep-alive connections while another
thread scrapes ``/metrics`` on a new connection each time (the kernel spreads new
connections over the workers). Every counter series, histogram bucket, count
and sum must be non-decreasing from one scrape to the next, and the final total
must equal the rows answered — also after one worker is killed with SIGKILL and
started again by the supervisor.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from test_cli_serve import serving

from shipyard.project import Project

ROWS = [{"amount": 1000.0 + i, "age": 30} for i in range(3)]  # three rows a request
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def parse(text: str) -> dict[str, float]:
    """Every monotonic sample (counters, histogram buckets, counts and sums) by series."""
    kinds: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            kinds[name] = kind
            continue
        found = _SAMPLE.match(line)
        if not found:
            continue
        name = found.group(1)
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        if kinds.get(name) == "counter" or kinds.get(base) == "histogram":
            samples[name + (found.group(2) or "")] = float(found.group(3))
    return samples


def predictions_total(samples: dict[str, float]) -> float:
    return sum(
        v for k, v in samples.items() if k.startswith('shipyard_predictions_total{model="risk"')
    )


class Scraper(threading.Thread):
    """Scrapes until stopped, each time on a new connection; records every decrease."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.scrapes = 0
        self.decreases: list[str] = []
        self.last: dict[str, float] = {}

    def scrape(self) -> dict[str, float]:
        response = httpx.get(f"{self.url}/metrics", timeout=30)  # a new connection
        assert response.status_code == 200
        samples = parse(response.text)
        for series, before in self.last.items():
            now = samples.get(series)
            if now is None or now < before:
                self.decreases.append(f"{series}: {before} -> {now} (scrape {self.scrapes})")
        self.last = samples
        self.scrapes += 1
        return samples

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.scrape()
            except httpx.HTTPError:  # a worker going away mid-scrape (the SIGKILL test)
                continue
            time.sleep(0.01)


def drive(url: str, requests: int, connections: int = 6) -> int:
    """Send ``requests`` predictions over ``connections`` keep-alive connections; rows answered."""
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(connections)]

    def one(index: int) -> int:
        response = clients[index % connections].post("/v1/models/risk/predict", json=ROWS)
        return len(ROWS) if response.status_code == 200 else 0

    try:
        with ThreadPoolExecutor(connections) as pool:
            return sum(pool.map(one, range(requests)))
    finally:
        for client in clients:
            client.close()


def workers_of(process: subprocess.Popen[str]) -> list[int]:
    """The worker processes the supervisor forked (its children with its command line)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    own = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    found = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if command == own:
            found.append(int(child))
    return found


@contextmanager
def two_workers(project: Project) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The real CLI with two workers, stopped with SIGTERM (its workers with it) even on failure."""
    with serving(project.root, "risk", "--workers", "2") as (process, url):
        try:
            yield process, url
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)


def test_counters_never_decrease_between_scrapes(serving_project: Project) -> None:
    with two_workers(serving_project) as (process, url):
        scraper = Scraper(url)
        scraper.start()
        answered = drive(url, 300)
        scraper.stop.set()
        scraper.join(timeout=60)
        finals = [scraper.scrape() for _ in range(6)]  # no wait: every update is in its file
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert scraper.scrapes > 10
    assert scraper.decreases == []
    assert answered == 900
    assert {predictions_total(s) for s in finals} == {answered}


def test_a_killed_worker_keeps_its_counts(serving_project: Project) -> None:
    with two_workers(serving_project) as (process, url):
        scraper = Scraper(url)
        answered = drive(url, 100)
        before = predictions_total(scraper.scrape())
        assert before == answered
        victim = workers_of(process)[0]
        scraper.start()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the supervisor starts a new worker, which loads
            workers = workers_of(process)
            if len(workers) == 2 and victim not in workers:
                loaded = re.search(
                    r'shipyard_model_loaded\{model="risk",version="1"\} (\d+)',
                    httpx.get(f"{url}/metrics", timeout=30).text,
                )
                if loaded and loaded.group(1) == "2":
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the supervisor did not start the killed worker again")
        answered += drive(url, 100)
        scraper.stop.set()
        scraper.join(timeout=60)
        finals = [scraper.scrape() for _ in range(6)]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert scraper.decreases == []
    assert {predictions_total(s) for s in finals} == {answered}
