"""A study against a real `mlflow server` on 127.0.0.1, artifacts proxied by the server."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import ROOT, run_cli

from agenthpo.trial import TrialState

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, migrated_sqlite):
    import shutil

    shutil.copy(migrated_sqlite, tmp_path / "server.db")
    port = free_port()
    artifacts = tmp_path / "server-artifacts"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(artifacts),
         "--workers", "1"],
        stdout=open(tmp_path / "server.log", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.5)
    else:
        pytest.fail("mlflow server did not answer /health in 120 s")
    yield url, artifacts
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def test_three_trial_study_through_a_tracking_server(tmp_path, mlflow_server):
    url, artifacts = mlflow_server
    done = run_cli("tune", ROOT / "examples" / "water-potability.yaml", "--trials", "3", "--proposer", "tpe",
                   "--tracking-uri", url, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "mlflow.db").exists(), "with a server URI nothing may be written locally"
    store = MlflowStudyStore(url)
    study_id = store.find_study("water-potability")
    history = store.history(study_id)
    assert [t.state for t in history] == [TrialState.FINISHED] * 3
    # Artifacts went through the server into its artifact store.
    stored = {p.name for p in artifacts.rglob("*") if p.is_file()}
    assert {"report.md", "optimization_history.png", "learning_curves.png", "spec.json"} <= stored
    assert f"MLflow UI: {url}" in done.stdout
