"""The deploy stage: a container image's build files and Kubernetes manifests for a project."""

from __future__ import annotations

from .api import Deploy, Written
from .docker import build_image, check_tag
from .k8s import k8s_name
from .records import DeployError, ImagePlan

__all__ = ["Deploy", "DeployError", "ImagePlan", "Written", "build_image", "check_tag", "k8s_name"]
