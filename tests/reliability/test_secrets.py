"""No secret is written: one redaction (agenthpo.redact) on every exit, and a whole study that proves it.

The unit tests show what `redact` replaces; the exit tests write a key through each exit for real
(an MLflow client on SQLite, a process's logs and streams, a step's KFP output); the study runs
`agenthpo tune` against a real `mlflow server` and a scripted endpoint that echoes the key in every
way an endpoint can, then scans every byte the study left behind for it.
"""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import quadratic_spec, run_cli, write_spec
from scripted_llm import ScriptedLLM

from agenthpo import redact as redaction
from agenthpo.redact import REDACTED, RedactingFilter, clean, redact, redact_bytes

KEY = "team-" + "4f9c2a7be81d03c6a5f7e2b9d4c1a8e6f0b3d5c7"  # no `sk-` prefix: found by its value alone


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("TEAM_LLM_KEY", KEY)
    redaction.register_env("TEAM_LLM_KEY")
    return KEY


def occurrences(data: bytes, key: str = KEY) -> int:
    """How often the key, or a piece of it that would identify it, is in `data`."""
    return sum(data.count(piece.encode()) for piece in (key, key[:12], key[-12:]))


def scan(*roots: Path, key: str = KEY) -> dict[str, int]:
    """Files under the roots that hold the key (or a 12-character piece of it), with the count."""
    found = {}
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file() and (count := occurrences(path.read_bytes(), key)):
                found[str(path)] = count
    return found


# -- redact() -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    (f"key {KEY} end", f"key {REDACTED} end"),
    (json.dumps({"message": f"bad key: {KEY}"}), json.dumps({"message": f"bad key: {REDACTED}"})),
    (f"clipped at 300: {KEY[:17]}", f"clipped at 300: {REDACTED}"),  # a cut keeps the start of it
    (f"{KEY[-14:]} was the end", f"{REDACTED} was the end"),  # a cut from the left keeps its end
    ("http://user:pass-word@llm.example/v1", f"http://{REDACTED}@llm.example/v1"),
    ("postgresql+psycopg2://mlflow:pw@db:5432/mlflow", f"postgresql+psycopg2://{REDACTED}@db:5432/mlflow"),
    ("Authorization: Bearer abcdefghijklmnop", f"Authorization: Bearer {REDACTED}"),
    ("someone else's sk-proj-AbCdEfGhIjKlMnOpQrSt12", f"someone else's {REDACTED}"),
    ("http://mlflow:5000/#/experiments and a@b.c", "http://mlflow:5000/#/experiments and a@b.c"),
    ("short 'sk-1' and plain text stay", "short 'sk-1' and plain text stay"),
])
def test_redact_replaces_keys_pieces_url_credentials_and_tokens(key_env, text, expected):
    assert redact(text) == expected


def test_redact_leaves_non_text_and_short_values_alone(monkeypatch):
    monkeypatch.setenv("TEAM_SHORT", "abc")  # too short to be a key: redacting it would garble text
    redaction.register_env("TEAM_SHORT")
    assert redact("abc def") == "abc def" and redact(None) is None and redact(3) == 3 and redact("") == ""


def test_a_registered_value_and_a_key_set_later_are_redacted(monkeypatch):
    redaction.register("explicit-secret-value-99")
    assert redact("x explicit-secret-value-99 y") == f"x {REDACTED} y"
    redaction.register_env("TEAM_LATER_KEY")
    assert redact("zq7-late-registered-8841") == "zq7-late-registered-8841"
    monkeypatch.setenv("TEAM_LATER_KEY", "zq7-late-registered-8841")  # read at each redaction
    assert redact("zq7-late-registered-8841") == REDACTED


def test_an_llm_config_registers_its_key_variable(monkeypatch):
    from agenthpo.llm import LLMConfig

    monkeypatch.setenv("TEAM_CONFIG_KEY", "config-key-value-456789")
    assert redact("x config-key-value-456789") == "x config-key-value-456789"  # not a known secret yet
    LLMConfig(api_key_env="TEAM_CONFIG_KEY")
    assert redact("x config-key-value-456789") == f"x {REDACTED}"


def test_clean_also_strips_terminal_colour_codes(key_env):
    text = f"Pipeline \x1b[95mstudy\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m ({KEY})"
    assert clean(text) == f"Pipeline study finished with status FAILURE ({REDACTED})"
    assert "\x1b" in redact(text)  # logs and terminals keep their colours


