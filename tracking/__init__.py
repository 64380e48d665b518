"""The only package that talks to MLflow."""

from agenthpo.tracking.store import MlflowStudyStore, artifact_root_for

__all__ = ["MlflowStudyStore", "artifact_root_for"]
