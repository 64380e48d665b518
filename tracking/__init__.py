"""The only package that talks to MLflow."""

from agenthpo.tracking.bench_store import MlflowBenchmarkStore
from agenthpo.tracking.store import MlflowStudyStore, artifact_root_for

__all__ = ["MlflowBenchmarkStore", "MlflowStudyStore", "artifact_root_for"]
