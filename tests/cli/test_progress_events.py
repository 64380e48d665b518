"""The progress display reads the history when a trial event says something changed, not at every tick."""

import io
import time
from types import SimpleNamespace

from agenthpo.cli import progress
from agenthpo.cli.progress import ProgressPrinter
from agenthpo.generations import Generation
from agenthpo.trial import TrialRecord, TrialState
from agenthpo.trial_events import EVENTS_ENV, announce

SPEC = SimpleNamespace(objective=SimpleNamespace(metric="accuracy", better=lambda a, b: a > b),
                       budget=SimpleNamespace(trials=10))


class CountingStore:
    def __init__(self):
        self.trials: list[TrialRecord] = []
        self.reads = 0

    def history(self, study_id):
        self.reads += 1
        return list(self.trials)

    def generation(self, study_id):
        return Generation()


def finished(number: int, value: float) -> TrialRecord:
    return TrialRecord(number, {"x": value}, TrialState.FINISHED, value=value, source="tpe", train_seconds=1.0,
                       facts={"verdict": "ok"})


def make_printer(tmp_path, store):
    printer = ProgressPrinter(SPEC, store, "study", llm_status=tmp_path / "none.json", events=tmp_path / "events")
    printer.out = io.StringIO()
    return printer


def test_no_event_no_read_until_the_slow_look(tmp_path, monkeypatch):
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events"))
    store = CountingStore()
    printer = make_printer(tmp_path, store)
    assert store.reads == 1  # what had ended before it started
    for _ in range(50):
        printer.poll()
    assert store.reads == 1
    store.trials.append(finished(1, 0.7))
    announce("run-1", "analysed")
    printer.poll()
    printer.poll()
    assert store.reads == 2
    assert printer.out.getvalue().startswith("  trial   1/10  tpe      accuracy=0.7")


def test_another_drivers_trial_is_shown_by_the_slow_look(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "FALLBACK_SECONDS", 0.2)
    store = CountingStore()
    printer = make_printer(tmp_path, store)
    store.trials.append(finished(4, 0.5))  # no event: written by a driver with its own events file
    printer.poll()
    assert printer.out.getvalue() == ""
    time.sleep(0.25)
    printer.poll()
    assert "trial   4/10" in printer.out.getvalue()


def test_the_last_look_reads_whatever_came(tmp_path):
    store = CountingStore()
    printer = make_printer(tmp_path, store)
    store.trials.append(finished(2, 0.6))
    printer.stop()  # never started: the last look still reads
    assert "trial   2/10" in printer.out.getvalue()


def test_a_failed_read_is_tried_again_at_the_next_tick(tmp_path, monkeypatch):
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events"))
    store = CountingStore()
    printer = make_printer(tmp_path, store)
    store.trials.append(finished(3, 0.9))
    busy = [True]

    def history(study_id):
        store.reads += 1
        if busy.pop() if busy else False:
            raise RuntimeError("database is locked")
        return list(store.trials)

    store.history = history
    announce("run-3", "analysed")
    printer.poll()  # the read fails
    printer.poll()  # no new event, but the failed read is tried again
    assert "trial   3/10" in printer.out.getvalue()
