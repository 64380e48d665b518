"""Two processes optimize one study at once: the claims give each trial one number, the budget is not overrun."""

import subprocess
import sys
import textwrap
import time

import pytest
from mlflow.tracking import MlflowClient

import agenthpo
from agenthpo import names

# Whole studies, or the CLI in subprocesses (seconds each).
pytestmark = pytest.mark.slow

WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import agenthpo

    uri, folder, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    study = agenthpo.create_study(
        name="shared", tracking_uri=uri, load_if_exists=True, proposer="random", seed=int(me),
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}},
        objective={"metric": "score", "direction": "maximize"}, budget={"trials": 8})
    (folder / f"ready-{me}").touch()
    while not (folder / "go").exists():  # both processes start optimizing together
        time.sleep(0.05)

    def train(params, ctx):
        time.sleep(0.4)
        return params["x"]

    study.optimize(train, report=False)
""")


def test_two_processes_share_the_budget(sqlite_uri, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    workers = [subprocess.Popen([sys.executable, str(script), sqlite_uri, str(tmp_path), str(me)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for me in (1, 2)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{me}").exists() for me in (1, 2)):
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers), \
            [w.communicate()[0] for w in workers if w.poll() is not None]
        time.sleep(0.1)
    (tmp_path / "go").touch()
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    study = agenthpo.load_study("shared", tracking_uri=sqlite_uri)
    trials = study.trials
    assert [t.number for t in trials] == list(range(1, 9))
    assert all(t.state.value == "FINISHED" for t in trials)
    client = MlflowClient(sqlite_uri)
    drivers = [client.get_run(t.run_id).data.tags[names.DRIVER] for t in trials]
    assert len(set(drivers)) == 2, drivers  # both processes trained some of them
