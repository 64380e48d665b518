"""A refused key (401/403) stops the study before anything trains, says which variable to check, and is
never a fallback; timeouts, 429 and 5xx still fall back to TPE. The scripted endpoint echoes the key in
its refusals, as hosted APIs do: the key is in no message, tag, log or output."""

import pytest
from conftest import quadratic_spec, run_cli, write_spec
from scripted_llm import ScriptedLLM

from agenthpo import redact as redaction
from agenthpo.llm import LLMAuthError, LLMClient, LLMConfig, LLMError
from agenthpo.proposers import ProposerContext, make_proposer
from agenthpo.space import FloatParam, IntParam, SearchSpace
from agenthpo.trial import Objective

KEY = "team-" + "b71e0d4c9a2f58e36c1d7b0a94e2f5c8d3a6b1e0"
SPACE = SearchSpace([FloatParam("x", 0.0, 1.0), IntParam("epochs", 2, 5)])
OBJECTIVE = Objective("score", "maximize")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("TEAM_LLM_KEY", KEY)
    with ScriptedLLM(delay_for_timeout=2.0) as s:
        yield s


def config(server, **options) -> LLMConfig:
    return LLMConfig(base_url=server.base_url, model="scripted", api_key_env="TEAM_LLM_KEY",
                     **{"max_retries": 0, **options})


def leaks(text: str) -> int:
    return sum(text.count(piece) for piece in (KEY, KEY[:12], KEY[-12:]))


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_an_auth_error_naming_the_variable_not_the_key(server, status):
    server.behaviours = [str(status)]
    with pytest.raises(LLMAuthError) as info:
        LLMClient(config(server, max_retries=3)).chat([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert f"refused the key ({status})" in message and "TEAM_LLM_KEY" in message and "llm.api_key_env" in message
    assert "Incorrect API key provided: [REDACTED]" in message and leaks(message) == 0
    assert len(server.requests) == 1  # a refusal is not retried: it would be refused again
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # the endpoint did get (and echo) the key


@pytest.mark.parametrize("behaviour, kind", [("500_echo", "InternalServerError"), ("429", "RateLimitError"),
                                             ("timeout", "APITimeoutError")])
def test_other_failures_stay_plain_llm_errors_and_are_redacted(server, behaviour, kind):
    server.behaviours = [behaviour]
    with pytest.raises(LLMError) as info:
        LLMClient(config(server, timeout=0.5)).chat([{"role": "user", "content": "hi"}])
    assert not isinstance(info.value, LLMAuthError) and kind in str(info.value) and leaks(str(info.value)) == 0


def test_check_access_asks_the_model_list_once(server):
    LLMClient(config(server)).check_access()  # accepted: nothing raised
    server.refuse_status = 401
    with pytest.raises(LLMAuthError, match=r"refused the key \(401\)") as info:
        LLMClient(config(server)).check_access()
    assert leaks(str(info.value)) == 0 and server.model_list_requests == 2 and server.requests == []
    # An endpoint that is not there is left to the Creator's calls (and their fallback).
    LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", max_retries=0)).check_access()


@pytest.mark.parametrize("proposer", ["llm", "agent"])
def test_proposers_let_a_refused_key_through_and_fall_back_from_the_rest(server, proposer):
    context = ProposerContext("auth", "a study", "quadratic", {}, config(server, timeout=0.5))
    server.behaviours = ["401"]
    with pytest.raises(LLMAuthError):
        make_proposer(proposer, OBJECTIVE, 0, {}, context).propose(SPACE, [], 1)
    for behaviour in ("500_echo", "timeout", "429"):
        server.behaviours = [behaviour]
        (proposal,) = make_proposer(proposer, OBJECTIVE, 0, {}, context).propose(SPACE, [], 1)
        # The `llm` proposer's stand-in is TPE's (`fallback`); the agent's is its model side's pick.
        assert proposal.source == "fallback" if proposer == "llm" else proposal.source in ("tpe", "gp")
        assert proposal.tags["repair"] == "fallback" and leaks(proposal.rationale + str(proposal.tags)) == 0


def test_the_creator_repair_round_lets_a_refused_key_through(server):
    server.behaviours = ["prose", "403"]  # the first answer needs a repair; the repair is refused
    context = ProposerContext("auth", "a study", "quadratic", {}, config(server))
    with pytest.raises(LLMAuthError, match=r"\(403\)"):
        make_proposer("llm", OBJECTIVE, 0, {}, context).propose(SPACE, [], 1)


def scanned(*roots) -> dict[str, int]:
    found = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and (count := leaks(path.read_bytes().decode("utf-8", "replace"))):
                found[str(path)] = count
    return found


@pytest.mark.slow
@pytest.mark.parametrize("status", [401, 403])
def test_tune_with_a_refused_key_stops_before_any_trial_with_exit_1(tmp_path, sqlite_uri, status):
    from agenthpo.tracking import MlflowStudyStore

    with ScriptedLLM() as llm:
        llm.refuse_status = status
        spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri, proposer="agent", llm={
            "base_url": llm.base_url, "model": "scripted", "api_key_env": "TEAM_LLM_KEY"}))
        done = run_cli("tune", spec, cwd=tmp_path, env={"TEAM_LLM_KEY": KEY}, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the LLM endpoint {llm.base_url} refused the key ({status})" in done.stderr
    assert "TEAM_LLM_KEY" in done.stderr and leaks(done.stdout + done.stderr) == 0
    assert llm.requests == []  # asked before the study: no Creator call, no trial
    assert MlflowStudyStore(sqlite_uri).find_study("quadratic") is None
    assert scanned(tmp_path) == {}


@pytest.mark.slow
def test_a_key_refused_inside_the_creator_step_fails_the_step_with_a_redacted_error(tmp_path, sqlite_uri):
    """The key is taken by the model list but refused for chat (or revoked mid-study): the KFP Creator step
    fails with LLMAuthError, no trial trains, and the step's traceback in the KFP log names no key."""
    from agenthpo.tracking import MlflowStudyStore

    with ScriptedLLM() as llm:
        llm.behaviours = ["401"] * 20
        spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri, proposer="llm", llm={
            "base_url": llm.base_url, "model": "scripted", "api_key_env": "TEAM_LLM_KEY", "max_retries": 0}))
        done = run_cli("tune", spec, cwd=tmp_path, env={"TEAM_LLM_KEY": KEY}, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert llm.requests and all(h["authorization"] == f"Bearer {KEY}" for h in llm.headers)
    store = MlflowStudyStore(sqlite_uri)
    assert not [t for t in store.history(store.find_study("quadratic")) if t.train_seconds]  # nothing trained
    log = (tmp_path / ".agenthpo" / "logs" / "quadratic.log").read_text()
    assert "LLMAuthError" in log and "refused the key (401)" in log and "[REDACTED]" in log
    assert leaks(done.stdout + done.stderr) == 0
    assert scanned(tmp_path) == {}  # the MLflow database, its artifacts, the KFP outputs and logs


def test_redaction_knows_the_key_once_a_config_names_its_variable(server):
    config(server)
    assert redaction.redact(f"echo {KEY}") == "echo [REDACTED]"
