"""`shipyard deploy k8s`: manifests that validate for two Kubernetes versions, offline.

The project's database is the real PostgreSQL (the registry is read for the
champions); its artifact store is named S3 through ``SHIPYARD_ARTIFACTS_URL`` when
deploying, which is all the manifests need (no object is read).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from conftest import champion, project_file, run
from shipyard.deploy.k8s import CONFIG_DIGEST, STARTUP_BUDGET_S

KUBERNETES = ("1.30.0", "1.33.0")
PASSWORD = "hunter2-never-written"


@pytest.fixture
def on_postgres(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = project_file(tmp_path / "shop", storage=f"storage:\n  database: {postgres_url}\n")
    champion(folder)
    # the cluster's store: given when deploying, as SHIPYARD_* overrides, one with a password
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", "s3://models-bucket/shop")
    with_password = postgres_url.replace("://shipyard@", f"://shipyard:{PASSWORD}@", 1)
    assert PASSWORD in with_password  # the test server trusts loopback: any password does
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", with_password)
    return folder


def objects(out: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(out.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


@pytest.mark.postgres
def test_the_manifests_validate_and_hold_what_a_rollout_needs(on_postgres: Path) -> None:
    out = on_postgres / "k8s"
    result = run(
        on_postgres, "-v", "deploy", "k8s", "--replicas", "3", "--out", str(out),
        "--image", "registry.example.com/shop:1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    made = objects(out)
    assert sorted(made) == [
        "ConfigMap/shop-project",
        "Deployment/shop-serve",
        "Deployment/shop-worker",
        "HorizontalPodAutoscaler/shop-serve",
        "PodDisruptionBudget/shop-serve",
        "Service/shop",
    ]
    for document in made.values():
        for version in KUBERNETES:
            kubernetes_validate.validate(document, version, strict=True)  # raises when invalid

    serve = made["Deployment/shop-serve"]["spec"]
    assert "replicas" not in serve  # the autoscaler's to set: an apply must not reset it
    assert serve["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = serve["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "registry.example.com/shop:1"
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == STARTUP_BUDGET_S >= 60
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    # preStop, then server.drain_s (7.5 s in the project file), then time to exit
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + math.ceil(7.5) + 5
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["securityContext"]["runAsNonRoot"] is True

    env = {e["name"]: e for e in container["env"]}
    assert all("value" not in e for e in env.values())  # references only, never a value
    refs = {n: e["valueFrom"]["secretKeyRef"] for n, e in env.items()}
    assert {r["name"] for r in refs.values()} == {"shop-secrets"}
    assert refs["SHIPYARD_DATABASE_URL"]["optional"] is False  # given when deploying
    assert refs["SHIPYARD_API_TOKEN"]["optional"] is False  # server.require_token
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= refs.keys()

    hpa = made["HorizontalPodAutoscaler/shop-serve"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["scaleTargetRef"]["name"] == "shop-serve"
    assert made["PodDisruptionBudget/shop-serve"]["apiVersion"] == "policy/v1"
    config = made["ConfigMap/shop-project"]["data"]["shipyard.yaml"]
    assert config == (on_postgres / "shipyard.yaml").read_text()

    worker = made["Deployment/shop-worker"]["spec"]
    assert worker["replicas"] == 1 and worker["strategy"]["type"] == "Recreate"
    assert worker["template"]["spec"]["containers"][0]["args"] == ["worker"]
    worker_env = {e["name"] for e in worker["template"]["spec"]["containers"][0]["env"]}
    assert worker_env == env.keys() - {"SHIPYARD_API_TOKEN", "SHIPYARD_ADMIN_TOKEN"}

    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert PASSWORD not in written and PASSWORD not in result.output


@pytest.mark.postgres
def test_the_image_built_for_a_postgres_project_pins_its_driver(on_postgres: Path) -> None:
    out = on_postgres / "image"
    result = run(on_postgres, "-v", "build", "--out", str(out))
    assert result.exit_code == 0, result.output
    lock = (out / "requirements.lock").read_text()
    assert "psycopg" in lock and "s3fs" in lock
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert PASSWORD.encode() not in written and PASSWORD not in result.output


@pytest.mark.parametrize("replicas", ["3", "1"])
def test_embedded_storage_is_refused_with_why_and_how(shop: Path, replicas: str) -> None:
    result = run(shop, "deploy", "k8s", "--replicas", replicas, "--out", str(shop / "k8s"))
    assert result.exit_code == 1
    assert "the database is SQLite" in result.output
    assert "PostgreSQL and S3" in result.output
    assert "storage.database: postgresql://" in result.output  # how to change it
    assert not (shop / "k8s").exists()


@pytest.mark.postgres
def test_deploy_names_an_unknown_model_and_one_without_champion(on_postgres: Path) -> None:
    text = (on_postgres / "shipyard.yaml").read_text()
    second = text.split("models:\n", 1)[1].replace("  risk:", "  churn:", 1)
    (on_postgres / "shipyard.yaml").write_text(text + second)
    out = on_postgres / "k8s"
    unknown = run(on_postgres, "deploy", "k8s", "risc", "--out", str(out))
    assert unknown.exit_code == 1 and "did you mean 'risk'" in unknown.output
    no_champion = run(on_postgres, "deploy", "k8s", "--out", str(out))  # every model: churn too
    assert no_champion.exit_code == 1 and "model 'churn' has no champion" in no_champion.output
    assert not out.exists()


@pytest.mark.postgres
def test_comments_never_reach_the_image_or_the_manifests(on_postgres: Path) -> None:
    """A comment can hold an old password or a ``${VAR}`` no one sets: what is shipped is
    the file without its comments, and only the references the loader reads are Secrets."""
    file = on_postgres / "shipyard.yaml"
    file.write_text(
        "# staging: api_key=sk-live-0042\n"
        + file.read_text().replace("server:", "server:  # password: Hunter3 as ${NAME}", 1)
        + "# smtp: {host: mail, password: ${SMTP_PASSWORD}}\n",
        encoding="utf-8",
    )
    assert run(on_postgres, "build", "--out", str(on_postgres / "image")).exit_code == 0
    result = run(on_postgres, "deploy", "k8s", "--out", str(on_postgres / "k8s"))
    assert result.exit_code == 0, result.output
    written = [p for out in ("image", "k8s") for p in (on_postgres / out).rglob("*")]
    for path in (p for p in written if p.is_file() and p.suffix != ".whl"):
        text = path.read_text(encoding="utf-8")
        assert "sk-live-0042" not in text and "Hunter3" not in text, path
        assert "SMTP_PASSWORD" not in text and "key: NAME" not in text, path
    assert "SMTP_PASSWORD" not in result.output and "NAME" not in result.output


@pytest.mark.postgres
def test_a_change_to_the_project_file_alone_rolls_the_pods(on_postgres: Path) -> None:
    """The file is a subPath mount, which never refreshes: the pod templates carry its
    digest, so a changed file is a changed template, and `kubectl apply` rolls them."""

    def digests(out: Path) -> list[str]:
        made = objects(out)
        return [
            made[f"Deployment/shop-{part}"]["spec"]["template"]["metadata"]["annotations"][
                CONFIG_DIGEST
            ]
            for part in ("serve", "worker")
        ]

    assert run(on_postgres, "deploy", "k8s", "--out", str(on_postgres / "a")).exit_code == 0
    file = on_postgres / "shipyard.yaml"
    file.write_text(file.read_text().replace("drain_s: 7.5", "drain_s: 8"), encoding="utf-8")
    assert run(on_postgres, "deploy", "k8s", "--out", str(on_postgres / "b")).exit_code == 0
    before, after = digests(on_postgres / "a"), digests(on_postgres / "b")
    assert before[0] == before[1] and after[0] == after[1] and before != after
