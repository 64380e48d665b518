"""A test plug-in whose trials fail from outside the task's own code: `task: reliability_tasks:FAULTY`.

The score is 1 - (x - 0.3)^2 over 3 reported epochs, after `sleep_seconds`. Task options (read by name:
the plug-in declares none):
- fault: what the first trial to train does (the first in `once_dir`, a fresh folder; again when its
  step is retried; the other trials train normally): `sigkill` kills its own process with SIGKILL (as the
  kernel's OOM killer does); `hang` sleeps for an hour (a SIGALRM deadline interrupts it); `hang_in_c`
  ignores SIGALRM and sleeps (as a hang inside C code that never returns to Python: only killing the
  process ends it).
- pid_dir: each trial writes `<pid>.pid` there when it starts training (the test checks the process is gone).
"""

import os
import signal
import time
from pathlib import Path

FAULTS = ("none", "sigkill", "hang", "hang_in_c")


def _faulty(folder: str, params) -> bool:
    """True for the first trial trained with `folder` (known by its parameters: a retried step is it too)."""
    mine, path = repr(sorted(params.items())), Path(folder) / "taken"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        for _ in range(50):  # written just after the exclusive create
            if path.read_text():
                break
            time.sleep(0.1)
        return path.read_text() == mine
    with os.fdopen(fd, "w") as f:
        f.write(mine)
    return True


class FaultyTask:
    name = "faulty"
    description = "Maximise 1 - (x - 0.3)^2; a test task whose first trial fails from outside its code."

    def train(self, params, ctx):
        if ctx.option("pid_dir", ""):
            (Path(ctx.option("pid_dir")) / f"{os.getpid()}.pid").write_text(str(os.getpid()))
        fault = ctx.option("fault", "none")
        assert fault in FAULTS, fault
        if fault != "none" and not _faulty(ctx.option("once_dir"), params):
            fault = "none"
        if fault == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif fault == "hang":
            time.sleep(3600)
        elif fault == "hang_in_c":
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            time.sleep(3600)
        time.sleep(ctx.option("sleep_seconds", 0.0))
        x = params["x"]
        for epoch in (1, 2, 3):
            ctx.report(epoch, train_loss=1.0 / epoch, validation_loss=1.0 / epoch + x / 10)
        return {"score": 1.0 - (x - 0.3) ** 2}


FAULTY = FaultyTask()
