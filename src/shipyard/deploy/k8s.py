"""Kubernetes manifests for a project: the servers, their Service, scaling, and the worker.

What each object is for, and the numbers in it:

- ``Deployment`` ``NAME-serve``: ``shipyard serve`` on ``0.0.0.0``. Readiness is
  ``/readyz`` (503 until the models are loaded, and while draining), liveness
  ``/healthz``. The startup probe allows ``STARTUP_BUDGET_S`` (120 s) before liveness
  counts: a cold start (process start to the first 200 on ``/healthz``) measured
  10-14 s for the example project on a busy 2-core machine, 3.8-4.4 s in
  benchmarks/RESULTS.md; the rest is for a slower node and a model loaded from S3. A stop runs ``preStop`` ``sleep`` first
  (the endpoints controller and kube-proxy stop sending new requests), then
  SIGTERM: the server drains for up to ``server.drain_s`` and exits. The grace
  period is their sum plus ``GRACE_MARGIN_S``. Rolling updates never take a ready
  replica away before its successor is ready (``maxUnavailable: 0``).
- ``Service``: ClusterIP on port 80 to the servers' port.
- ``HorizontalPodAutoscaler`` (autoscaling/v2) on CPU, from the replicas asked for
  to three times that (the serving Deployment has no ``replicas`` of its own, so a
  ``kubectl apply`` never resets the count the autoscaler chose);
  ``PodDisruptionBudget`` (policy/v1): one replica at most away for a node drain.
- ``ConfigMap`` ``NAME-project``: the project file (without its comments), mounted over
  the image's; the pod templates carry its digest (``CONFIG_DIGEST``), so changing only
  the file rolls the pods.
- Secret *references*: each variable comes from the Secret ``NAME-secrets``
  (``secretKeyRef``); no value is ever written here. ``kubectl create secret
  generic NAME-secrets --from-literal=…`` makes it.
- ``Deployment`` ``NAME-worker``: one ``shipyard worker`` (monitoring, retraining),
  ``Recreate`` so two never overlap; the lease would keep a second one idle anyway.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from .dockerfile import APP, USER_ID

STARTUP_PERIOD_S = 5
STARTUP_FAILURES = 24
STARTUP_BUDGET_S = STARTUP_PERIOD_S * STARTUP_FAILURES  # 120 s
PRE_STOP_S = 5
GRACE_MARGIN_S = 10
CONFIG_DIGEST = "shipyard.dev/project-file-sha256"
SERVE_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
WORKER_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "2Gi"},
}


@dataclass(frozen=True)
class SecretRef:
    """An environment variable taken from the project's Secret; ``optional`` may be absent."""

    name: str
    optional: bool


@dataclass(frozen=True)
class ClusterPlan:
    """What the manifests are made from (no secret value is ever part of it)."""

    project: str
    image: str
    replicas: int
    project_file: str
    drain_s: float
    secrets: tuple[SecretRef, ...]
    served: tuple[str, ...] = ()  # the models serve is given (empty: every model)
    port: int = 8000


