"""Trial events: "a trial's record changed", so the progress display reads the history only when there is news.

The study's steps run in subprocesses (KFP's local runner) or in-process, so the news travels through a
file, as the LLM's waiting status does: the CLI names it in EVENTS_ENV (steps and the pipeline runner
inherit it); each store write that changes what a trial shows (a result, a failure, a stop, an analysis,
a trial marked interrupted) appends one line to it (`announce`); the display watches the file's size
(`TrialEvents.changed`: one stat) and reads the history only after it grew. A driver elsewhere writes to
its own file, so its trials reach this display through a slow look (FALLBACK_SECONDS) instead.
An event is a hint: nothing here raises on a file it cannot write or read.
"""

from __future__ import annotations

import os
from pathlib import Path

EVENTS_ENV = "AGENTHPO_TRIAL_EVENTS"
FALLBACK_SECONDS = 10.0  # a display reads the history at least this often (other drivers' trials)


def announce(trial_id: str, what: str) -> None:
    """Say that trial `trial_id`'s record changed (`what`: finished, failed, pruned, analysed, ...)."""
    name = os.environ.get(EVENTS_ENV)
    if not name:
        return
    line = f"{trial_id} {what}\n".encode()
    try:
        # O_APPEND: writes this short from several processes land whole, one after another.
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:  # the display misses one hint and catches up at its next slow look
        pass


class TrialEvents:
    """The reader's side: has anything been announced since the last look?"""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.size = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def changed(self) -> bool:
        """True once per batch of announcements made since the previous call."""
        size = self._size()
        if size == self.size:
            return False
        self.size = size
        return True