def test_redact_bytes_of_text_and_of_binary_files(key_env):
    assert redact_bytes(f"a {KEY}\n".encode()) == f"a {REDACTED}\n".encode()
    binary = b"\x89PNG\xff\x00" + KEY.encode() + b"\xfe"
    assert KEY.encode() not in redact_bytes(binary) and redact_bytes(b"\x89PNG\xff") == b"\x89PNG\xff"


# -- the exits, one by one ------------------------------------------------------------------------------
def test_every_write_of_the_mlflow_client_is_redacted(key_env, sqlite_uri, tmp_path):
    from agenthpo.tracking.client import make_client
    from mlflow.entities import Param, RunTag

    client = make_client(sqlite_uri)
    experiment = client.create_experiment("secrets", artifact_location=str(tmp_path / "artifacts"),
                                          tags={"why": KEY})
    run = client.create_run(experiment, tags={"agenthpo.rationale": f"because {KEY}"}, run_name=f"run {KEY}")
    run_id = run.info.run_id
    client.set_tag(run_id, "agenthpo.error", f"\x1b[91mFAILED\x1b[0m: 401 {KEY}")
    client.log_param(run_id, "p", KEY)
    client.log_batch(run_id, params=[Param("q", f"q{KEY}")], tags=[RunTag("agenthpo.llm_problems", KEY[:20])])
    client.log_text(run_id, f"Traceback: {KEY}", "error.txt")
    client.log_dict(run_id, {"k": [KEY], KEY: 1}, "data.json")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "note.md").write_text(f"note {KEY}")
    (tmp_path / "folder" / "blob.bin").write_bytes(b"\xff\x00" + KEY.encode())
    client.log_artifact(run_id, str(tmp_path / "folder" / "note.md"))
    client.log_artifacts(run_id, str(tmp_path / "folder"), "copy")
    client.update_run(run_id, name=f"renamed {KEY}")
    tags = client.get_run(run_id).data.tags
    assert tags["agenthpo.error"] == f"FAILED: 401 {REDACTED}" and tags["agenthpo.rationale"] == f"because {REDACTED}"
    assert tags["agenthpo.llm_problems"] == REDACTED and client.get_run(run_id).data.params["p"] == REDACTED
    assert scan(Path(sqlite_uri.removeprefix("sqlite:///")), tmp_path / "artifacts") == {}
    assert (tmp_path / "folder" / "note.md").read_text() == f"note {KEY}"  # the caller's file is left as it was
    assert {a.path for a in client.list_artifacts(run_id, "copy")} == {"copy/note.md", "copy/blob.bin"}


