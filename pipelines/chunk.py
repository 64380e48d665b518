"""One pipeline run on KFP's local runner: a child process in a process group of its own, with its
outputs, its notes and its warm worker (`agenthpo.pipelines.warm`).

The process starts before it is told what to run (`Chunk(spec, ...)`): it imports KFP and starts its warm
worker (which imports the MLflow stack, the plug-in's imports and, for an LLM study, the OpenAI SDK) while
the driver goes on starting the LLM server, creating the store and opening the study, on the other core.
`order(spec, trials)` then writes the run's `chunk.json` (the spec as a file: no command-line length
limit, in a folder only this user can enter) and sends the driver's environment as it is by then on the
process's stdin (the steps inherit it: the progress display's event and status files are named there;
it is never written to disk). A run that is never ordered is killed (`kill`), or reads EOF and exits.

The worker opens the store only once the driver says it has created it (`store_created`, at the latest
with the order): two processes must not both create a SQLite schema.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import suppress
from pathlib import Path

from agenthpo import faults
from agenthpo.messages import Round
from agenthpo.spec import StudySpec

WARM_ENV = "AGENTHPO_WARM_WORKER"  # 0: no warm worker for the steps (each step imports everything itself)
KILL_GRACE = 5.0
_STEP_EXITS, _PIPELINE_ERROR, _START, _ORDER = "step-exits.txt", "pipeline-error.txt", "start.json", "chunk.json"
_STORE_READY = "store-ready"  # the driver has created the store: the worker may open it
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _worker_needs(spec: StudySpec) -> dict:
    """What the warm worker is started with: any spec that agrees on these can be run by it."""
    return {"tracking_uri": spec.tracking_uri, "task": spec.task, "uses_llm": bool(spec.uses_llm)}


class Chunk:
    """One pipeline run of `trials` iterations in its own process group, with its outputs and notes."""

    def __init__(self, spec: StudySpec, workdir: Path, log_path: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        (workdir / "outputs").mkdir(exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=workdir / "outputs"))
        self.notes = self.root / "notes"
        self.notes.mkdir()
        self.log_path, self.trials, self.ordered = log_path, 0, False
        self.needs = _worker_needs(spec)
        (self.root / _START).write_text(json.dumps({
            **self.needs, "driver": os.getpid(), "workspace": tempfile.mkdtemp(prefix="workspace-", dir=workdir),
            "store_marker": str(self.root / _STORE_READY)}))
        with open(log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agenthpo.pipelines.chunk", str(self.root)], stdin=subprocess.PIPE,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, faults.NOTES_ENV: str(self.notes)})
        self._opened: set[str] = set()
        self._read: set[Path] = set()

    def fits(self, spec: StudySpec) -> bool:
        """Whether this run's worker was started for what `spec` needs (an unordered run only)."""
        return not self.ordered and self.needs == _worker_needs(spec)

    def store_created(self) -> None:
        """The driver has created (or found) the store: the worker may open it before the first step."""
        (self.root / _STORE_READY).touch()

    def order(self, spec: StudySpec, trials: int, report: bool = False) -> "Chunk":
        """Run `trials` iterations of `spec` (with `report`, the compiled pipeline's shape, report step and all)."""
        self.store_created()
        (self.root / _ORDER).write_text(json.dumps({"spec": spec.to_json(), "trials": trials,
                                                    "root": str(self.root / "kfp"), "report": report}))
        self.trials, self.ordered = trials, True
        with suppress(BrokenPipeError):  # the process is gone: `wait` says how, `failure` why
            self.process.stdin.write((json.dumps({**os.environ, faults.NOTES_ENV: str(self.notes)}) + "\n").encode())
            self.process.stdin.close()
        return self

    def wait(self, seconds: float) -> int | None:
        """The exit status once the run ended, else None after `seconds`."""
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGTERM to the whole group (the runner, its worker and every step process), SIGKILL to what is left."""
        with faults.signals_held():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=KILL_GRACE)
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            with suppress(OSError):
                self.process.stdin.close()

    def opened(self) -> set[str]:
        """The trial runs this run's Creators opened (read from their outputs)."""
        for path in (self.root / "kfp").rglob("config"):
            if path in self._read or not path.is_file():
                continue
            try:
                proposed = Round.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError):  # still being written: read it at the next look
                continue
            self._read.add(path)
            self._opened.update(config.trial_id for config in proposed.configs)
        return set(self._opened)

    def noted(self, trial_id: str, kind: str) -> float | None:
        return faults.noted(self.notes, trial_id, kind)

    def training(self, trial_id: str) -> float | None:
        """Since when the trial's (latest) training step trains, None when none does."""
        started = self.noted(trial_id, faults.STARTED)
        over = max(self.noted(trial_id, faults.TRAINED) or 0.0, self.noted(trial_id, faults.UNRECORDED) or 0.0)
        return started if started is not None and started > over else None

    def failure(self) -> str:
        """What failed, said plainly: the step processes' exit statuses, else KFP's message (no colours)."""
        exits = self.notes / _STEP_EXITS
        steps = sorted(set(exits.read_text().split("\n")) - {""}) if exits.exists() else []
        error = self.notes / _PIPELINE_ERROR
        what = "; ".join(steps) or (error.read_text().strip() if error.exists() else "") or \
            f"the pipeline runner exited with status {self.process.returncode}"
        return f"{what} (KFP log: {self.log_path})"