def k8s_name(project: str) -> str:
    """``project`` as a DNS-1123 label (lower case, digits and '-'), at most 40 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", project.lower()).strip("-")[:40].strip("-")
    return name or "shipyard"


def manifests(plan: ClusterPlan) -> dict[str, list[dict[str, Any]]]:
    """File name -> the objects written to it, in the order ``kubectl apply`` should see them."""
    name = k8s_name(plan.project)
    return {
        "configmap.yaml": [_config_map(plan, name)],
        "serve.yaml": [_serve(plan, name)],
        "service.yaml": [_service(plan, name)],
        "hpa.yaml": [_hpa(plan, name)],
        "pdb.yaml": [_pdb(name)],
        "worker.yaml": [_worker(plan, name)],
    }


def grace_period_s(drain_s: float) -> int:
    """``terminationGracePeriodSeconds``: preStop, then the drain, then a margin to exit."""
    return PRE_STOP_S + math.ceil(drain_s) + GRACE_MARGIN_S


def _labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "shipyard",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
    }


def _meta(name: str, component: str, suffix: str = "") -> dict[str, Any]:
    return {"name": f"{name}{suffix}", "labels": _labels(name, component)}


def _config_map(plan: ClusterPlan, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, "config", "-project"),
        "data": {"shipyard.yaml": plan.project_file},
    }


#: Read by the server only: the worker answers no HTTP request, so its pod does not need them.
SERVER_ONLY = frozenset({"SHIPYARD_API_TOKEN", "SHIPYARD_ADMIN_TOKEN"})


def _env(plan: ClusterPlan, name: str, *, serves: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": ref.name,
            "valueFrom": {
                "secretKeyRef": {
                    "name": f"{name}-secrets",
                    "key": ref.name,
                    "optional": ref.optional,
                }
            },
        }
        for ref in plan.secrets
        if serves or ref.name not in SERVER_ONLY
    ]


def _container(plan: ClusterPlan, name: str, args: list[str]) -> dict[str, Any]:
    return {
        "name": args[0],  # serve or worker
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": _env(plan, name, serves=args[0] == "serve"),
        "volumeMounts": [
            {
                "name": "project",
                "mountPath": f"{APP}/shipyard.yaml",
                "subPath": "shipyard.yaml",
                "readOnly": True,
            }
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _pod(plan: ClusterPlan, name: str, container: dict[str, Any], grace: int) -> dict[str, Any]:
    return {
        "terminationGracePeriodSeconds": grace,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "project", "configMap": {"name": f"{name}-project"}}],
    }


def _serve(plan: ClusterPlan, name: str) -> dict[str, Any]:
    args = ["serve", *plan.served, "--host", "0.0.0.0", "--port", str(plan.port)]
    container = _container(plan, name, args)
    container["ports"] = [{"name": "http", "containerPort": plan.port, "protocol": "TCP"}]
    container["resources"] = SERVE_RESOURCES
    container["startupProbe"] = _probe("/healthz", STARTUP_PERIOD_S, STARTUP_FAILURES)
    container["readinessProbe"] = _probe("/readyz", 5, 2)
    container["livenessProbe"] = _probe("/healthz", 10, 3)
    container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_S)]}}}
    selector = _labels(name, "serve")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, "serve", "-serve"),
        "spec": {
            # no replicas: the HorizontalPodAutoscaler owns the count (from plan.replicas up);
            # a count here would reset its choice at every `kubectl apply`
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": _template_meta(plan, selector),
                "spec": _pod(plan, name, container, grace_period_s(plan.drain_s)),
            },
        },
    }


def _template_meta(plan: ClusterPlan, selector: dict[str, str]) -> dict[str, Any]:
    """The pods' labels, and the project file's digest: a change to the file alone changes
    the pod template, so `kubectl apply` rolls the pods (a subPath mount never refreshes)."""
    digest = hashlib.sha256(plan.project_file.encode("utf-8")).hexdigest()
    return {"labels": selector, "annotations": {CONFIG_DIGEST: digest}}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _service(plan: ClusterPlan, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, "serve"),
        "spec": {
            "type": "ClusterIP",
            "selector": _labels(name, "serve"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _hpa(plan: ClusterPlan, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name, "serve", "-serve"),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"{name}-serve",
            },
            "minReplicas": plan.replicas,
            "maxReplicas": plan.replicas * 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def _pdb(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, "serve", "-serve"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(name, "serve")}},
    }


def _worker(plan: ClusterPlan, name: str) -> dict[str, Any]:
    container = _container(plan, name, ["worker"])
    container["resources"] = WORKER_RESOURCES
    selector = _labels(name, "worker")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, "worker", "-worker"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": _template_meta(plan, selector),
                # SIGTERM: the worker finishes its step and gives the lease up
                "spec": _pod(plan, name, container, 60),
            },
        },
    }
