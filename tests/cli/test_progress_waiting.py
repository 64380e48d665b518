import contextlib
import io
import json
import os
import re
import time
from types import SimpleNamespace

import pytest
from conftest import quadratic_spec, write_spec

from agenthpo.cli.progress import ProgressPrinter
from agenthpo.generations import Generation


class FakeStore:
    def history(self, study_id):
        return []

    def generation(self, study_id):
        return Generation()


class Terminal(io.StringIO):
    def isatty(self):
        return True


SPEC = SimpleNamespace(objective=SimpleNamespace(metric="score"), budget=SimpleNamespace(trials=10))


@pytest.fixture
def status(tmp_path):
    return tmp_path / "llm-status.json"


def waiting_for(path, agent: str, seconds: float, pid: int | None = None) -> None:
    path.write_text(json.dumps({"agent": agent, "started": time.time() - seconds, "pid": pid or os.getpid()}))


def printer(status, out) -> ProgressPrinter:
    p = ProgressPrinter(SPEC, FakeStore(), "study", llm_status=status)
    p.out = out
    return p


def test_a_long_call_is_shown_with_its_agent_and_seconds(status):
    out = io.StringIO()
    p = printer(status, out)
    waiting_for(status, "Creator", 12)
    p.poll()
    line = out.getvalue()
    assert "Creator" in line and "(LLM) answering" in line
    assert 11 <= int(re.search(r"(\d+) s", line).group(1)) <= 13


def test_a_short_call_or_none_is_not_shown(status):
    out = io.StringIO()
    p = printer(status, out)
    p.poll()  # no file
    waiting_for(status, "Creator", 2)
    p.poll()
    assert out.getvalue() == ""
    assert printer(None, out).poll() is None and out.getvalue() == ""  # no status file at all


def test_not_on_a_terminal_the_same_call_is_not_repeated_within_30_s(status):
    out = io.StringIO()
    p = printer(status, out)
    waiting_for(status, "Executor", 6)
    p.poll()
    p.poll()
    p.poll()
    assert out.getvalue().count("Executor") == 1
    record = json.loads(status.read_text())
    record["started"] -= 31  # the same call, 31 s later
    status.write_text(json.dumps(record))
    p.poll()
    assert out.getvalue().count("Executor") == 2
    waiting_for(status, "final report", 7)  # another call: shown at once
    p.poll()
    assert out.getvalue().count("final report") == 1


def on_a_terminal(status, agent: str):
    """A printer on a terminal that has shown `agent`'s call, 12 s in."""
    out = Terminal()
    p = printer(status, out)
    waiting_for(status, agent, 12)
    p.poll()
    return out, p


def test_on_a_terminal_one_line_is_rewritten_and_cleared(status):
    out, p = on_a_terminal(status, "Creator")
    p.poll()
    text, shown = out.getvalue(), p.wait_line
    assert text.count("\r") == 2 and "\n" not in text and "Creator (LLM) answering" in shown
    status.unlink()
    p.poll()  # the call is over: the line is blanked
    assert out.getvalue().endswith("\r" + " " * len(shown) + "\r") and p.wait_line == ""


def test_a_trial_line_starts_on_a_blanked_line(status):
    from agenthpo.trial import TrialState

    out, p = on_a_terminal(status, "Executor")
    shown = p.wait_line
    failed = SimpleNamespace(number=1, state=TrialState.FAILED, source="tpe", error="boom", facts={})
    p.store = SimpleNamespace(history=lambda study_id: [failed])
    p.poll()
    assert ("\r" + " " * len(shown) + "\r  trial   1/10") in out.getvalue()
    assert re.search(r"\r  \.\.\. Executor \(LLM\) answering: 1[123] s$", out.getvalue())  # shown again below


def test_stop_clears_the_line(status):
    out, p = on_a_terminal(status, "Creator")
    p.stop()
    assert out.getvalue().endswith("\r") and p.wait_line == ""


def test_tune_names_a_status_file_in_its_workdir_for_the_steps_and_unsets_it_after(tmp_path, sqlite_uri, monkeypatch):
    import agenthpo.pipelines.local as local

    from agenthpo import study
    from agenthpo.cli import main
    from agenthpo.llm.waiting import STATUS_ENV

    seen = []

    def run_to_budget(spec, store, study_id, workdir, log_path, on_failure=None, per_run=None, early=None):
        seen.append(os.environ.get(STATUS_ENV))
        study.run_inprocess(spec, store, study_id)

    monkeypatch.setattr(local, "run_to_budget", run_to_budget)

    monkeypatch.setattr(local, "started_early", lambda *args: contextlib.nullcontext())  # no KFP process
    monkeypatch.delenv(STATUS_ENV, raising=False)
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri))
    assert main(["tune", str(spec), "--trials", "1", "--workdir", str(tmp_path / "work")]) == 0
    assert seen[0] and seen[0].startswith(str((tmp_path / "work").resolve()))
    assert STATUS_ENV not in os.environ
