import json
import os
import subprocess
import sys
import threading
import time

import pytest
from scripted_llm import ScriptedLLM

from agenthpo.llm import LLMClient, LLMConfig
from agenthpo.llm.waiting import STATUS_ENV, read_status, waiting


@pytest.fixture
def status(tmp_path, monkeypatch):
    path = tmp_path / "logs" / "llm-status.json"
    monkeypatch.setenv(STATUS_ENV, str(path))
    return path


def test_waiting_writes_then_clears(status):
    with waiting("Creator"):
        record = json.loads(status.read_text())
        assert record["agent"] == "Creator" and record["pid"] == os.getpid()
        agent, elapsed = read_status(status)
        assert agent == "Creator" and 0 <= elapsed < 5
    assert read_status(status) is None
    assert [p.name for p in status.parent.iterdir()] == []  # no temporary file left either


def test_waiting_without_the_variable_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(STATUS_ENV, raising=False)
    with waiting("Creator"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_waiting_never_raises_on_an_unwritable_path(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for bad in (blocker / "sub" / "status.json", tmp_path):  # under a file; a folder
        monkeypatch.setenv(STATUS_ENV, str(bad))
        with waiting("Executor"):
            pass
    assert blocker.read_text() == "not a folder"


def test_the_body_s_exception_goes_through_and_clears(status):
    with pytest.raises(KeyError), waiting("Creator"):
        raise KeyError("boom")
    assert not status.exists()


@pytest.mark.parametrize("text", ["", "{}", "not json", "[1, 2]", '{"agent": "Creator"}',
                                  '{"agent": "Creator", "started": "x", "pid": 1}'])
def test_missing_empty_or_garbled_reads_as_none(tmp_path, text):
    assert read_status(tmp_path / "none.json") is None
    (tmp_path / "s.json").write_text(text)
    assert read_status(tmp_path / "s.json") is None


def test_a_file_of_a_dead_process_reads_as_none(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"agent": "Creator", "started": time.time() - 30, "pid": dead}))
    assert read_status(path) is None
    path.write_text(json.dumps({"agent": "Creator", "started": time.time() - 30, "pid": os.getpid()}))
    agent, elapsed = read_status(path)
    assert agent == "Creator" and 29 <= elapsed < 35


def test_another_call_s_record_is_not_removed(status):
    with waiting("Creator"):
        other = {"agent": "Executor", "started": time.time(), "pid": os.getpid() + 1}
        status.write_text(json.dumps(other))  # a parallel trial's call, written since
    assert json.loads(status.read_text()) == other
    status.unlink()
    with waiting("Creator"):
        with waiting("Executor"):
            assert read_status(status)[0] == "Executor"
        assert read_status(status) is None  # the inner call removed its own record
    assert read_status(status) is None


def test_chat_says_who_waits_while_the_request_is_in_flight(status):
    with ScriptedLLM(delay_for_timeout=1.5) as server:
        server.behaviours = ["timeout"]
        client = LLMClient(LLMConfig(base_url=server.base_url, model="scripted", timeout=30.0))
        replies = []
        thread = threading.Thread(target=lambda: replies.append(
            client.chat([{"role": "user", "content": "hi"}], agent="Executor")))
        thread.start()
        seen = None
        deadline = time.time() + 10
        while seen is None and time.time() < deadline and thread.is_alive():
            seen = read_status(status)
            time.sleep(0.05)
        thread.join(30)
    assert seen is not None and seen[0] == "Executor"
    assert replies and replies[0].content
    assert read_status(status) is None
