"""The local runner's warm worker (issue 14): a step process hands its body over and ends as the body did,
without importing the MLflow stack; without a worker the body runs in the step's own process."""

import json
import os
import subprocess
import sys

import pytest
from agenthpo.components import handoff
from agenthpo.pipelines import warm
from conftest import quadratic_spec

from agenthpo.messages import StudyOpened
from agenthpo.spec import parse_spec

STEP = """\
import json, sys
from agenthpo.components.handoff import run_body, StepFailed
try:
    result = run_body(sys.argv[1], **json.loads(sys.argv[2]))
except StepFailed as exc:
    print("FAILED", str(exc))
    sys.exit(1)
print("RESULT", result)
print("MLFLOW", "mlflow" in sys.modules)
"""


@pytest.fixture
def worker(tmp_path, sqlite_uri):
    process, path = warm.start(sqlite_uri, "fault_tasks:QUADRATIC", tmp_path)
    assert warm.ready(process, path), "the worker never listened"
    yield path
    process.kill()
    process.wait()


def spec_json(sqlite_uri, **overrides) -> str:
    return json.dumps(parse_spec(quadratic_spec(sqlite_uri, **overrides), base_dir=None).to_json())


def step(path: str | None, body: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != handoff.SOCKET_ENV}
    if path:
        env[handoff.SOCKET_ENV] = path
    return subprocess.run([sys.executable, "-c", STEP, body, json.dumps(kwargs)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_a_step_handed_to_the_worker_returns_the_bodys_message_without_importing_mlflow(worker, sqlite_uri):
    done = step(worker, "open_study", spec_json=spec_json(sqlite_uri))
    assert done.returncode == 0, done.stdout + done.stderr
    result = done.stdout.split("RESULT ", 1)[1].splitlines()[0]
    opened = StudyOpened.from_json(json.loads(result))
    from agenthpo.tracking import MlflowStudyStore

    assert MlflowStudyStore(sqlite_uri).find_study("quadratic") == opened.study_id
    assert "MLFLOW False" in done.stdout


def test_without_a_worker_the_body_runs_in_the_step_process(tmp_path, sqlite_uri):
    done = step(str(tmp_path / "no-such.sock"), "open_study", spec_json=spec_json(sqlite_uri))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MLFLOW True" in done.stdout


def test_an_exception_in_the_body_fails_the_step_with_its_traceback(worker, sqlite_uri):
    done = step(worker, "open_study", spec_json="{not json")
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "Traceback" in done.stdout and "JSONDecodeError" in done.stdout


@pytest.mark.parametrize("status, expected", [(3 << 8, 3), (9, -9)])  # waitpid statuses: exit 3, SIGKILL
def test_the_step_process_ends_as_the_child_ended(status, expected):
    code = (f"from agenthpo.components.handoff import _as_step\n_as_step({{'exit': {status}}})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == expected