def test_log_records_and_streams_of_a_process_are_redacted(key_env, tmp_path):
    # A fresh process, as the CLI and every pipeline step are: install() first, then everything it writes.
    code = f"""
import logging, sys
from agenthpo.redact import install
install()
logging.basicConfig(level=logging.INFO, filename={str(tmp_path / 'log.txt')!r})
logging.getLogger('openai').warning('request failed: %s', {KEY!r})
logging.getLogger('httpx').addHandler(logging.StreamHandler(sys.stderr))  # a handler added later
logging.getLogger('httpx').info('HTTP Request: POST http://user:%s@llm/v1 401', {KEY!r})
try:
    raise RuntimeError('endpoint said: ' + {KEY!r})
except RuntimeError:
    logging.getLogger('agenthpo').exception('step failed')
print('stdout', {KEY!r})
raise SystemExit('exit ' + {KEY!r})
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "TEAM_LLM_KEY": KEY, "OPENAI_API_KEY": KEY})
    log = (tmp_path / "log.txt").read_text()
    assert "request failed: [REDACTED]" in log and "RuntimeError: endpoint said: [REDACTED]" in log
    assert "stdout [REDACTED]" in done.stdout and "HTTP Request: POST http://[REDACTED]@llm/v1" in done.stderr
    assert occurrences((log + done.stdout + done.stderr).encode()) == 0, log + done.stdout + done.stderr


def test_the_filter_redacts_a_record_in_place(key_env):
    record = logging.LogRecord("openai", logging.ERROR, __file__, 1, "key %s", (KEY,), None)
    assert RedactingFilter().filter(record) and record.getMessage() == f"key {REDACTED}"


def test_a_step_output_is_redacted(key_env):
    from agenthpo.components.runtime import dump

    from agenthpo.messages import Trained
    from agenthpo.trial import TrialState

    out = dump(Trained(TrialState.FAILED, 1, "run", error=f"LLMError: {KEY}"))
    assert occurrences(out.encode()) == 0 and json.loads(out)["error"] == f"LLMError: {REDACTED}"


@pytest.mark.parametrize("url", [f"http://user:{KEY}@llm.example/v1", f"https://{KEY}@llm.example/v1"])
def test_credentials_in_the_llm_base_url_are_a_field_error(key_env, sqlite_uri, url):
    from agenthpo.errors import FieldError
    from agenthpo.spec import parse_spec

    with pytest.raises(FieldError) as info:
        parse_spec(quadratic_spec(sqlite_uri, proposer="llm", llm={"base_url": url}), base_dir=None)
    assert info.value.path == "llm.base_url" and "api_key_env" in info.value.message
    assert "[REDACTED]@llm.example" in str(info.value) and occurrences(str(info.value).encode()) == 0


def test_an_answer_that_repeats_the_key_is_redacted_as_it_arrives(key_env):
    from agenthpo.llm import LLMClient, LLMConfig

    with ScriptedLLM() as llm:
        llm.behaviours = ["echo"]
        config = LLMConfig(base_url=llm.base_url, model="scripted", api_key_env="TEAM_LLM_KEY", max_retries=0)
        reply = LLMClient(config).chat([{"role": "user", "content": "hi"}])
    assert reply.content.endswith(f"(served for key {REDACTED})") and llm.headers[0]["authorization"] == f"Bearer {KEY}"


def test_credentials_in_the_llm_base_url_are_refused_with_exit_2(tmp_path, sqlite_uri):
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
        sqlite_uri, proposer="llm", llm={"base_url": f"http://user:{KEY}@127.0.0.1:9/v1"}))
    done = run_cli("tune", spec, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "llm.base_url" in done.stderr and "api_key_env" in done.stderr and "http://[REDACTED]@" in done.stderr
    assert occurrences((done.stdout + done.stderr).encode()) == 0
    written = {path for path in scan(tmp_path)} - {str(spec)}  # the spec file is the user's
    assert written == set()


# -- a whole study, every failure path of the endpoint ------------------------------------------------------
@pytest.mark.slow
def test_a_study_through_every_llm_failure_path_writes_the_key_nowhere(tmp_path, migrated_sqlite):
    import shutil

    from agenthpo.tracking import MlflowStudyStore
    from servers import start_mlflow_server

    shutil.copy(migrated_sqlite, tmp_path / "server.db")
    artifacts = tmp_path / "server-artifacts"
    with ScriptedLLM(delay_for_timeout=2.5) as llm, start_mlflow_server(
            f"sqlite:///{tmp_path / 'server.db'}", str(artifacts), {}, tmp_path / "server.log") as url:
        # The Creator's calls: a 500 whose body holds the key, a timeout, an answer whose rationale holds it;
        # the analyses: answers and errors that hold it.
        llm.creator_behaviours = ["500_echo", "timeout", "echo"]
        llm.behaviours = ["echo", "500_echo", "echo", "echo", "500_echo", "echo", "echo"]
        spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
            url, proposer="llm", description="a study; the key is never here", llm={
                "base_url": llm.base_url, "model": "scripted", "api_key_env": "TEAM_LLM_KEY",
                "max_retries": 0, "timeout": 1.0}))
        done = run_cli("tune", spec, cwd=tmp_path, env={"TEAM_LLM_KEY": KEY})
        assert done.returncode == 0, done.stdout + done.stderr
        assert llm.creator_behaviours == [] and all(h["authorization"] == f"Bearer {KEY}" for h in llm.headers)
        store = MlflowStudyStore(url)
        trials = [store.client.get_run(t.run_id) for t in store.history(store.find_study("quadratic"))]
    assert [t.data.tags["agenthpo.source"] for t in trials] == ["fallback", "fallback", "llm"]
    # The key was echoed, and what was kept of it is the mark.
    assert REDACTED in trials[0].data.tags["agenthpo.llm_problems"] and "500" in trials[0].data.tags[
        "agenthpo.llm_problems"]
    assert "Timeout" in trials[1].data.tags["agenthpo.llm_problems"]
    assert trials[2].data.tags["agenthpo.rationale"].startswith(f"key {REDACTED} says so, for ")
    places = [tmp_path / "server.db", artifacts, tmp_path / ".agenthpo", tmp_path / "server.log"]
    assert (tmp_path / ".agenthpo" / "logs").is_dir() and any(artifacts.rglob("*"))
    assert scan(*places) == {}
    assert occurrences((done.stdout + done.stderr).encode()) == 0
