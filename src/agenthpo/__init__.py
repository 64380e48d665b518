"""agenthpo: hyperparameter optimisation by LLM agents, run as Kubeflow pipeline iterations and
tracked in MLflow. The core (this package without `components`, `pipelines` and `tracking`) needs
neither KFP nor MLflow.

The Python API (`agenthpo.api`): `create_study`, `load_study`, `Study.optimize`, `ask` / `tell`. Its names
are imported on first use, so `import agenthpo` stays light (the CLI and the pipeline steps import it).
"""

__version__ = "0.1.0"

_API = ("create_study", "load_study", "Study", "AskedTrial", "StudyExists", "StudyStopped")


def __getattr__(name: str):
    if name in _API:
        from agenthpo import api

        return getattr(api, name)
    if name == "TrialPruned":
        from agenthpo.pruning import TrialPruned

        return TrialPruned
    raise AttributeError(f"module 'agenthpo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "TrialPruned"])


__all__ = [*_API, "TrialPruned"]
