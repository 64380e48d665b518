import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HELPERS = Path(__file__).resolve().parent / "helpers"
DATA = Path(os.environ.get("AGENTHPO_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(HELPERS))
# Pipeline steps run in subprocesses: they find the test plug-ins through PYTHONPATH.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HELPERS), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An empty MLflow database with its schema made once: migrating a new file takes seconds."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def sqlite_uri(tmp_path, migrated_sqlite):
    shutil.copy(migrated_sqlite, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def water_csv():
    path = DATA / "water_potability" / "water_potability.csv"
    assert path.exists(), f"dataset missing: {path} (shared/data beside the repository, or set AGENTHPO_DATA)"
    return path


@pytest.fixture
def house_csv():
    path = DATA / "house_price" / "housing_price_dataset.csv"
    assert path.exists(), f"dataset missing: {path} (shared/data beside the repository, or set AGENTHPO_DATA)"
    return path


def quadratic_spec(tracking_uri: str, **overrides) -> dict:
    spec = {
        "name": "quadratic", "task": "fault_tasks:QUADRATIC", "description": "test study",
        "objective": {"metric": "score", "direction": "maximize"},
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}, "epochs": {"type": "int", "low": 2, "high": 5}},
        "budget": {"trials": 3, "max_failed_trials": 3}, "proposer": "random", "seed": 1,
        "tracking_uri": tracking_uri, "task_options": {},
    }
    spec.update(overrides)
    return spec


def run_cli(*args: str, cwd: Path, timeout: float = 900, env: dict | None = None):
    """Run `python -m agenthpo ...` as a user would; returns the CompletedProcess."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "agenthpo", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def write_spec(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path
