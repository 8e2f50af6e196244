"""The README's tour runs as written, top to bottom, in a fresh folder.

The commands are read from the README's "A short tour" block and run in one real
shell (``cd credit`` and ``serve … &`` then carry over, as they do for a reader),
with the real ``shipyard`` entry point and the real ``curl``. Only the port changes:
``8000`` becomes a free one, so parallel runs do not collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import missing_backend

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
MARK = ":::tour:::"


def tour_commands() -> list[str]:
    """The command lines of the tour's shell block, exactly as the README shows them."""
    section = README.split("## A short tour\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block is not None, "the README's tour has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_tour_names_every_stage() -> None:
    text = "\n".join(tour_commands())
    for step in ("init", "data ingest", "train", "evaluate", "promote", "serve", "monitor"):
        assert f"shipyard {step}" in text
    assert sum(line.startswith("curl ") for line in tour_commands()) == 1
    assert "--example credit" in text and ":8000" in text


@pytest.mark.slow
@pytest.mark.timeout(900)  # nine real commands, each a fresh interpreter, on a busy machine
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        missing_backend("curl is not installed; the README's tour calls the server with it")
    port = str(_free_port())
    script = ["set -e"]
    for line in tour_commands():
        script.append(f"echo {shlex.quote(MARK + ' ' + line)}")
        script.append(line.replace("8000", port))  # only the port: the rest runs as written
    script.append(f"echo {MARK} done")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        shell = subprocess.Popen(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group: a server left behind is ended too
        )
        try:
            returncode = shell.wait(timeout=900)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
    result = subprocess.CompletedProcess(shell.args, returncode, out.read_text(), err.read_text())
    outputs = _by_command(result.stdout)
    ran = [command for command, _ in outputs]
    assert result.returncode == 0, (
        f"the tour stopped at {ran[-1]!r} (exit {result.returncode}):\n"
        f"{outputs[-1][1]}\n{result.stderr[-3000:]}"
    )
    assert ran == [*tour_commands(), "done"]
    [(_, answer)] = [(c, out) for c, out in outputs if c.startswith("curl ")]
    prediction = json.loads(answer)
    assert prediction["model"] == "default-risk" and prediction["version"] == 1
    assert prediction["predictions"][0] in (True, False) and not prediction["degraded"]
    [monitored] = [out for c, out in outputs if c.startswith("shipyard monitor")]
    assert "default-risk: 1 predictions" in monitored


def _by_command(stdout: str) -> list[tuple[str, str]]:
    """Each command the tour ran and what it printed on stdout."""
    found: list[tuple[str, str]] = []
    for chunk in stdout.split(MARK + " ")[1:]:
        command, _, printed = chunk.partition("\n")
        found.append((command, printed))
    return found
