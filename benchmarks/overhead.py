"""What orchestration costs per trial (`make bench-overhead`): the same short study on KFP's local runner
(`agenthpo tune`), on it without the warm worker (`AGENTHPO_WARM_WORKER=0`: every step process imports the
MLflow stack itself, as before issue 14 and as in a pod) and in one process (`study.run_inprocess`), in CPU
seconds of every process involved.

The study is Branin with TPE (no training, no LLM), so what is measured is the pipeline: processes,
imports, MLflow reads and writes. Each engine runs a 2-trial and a 6-trial study in fresh folders; the
CPU per trial is (CPU of the 6-trial run - CPU of the 2-trial run) / 4, which leaves out what a study pays
once (the driver's imports, opening the store). CPU seconds are user + system of the child processes,
waited for (`resource.RUSAGE_CHILDREN`): they hold up when the machine is busy, wall seconds do not.

Run: .venv/bin/python benchmarks/overhead.py [small,large trials, default 2,6]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """\
name: overhead
task: branin
objective: {{metric: value, direction: minimize}}
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{trials: {trials}, max_failed_trials: 3}}
proposer: tpe
seed: 0
tracking_uri: sqlite:///{folder}/mlflow.db
"""
INPROCESS = """\
import sys
from agenthpo import study
from agenthpo.spec import load_spec
from agenthpo.tracking import MlflowStudyStore
spec = load_spec(sys.argv[1])
store = MlflowStudyStore(spec.tracking_uri)
study.run_inprocess(spec, store, study.open_study(spec, store).study_id)
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


ENGINES = {"kfp-local": {}, "kfp-local, no warm worker": {"AGENTHPO_WARM_WORKER": "0"}, "inprocess": {}}


def run(engine: str, trials: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one study of `trials` trials on `engine`."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        spec = folder / "spec.yaml"
        spec.write_text(SPEC.format(trials=trials, folder=folder))
        command = ([sys.executable, "-c", INPROCESS, str(spec)] if engine == "inprocess"
                   else [sys.executable, "-m", "agenthpo", "tune", str(spec)])
        before, started = children_cpu(), time.perf_counter()
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore", **ENGINES[engine]})
        wall, cpu = time.perf_counter() - started, children_cpu() - before
        if done.returncode != 0:
            raise SystemExit(f"{engine} study of {trials} trials failed:\n{done.stdout}\n{done.stderr}")
        return cpu, wall


def main(argv: list[str]) -> None:
    small, large = (int(s) for s in (argv[0] if argv else "2,6").split(","))
    print(f"| engine | CPU s, {small} trials | CPU s, {large} trials | CPU s per trial | wall s per trial |")
    print("|---|---|---|---|---|")
    lines = []
    for engine in ENGINES:
        (cpu_small, wall_small), (cpu_large, wall_large) = run(engine, small), run(engine, large)
        per_trial = (cpu_large - cpu_small) / (large - small)
        print(f"| {engine} | {cpu_small:.1f} | {cpu_large:.1f} | {per_trial:.2f} | "
              f"{(wall_large - wall_small) / (large - small):.2f} |", flush=True)
        lines.append(f"{engine}: {per_trial:.2f} s of CPU per trial")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
