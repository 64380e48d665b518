"""Which LLM call is running now, and for how long: a status file the CLI shows while it waits.

A local model can take minutes to answer; with nothing on the screen meanwhile, `agenthpo tune` looks hung.
The study's steps run in subprocesses (KFP's local runner) or in-process, so the news travels through a file:
the CLI names it in the environment variable STATUS_ENV (the steps inherit it), each LLM request writes
`{"agent", "started", "pid"}` there for its duration (`waiting`), and the CLI's progress printer reads it
(`read_status`). A status display must never break a study: nothing here raises on a file it cannot write.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STATUS_ENV = "AGENTHPO_LLM_STATUS"


def _write(path: Path, record: dict) -> None:
    """Atomically: a reader sees the old record or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temp.write_text(json.dumps(record))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


@contextmanager
def waiting(agent: str) -> Iterator[None]:
    """Around one LLM request: says `agent` is waiting for an answer, in the file STATUS_ENV names (if any)."""
    name = os.environ.get(STATUS_ENV)
    path = Path(name) if name else None
    mine = {"agent": agent, "started": time.time(), "pid": os.getpid()}
    if path is not None:
        try:
            _write(path, mine)
        except (OSError, ValueError):
            path = None
    try:
        yield
    finally:
        if path is not None:
            try:
                record = _read(path)
                # Only our own record: another call (a parallel trial's) may have written since.
                if record is not None and record.get("pid") == mine["pid"] and record.get("started") == mine["started"]:
                    path.unlink(missing_ok=True)
            except (OSError, ValueError):
                pass


def read_status(path: str | Path) -> tuple[str, float] | None:
    """(agent, seconds it has waited) of the LLM call running now; None when none is (or the file is unreadable,
    or its process is gone)."""
    record = _read(Path(path))
    if not record:
        return None
    try:
        agent, started, pid = str(record["agent"]), float(record["started"]), int(record["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    if not _alive(pid):
        return None
    return agent, max(0.0, time.time() - started)
