"""Container images, named in one place: the compiled pipeline and images/ both read these."""

from __future__ import annotations

import os

REGISTRY = os.environ.get("AGENTHPO_IMAGE_REGISTRY", "ghcr.io/agenthpo")
TAG = os.environ.get("AGENTHPO_IMAGE_TAG", "0.1.0")

# Creator, analysis and report steps: no torch, no xgboost.
CONTROL_IMAGE = f"{REGISTRY}/agenthpo-control:{TAG}"
# Training steps on CPU nodes (xgboost and the CPU torch stack).
TRAIN_IMAGE = f"{REGISTRY}/agenthpo-train-cpu:{TAG}"
# Training steps on GPU nodes (CUDA base image, the same plug-ins).
TRAIN_CUDA_IMAGE = f"{REGISTRY}/agenthpo-train-cuda:{TAG}"