def _describe_exit(code: int) -> str:
    """How a step's process ended; KFP runs it under `sh -c`, which reports death by signal N as 128 + N."""
    number = -code if code < 0 else code - 128 if 128 < code < 160 else 0
    try:
        name = signal.Signals(number).name if number else ""
    except ValueError:
        name = ""
    if not name:
        return f"exited with status {code}"
    details = ([f"exit status {code}"] if code > 0 else []) + (["out of memory?"] if number == signal.SIGKILL else [])
    return f"was killed by {name}" + (f" ({'; '.join(details)})" if details else "")


def _die_with_driver(driver: int) -> None:
    """The run's process group goes when its driver goes, even by SIGKILL (no orphan finishes a trial that
    a resume marked INTERRUPTED): on Linux the kernel sends this process SIGTERM when its parent dies
    (PR_SET_PDEATHSIG), and SIGTERM here kills the whole group."""
    signal.signal(signal.SIGTERM, lambda signum, frame: os.killpg(0, signal.SIGKILL))
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != driver:  # the driver went before the line above
        os.killpg(0, signal.SIGKILL)


def _main(root: str) -> int:
    """The child: one pipeline run on KFP's local runner (stdout and stderr are the log)."""
    folder = Path(root)
    start = json.loads((folder / _START).read_text())
    _die_with_driver(start["driver"])
    worker = _start_worker(start)  # it imports while KFP is imported here and the driver opens the study
    try:
        return _run(folder, start, worker)
    finally:
        if worker is not None:
            worker[0].kill()
            worker[0].wait()
            shutil.rmtree(os.path.dirname(worker[1]), ignore_errors=True)


def _run(folder: Path, start: dict, worker: tuple[subprocess.Popen, str] | None) -> int:
    """Wait for the order (a line on stdin), then run it; 1 when the pipeline failed (its error noted)."""
    from agenthpo.components.handoff import SOCKET_ENV
    from agenthpo.pipelines import warm
    from agenthpo.pipelines.study_pipeline import build_pipeline
    from kfp import local
    from kfp.local import subprocess_task_handler

    line = sys.stdin.readline()
    if not line:  # never ordered: the driver had nothing for this run
        return 0
    os.environ.clear()
    os.environ.update(json.loads(line))  # the driver's environment now: the steps inherit it
    order = json.loads((folder / _ORDER).read_text())
    notes = Path(os.environ[faults.NOTES_ENV])
    run_step = subprocess_task_handler.run_local_subprocess

    def recorded(*args, **kwargs) -> int:  # KFP keeps only success or failure: keep how a step ended
        code = run_step(*args, **kwargs)
        if code != 0:
            with open(notes / _STEP_EXITS, "a") as f:
                f.write(f"a step's process {_describe_exit(code)}\n")
        return code

    subprocess_task_handler.run_local_subprocess = recorded
    spec = StudySpec.from_json(order["spec"])
    os.environ.pop(SOCKET_ENV, None)
    if worker is not None and warm.ready(*worker):
        os.environ[SOCKET_ENV] = worker[1]
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=order["root"],
               workspace_root=start["workspace"], raise_on_error=True)
    # No report step for `agenthpo tune`: its driver writes the report once, after its last pipeline run.
    pipeline = build_pipeline(spec, order["trials"], report=bool(order.get("report", False)))
    try:
        pipeline()
    except RuntimeError as exc:
        (notes / _PIPELINE_ERROR).write_text(_ANSI.sub("", str(exc)))
        return 1
    return 0


def _start_worker(start: dict) -> tuple[subprocess.Popen, str] | None:
    """The run's warm worker (`agenthpo.pipelines.warm`) and its socket's path, not waited for; None when
    $AGENTHPO_WARM_WORKER is 0 (every step then imports what it needs, as on a cluster)."""
    from agenthpo.pipelines import warm

    if os.environ.get(WARM_ENV, "1").strip() == "0":
        return None
    return warm.start(start["tracking_uri"], start["task"], Path(start["workspace"]), uses_llm=start["uses_llm"],
                      store_marker=start["store_marker"])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
