"""The Creator step at scale (`make bench-scale`): stores of 100, 1,000 and 10,000 finished trials.

Each store is a Branin study in its own SQLite file whose trials are written as the claims, training and
analysis steps leave them (claimed, numbered, FINISHED, with their value, params, analysis and note), a
minute apart. For
each size it prints, in CPU seconds of this process (which is where SQLite works):
- the history read by a fresh store (a new process's first look: every trial is read once), and by a
  warm one (what `tune`'s progress display pays per look, every 0.5 s);
- the Creator step in a warm process (`study.create_round` with TPE: the history, the slots, TPE's
  proposal and the claim of the new trial): one step first (it replays the history into TPE's kept study,
  as the local runner's worker does before it serves), then the median of 3, each step followed by the
  trial's training and analysis records, as in a study;
- the Creator step as `agenthpo tune` runs it on KFP's local runner: the step's body handed to a warm worker
  (`agenthpo.pipelines.warm`) for this store, in wall seconds (the work is in the worker's child); one
  step first, then the median of 3 (the worker keeps its view of the study between steps);
- the Creator's prompt built from that history (`agents.creator.build_messages`, no LLM call);
- TPE's proposal (its kept study, after one new trial) beside plain Optuna's `ask()` on a study of the
  same size, each the median of 3, and their ratio.
It ends with the line `creator step at 10000 trials: X s` (the warm step plus the prompt), and the same for the
local runner's step (its wall seconds plus the prompt).

Run: .venv/bin/python benchmarks/scale.py [sizes, e.g. 100,1000,10000] [--keep DIR]
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from agenthpo.tracking import MlflowStudyStore
from agenthpo.tracking.claims import trial_claim_name
from mlflow.entities import Metric, Param, RunTag

from agenthpo import names, study
from agenthpo.agents.creator import Background, build_messages
from agenthpo.proposers.tpe import TPEProposer, _distribution
from agenthpo.spec import parse_spec

STEPS = 3


def branin(x1: float, x2: float) -> float:
    return ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def make_spec(uri: str, trials: int):
    return parse_spec({
        "name": f"scale-{trials}", "task": "branin", "objective": {"metric": "value", "direction": "minimize"},
        "space": {"x1": {"type": "float", "low": -5.0, "high": 10.0},
                  "x2": {"type": "float", "low": 0.0, "high": 15.0}},
        "budget": {"trials": trials + 100, "max_failed_trials": 3}, "proposer": "tpe", "seed": 0,
        "tracking_uri": uri}, base_dir=None)


def build(spec, trials: int) -> tuple[MlflowStudyStore, str]:
    """A study of `trials` finished and analysed trials, started a minute apart (the last 10 minutes ago),
    each with its claim (`agenthpo.tracking.claims`), as `tune` leaves them."""
    import numpy as np

    store = MlflowStudyStore(spec.tracking_uri)
    study_id = store.open_study(spec)
    client, experiment = store.client, store.client.get_run(study_id).info.experiment_id
    rng = np.random.default_rng(0)
    start = int(time.time() * 1000) - (trials + 10) * 60_000
    for number in range(1, trials + 1):
        x1, x2 = float(rng.uniform(-5, 10)), float(rng.uniform(0, 15))
        value, began = branin(x1, x2), start + number * 60_000
        facts = {"verdict": "finished", "best_step": 1, "final": value}
        tags = {names.PARENT: study_id, names.ROLE: names.ROLE_TRIAL, names.STUDY: spec.name, names.SOURCE: "tpe",
                names.PARAMS: json.dumps({"x1": x1, "x2": x2}), names.STATE: "FINISHED",
                names.TRIAL: str(number), names.VALUE: repr(value), names.RATIONALE: "Optuna TPE",
                names.ANALYSIS: json.dumps(facts), names.NOTE: f"value {value:.4g}",
                "mlflow.runName": f"trial-{number:03d}"}
        run = client.create_run(experiment, start_time=began, tags=tags)
        client.log_batch(run.info.run_id, metrics=[Metric("value", value, began, 0),
                                                   Metric(names.TRAIN_SECONDS, 0.01, began, 0)],
                         params=[Param("x1", str(x1)), Param("x2", str(x2))])
        client.set_terminated(run.info.run_id, "FINISHED", end_time=began + 1000)
        store.book.create_once(trial_claim_name(study_id, number), {names.CLAIM_RUN: run.info.run_id})
    return store, study_id


def cpu(call) -> tuple[float, object]:
    started = time.process_time()
    result = call()
    return time.process_time() - started, result


def settle(store: MlflowStudyStore, config) -> None:
    """What the training and analysis steps write for the new trial."""
    value = branin(config.proposal.params["x1"], config.proposal.params["x2"])
    store.finish_trial(config.trial_id, value, {"value": value}, {}, 0.01, None)
    store.write_analysis(config.trial_id, {"verdict": "finished"}, f"value {value:.4g}")
    store.client.log_batch(config.trial_id, tags=[RunTag(names.STATE, "FINISHED")])


def optuna_ask(spec, history) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p.name: _distribution(p) for p in spec.space}
    plain = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    for trial in history:
        plain.add_trial(optuna.trial.create_trial(params=dict(trial.params), distributions=distributions,
                                                  value=trial.value))
    times = []
    for _ in range(STEPS):
        seconds, asked = cpu(lambda: plain.ask(distributions))
        plain.tell(asked, state=optuna.trial.TrialState.FAIL)
        times.append(seconds)
    return statistics.median(times)


def through_worker(spec, store: MlflowStudyStore, study_id: str, folder: Path) -> float:
    """Median wall seconds of a Creator step handed to a warm worker, after one unmeasured step."""
    from agenthpo.components import handoff
    from agenthpo.pipelines import warm

    from agenthpo.messages import Round, StudyOpened

    process, path = warm.start(spec.tracking_uri, spec.task, folder)
    os.environ[handoff.SOCKET_ENV] = path
    try:
        if not warm.ready(process, path):  # without it the step would run here, cold, and be timed as warm
            raise SystemExit("the warm worker did not start")
        times = []
        for _ in range(STEPS + 1):
            started = time.perf_counter()
            answer = handoff.run_body("creator", spec_json=json.dumps(spec.to_json()),
                                      study_json=json.dumps(StudyOpened(study_id, 0, 0).to_json()),
                                      config_path=str(folder / "config.json"), slots=1)
            times.append(time.perf_counter() - started)
            settle(store, Round.from_json(json.loads(answer)).configs[0])
        return statistics.median(times[1:])
    finally:
        os.environ.pop(handoff.SOCKET_ENV, None)
        process.kill()
        process.wait()


def measure(folder: Path, trials: int) -> dict[str, float]:
    spec = make_spec(f"sqlite:///{folder}/scale-{trials}.db", trials)
    built, study_id = build(spec, trials)
    cold, history = cpu(lambda: MlflowStudyStore(spec.tracking_uri).history(study_id))
    assert len(history) == trials, len(history)
    store = MlflowStudyStore(spec.tracking_uri)
    store.history(study_id)  # a warm process has looked once
    warm, _ = cpu(lambda: store.history(study_id))
    steps = []
    for _ in range(STEPS + 1):  # the first step replays the history into TPE's kept study: a warm process has it
        seconds, proposed = cpu(lambda: study.create_round(spec, store, study_id, slots=1))
        steps.append(seconds)
        settle(store, proposed.configs[0])
    steps = steps[1:]
    local = through_worker(spec, store, study_id, folder)
    history = store.history(study_id)
    background = Background(spec.name, "Minimise Branin.", "an analytic function")
    prompt, _ = cpu(lambda: build_messages(background, spec.space, history, spec.objective, 1, False))
    proposer = TPEProposer(spec.objective, seed=0)
    proposer.propose(spec.space, history[:-1], 1)  # kept from the step before
    tpe_seconds = statistics.median(cpu(lambda: proposer.propose(spec.space, history, 1))[0] for _ in range(STEPS))
    ask = optuna_ask(spec, history)
    step = statistics.median(steps)
    return {"trials": trials, "cold_read": cold, "warm_read": warm, "step": step, "local": local,
            "prompt": prompt, "tpe": tpe_seconds, "ask": ask, "creator": step + prompt}


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")
    sizes = [int(s) for s in (argv[0] if argv and not argv[0].startswith("--") else "100,1000,10000").split(",")]
    keep = Path(argv[argv.index("--keep") + 1]) if "--keep" in argv else None
    with tempfile.TemporaryDirectory() as scratch:
        folder = keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print("| trials | history read, fresh store (s) | history read, warm (s) | creator step, warm (s) "
              "| creator step, local runner (wall s) | prompt (s) | TPE propose (s) | Optuna ask (s) | TPE / ask |")
        print("|---|---|---|---|---|---|---|---|---|")
        rows = []
        for trials in sizes:
            row = measure(folder, trials)
            rows.append(row)
            print(f"| {trials} | {row['cold_read']:.3f} | {row['warm_read']:.4f} | {row['step']:.3f} "
                  f"| {row['local']:.3f} | {row['prompt']:.3f} | {row['tpe']:.3f} | {row['ask']:.3f} "
                  f"| {row['tpe'] / max(row['ask'], 1e-9):.1f}x |", flush=True)
        for row in rows:
            print(f"creator step at {row['trials']} trials: {row['creator']:.3f} s "
                  f"(on the local runner: {row['local'] + row['prompt']:.3f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
