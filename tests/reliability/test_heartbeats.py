"""A running trial beats; a resume interrupts only silent trials; a trial interrupted while it still ran keeps
its late result as information: never FINISHED, never counted.

Against SQLite through MlflowStudyStore and a real training process (frozen with SIGSTOP, thawed with
SIGCONT), and the same rules on the in-memory store.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec
from memory_store import MemoryStudyStore

from agenthpo import names, slots, study
from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal, TrialState


def make(store, uri: str = "sqlite:///never-used.db", **overrides):
    spec = parse_spec(quadratic_spec(uri, **overrides), base_dir=None)
    return spec, store, store.open_study(spec)


@pytest.mark.parametrize("beat, started, now, stale", [
    (100.0, 0.0, 100.0 + 4 * 30, False),  # 4 intervals: still alive
    (100.0, 0.0, 100.0 + 4 * 30 + 1, True),
    (None, 0.0, 20 * 30, False),  # never beat: 20 intervals of grace after it was opened (a pod's start)
    (None, 0.0, 20 * 30 + 1, True),
])
def test_staleness_is_four_missed_beats_or_twenty_intervals_without_any(beat, started, now, stale):
    assert slots.is_stale(now, started, beat, 30.0) is stale


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(slots.HEARTBEAT_ENV, "0.5")
    assert slots.heartbeat_seconds() == 0.5 and slots.poll_seconds() == 0.5
    monkeypatch.setenv(slots.HEARTBEAT_ENV, "nonsense")
    assert slots.heartbeat_seconds() == slots.DEFAULT_HEARTBEAT_SECONDS


def test_heartbeats_beat_while_the_block_runs_and_stop_after_it():
    beats = []

    class Recorder:
        def heartbeat(self, trial_id, interval):
            beats.append((trial_id, interval, time.monotonic()))
            if len(beats) == 2:
                raise ConnectionError("a tracking outage: the beat is skipped, training goes on")

    with slots.heartbeats(Recorder(), "run-1", interval=0.05):
        time.sleep(0.4)
    count = len(beats)
    time.sleep(0.2)
    assert count >= 4 and len(beats) == count, "beats every interval, none after the block"
    assert {(trial, interval) for trial, interval, _ in beats} == {("run-1", 0.05)}


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_resume_interrupts_only_trials_whose_heartbeat_is_stale(kind, sqlite_uri):
    store = MlflowStudyStore(sqlite_uri) if kind == "sqlite" else MemoryStudyStore()
    spec, store, study_id = make(store, sqlite_uri, budget={"trials": 4, "max_failed_trials": 3})
    beating, silent, never = (store.claim_trial(study_id, Proposal({"x": x, "epochs": 2}, "random"), 4).trial_id
                              for x in (0.1, 0.2, 0.3))
    start = time.time()
    store.clock = lambda: start
    store.heartbeat(beating, 10.0)
    store.heartbeat(silent, 10.0)
    store.clock = lambda: start + 41  # 41 s later: `silent` missed 4 beats of 10 s
    store.heartbeat(beating, 10.0)
    store.open_study(spec)
    states = {t.run_id: t.state for t in store.history(study_id)}
    assert states == {beating: TrialState.RUNNING, silent: TrialState.INTERRUPTED, never: TrialState.RUNNING}
    assert store.slots_held(study_id) == 2  # the interrupted trial's slot is given back
    store.clock = lambda: start + 20 * slots.DEFAULT_HEARTBEAT_SECONDS + 5  # `never` never beat: past its grace
    assert sorted(store.reap_stale(study_id)) == [1, 3] and store.slots_held(study_id) == 0


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_late_result_of_an_interrupted_trial_is_kept_but_never_counted(kind, sqlite_uri):
    store = MlflowStudyStore(sqlite_uri) if kind == "sqlite" else MemoryStudyStore()
    spec, store, study_id = make(store, sqlite_uri)
    finished_late, failed_late = (store.start_trial(study_id, n, Proposal({"x": n / 10, "epochs": 2}, "random"))
                                  for n in (1, 2))
    for trial_id in (finished_late, failed_late):
        assert store.mark_interrupted(trial_id, "a resume found it silent")
    store.finish_trial(finished_late, 0.9, {"score": 0.9}, {"train_loss": [(1, 0.5), (2, 0.3)]}, 2.0, None)
    store.fail_trial(failed_late, "RuntimeError: too late to fail\n\nTraceback ...", {}, 1.0)
    store.write_analysis(finished_late, {"verdict": "converged"}, "trained to the end")
    assert not store.mark_interrupted(finished_late, "again")  # ended once: nothing changes
    history = store.history(study_id)
    assert [(t.state, t.value) for t in history] == [(TrialState.INTERRUPTED, None)] * 2
    assert study.counted(history) == (0, 0) and store.slots_held(study_id) == 0
    if kind == "memory":
        late = [(store.runs[t].late_state, store.runs[t].late_value, store.runs[t].note) for t in (finished_late,
                                                                                                   failed_late)]
    else:
        runs = [store.client.get_run(t) for t in (finished_late, failed_late)]
        assert [r.info.status for r in runs] == ["FAILED", "FAILED"]
        assert all(names.VALUE not in r.data.tags and names.ERROR not in r.data.tags for r in runs)
        late = [(r.data.tags[names.LATE_STATE], float(r.data.tags[names.LATE_VALUE]) if names.LATE_VALUE in
                 r.data.tags else None, r.data.tags[names.NOTE]) for r in runs]
    (state_1, value_1, note_1), (state_2, value_2, note_2) = late
    assert (state_1, value_1, state_2, value_2) == ("FINISHED", 0.9, "FAILED", None)
    assert note_1.startswith("**Interrupted**: a resume found it silent. Not counted.")
    assert "**Late result** (not counted: the trial had already ended INTERRUPTED): agenthpo.value=0.9" in note_1
    assert "**Late analysis** (not counted):\n\ntrained to the end" in note_1
    assert "RuntimeError: too late to fail" in note_2 and "Traceback" not in note_2


TRAIN_ONE = """
import json, sys
from agenthpo import study
from agenthpo.messages import TrialConfig
from agenthpo.spec import StudySpec
from agenthpo.tracking import MlflowStudyStore
spec = StudySpec.from_json(json.loads(sys.argv[1]))
config = TrialConfig.from_json(json.loads(sys.argv[2]))
print(json.dumps(study.train_step(spec, MlflowStudyStore(spec.tracking_uri), config).to_json()), flush=True)
"""


@pytest.mark.slow
def test_a_frozen_training_process_is_interrupted_and_its_later_result_not_counted(sqlite_uri):
    spec, store, study_id = make(MlflowStudyStore(sqlite_uri), sqlite_uri, task_options={"sleep_seconds": 3.0})
    config = study.create_trial(spec, store, study_id)
    process = subprocess.Popen(
        [sys.executable, "-c", TRAIN_ONE, json.dumps(spec.to_json()), json.dumps(config.to_json())],
        stdout=subprocess.PIPE, text=True, env={**os.environ, slots.HEARTBEAT_ENV: "0.5"})
    try:
        deadline = time.monotonic() + 120
        while names.HEARTBEAT not in store.client.get_run(config.trial_id).data.tags:
            assert time.monotonic() < deadline and process.poll() is None, "the training step never beat"
            time.sleep(0.2)
        assert store.reap_stale(study_id) == []  # it beats: alive, left alone
        process.send_signal(signal.SIGSTOP)  # frozen: no more beats (a hung node, a stopped container)
        time.sleep(0.5 * (slots.STALE_BEATS + 2))
        assert store.reap_stale(study_id) == [config.number]  # what a resume does
        assert store.history(study_id)[0].state == TrialState.INTERRUPTED
    finally:
        process.send_signal(signal.SIGCONT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    trained = json.loads(out.strip().splitlines()[-1])
    assert trained["state"] == "STOPPED" and "INTERRUPTED" in trained["reason"]
    (record,) = store.history(study_id)
    run = store.client.get_run(config.trial_id)
    assert record.state == TrialState.INTERRUPTED and record.value is None and run.info.status == "FAILED"
    assert run.data.tags[names.LATE_STATE] == "FINISHED" and names.VALUE not in run.data.tags
    assert float(run.data.tags[names.LATE_VALUE]) == pytest.approx(1 - (config.proposal.params["x"] - 0.3) ** 2)
    assert study.counted(store.history(study_id)) == (0, 0) and store.slots_held(study_id) == 0
    # Its slot went back to the budget: the study trains its 3 trials after all.
    study.run_inprocess(spec.replace(task_options={}), store, study_id)
    assert [t.state for t in store.history(study_id)] == [TrialState.INTERRUPTED] + [TrialState.FINISHED] * 3
