"""agenthpo: hyperparameter optimisation by LLM agents, run as Kubeflow pipeline iterations and
tracked in MLflow. The core (this package without `components`, `pipelines` and `tracking`) needs
neither KFP nor MLflow."""

__version__ = "0.1.0"
