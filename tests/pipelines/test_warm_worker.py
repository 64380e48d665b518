"""The local runner's warm worker (issue 14): a step process hands its body over and ends as the body did,
without importing the MLflow stack; without a worker the body runs in the step's own process. The child
inherits the worker's heap frozen, and the step ends on the child's answer."""

import json
import os
import socket
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


def result_of(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split("RESULT ", 1)[1].splitlines()[0]


def test_a_step_handed_to_the_worker_returns_the_bodys_message_without_importing_mlflow(worker, sqlite_uri):
    done = step(worker, "open_study", spec_json=spec_json(sqlite_uri))
    opened = StudyOpened.from_json(json.loads(result_of(done)))
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


def test_a_steps_child_inherits_the_workers_heap_frozen(worker, sqlite_uri, tmp_path):
    # A full collection in the child walks only what the child made, not the imported stack it inherited
    # (about 430,000 objects: 0.4 s each time, in every other training step, before the worker froze them).
    spec = spec_json(sqlite_uri, task="fault_tasks:HEAP", budget={"trials": 1, "max_failed_trials": 1})
    study_json = result_of(step(worker, "open_study", spec_json=spec))
    config = tmp_path / "config.json"
    result_of(step(worker, "creator", spec_json=spec, study_json=study_json, config_path=str(config)))
    result_of(step(worker, "train", spec_json=spec, config_path=str(config)))
    from agenthpo.tracking import MlflowStudyStore

    [trial] = MlflowStudyStore(sqlite_uri).history(StudyOpened.from_json(json.loads(study_json)).study_id)
    assert trial.value is not None, trial
    frozen, walked = trial.metrics["gc_frozen"], trial.metrics["gc_tracked"]
    assert frozen > 100_000, trial.metrics  # the MLflow stack the worker imported
    assert walked < frozen / 4, trial.metrics


def test_a_step_ends_on_the_childs_answer_while_the_connection_is_still_open():
    # The worker closes the connection only after it has reaped the child: the answer alone ends the step.
    step_side, child_side = socket.socketpair()
    with step_side, child_side:
        step_side.settimeout(60)  # reading to the end would wait for a close that never comes: a timeout
        child_side.sendall(b'{"resu')
        child_side.sendall(b'lt": "{\\"done\\": true}"}\n')
        assert handoff.read_messages(step_side, until=handoff.ANSWERS) == {"result": '{"done": true}'}


def test_without_an_answer_the_step_reads_on_to_the_exit_status():
    step_side, child_side = socket.socketpair()
    with step_side:
        child_side.sendall(handoff.encode({"exit": 9}))
        child_side.close()
        assert handoff.read_messages(step_side, until=handoff.ANSWERS) == {"exit": 9}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_child_gives_the_steps_output_back_before_it_answers(tmp_path):
    # KFP's runner reads a step's output until no process holds it: the child must let go of it first.
    where = tmp_path / "stdout-now"
    code = ("import os, sys\nfrom agenthpo.pipelines.warm import _release_stdio\n"
            "print('printed before')\nsys.stderr.write('warned before\\n')\n_release_stdio()\n"
            "print('printed after')\n"
            f"open({str(where)!r}, 'w').write(os.readlink('/proc/self/fd/1'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("printed before\n", "warned before\n")
    assert where.read_text() == os.devnull


# In a fresh process: a freeze is for the whole process, and would outlive the test in pytest's.
FREEZE = """\
import gc, weakref
from agenthpo.pipelines.warm import freeze_heap

class Node:
    pass

gc.disable()  # no automatic collection may do freeze_heap's work
live = Node(); live.me = live  # a cycle still in use
dead = Node(); dead.me = dead  # a garbage cycle
gone = weakref.ref(dead)
del dead
freeze_heap()
made_after = Node(); made_after.me = made_after
tracked = gc.get_objects()
print(gone() is None, any(o is live for o in tracked), any(o is made_after for o in tracked), gc.get_freeze_count() > 0)
"""


def test_freeze_heap_collects_the_garbage_and_keeps_what_lives_out_of_later_collections():
    done = subprocess.run([sys.executable, "-c", FREEZE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    collected, live_walked, new_walked, frozen = done.stdout.split()
    assert collected == "True"  # the garbage cycle was collected, not frozen
    assert live_walked == "False"  # a later collection does not walk what lived at the freeze
    assert new_walked == "True"  # it still walks what was made after it
    assert frozen == "True"
