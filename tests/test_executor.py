"""The Executor's analysis step and the final report with an LLM: a text that does not speak about the study
(a greeting, no name, one sentence repeated) is set aside and flagged, never stored as analysis.

A scripted OpenAI-compatible server answers: the Creator (requests with a JSON schema), the Executor and the
final analysis (told apart by their system prompts) each with a text the test chooses.
"""

from __future__ import annotations

import json

import pytest
from conftest import quadratic_spec
from memory_store import MemoryStudyStore
from scripted_llm import ScriptedLLM

from agenthpo import study
from agenthpo.spec import parse_spec
from agenthpo.trial import TrialState

GREETING = "I'm ready to help. What is the task and problem?"
GOOD_SUMMARY = "The validation_loss kept falling and score converged; keep epochs and move x toward the best trial."
VAGUE_RATIONALE = "This looks like a promising choice to me."
REPEATED = "The score rose when x was near the middle of its range."
GOOD_FINAL = ("### Best configuration and why\nThe best trial kept x near the middle, which gave the top score.\n\n"
              "### Influence of each hyperparameter\nx matters most; epochs matter little.\n\n"
              "### What to explore next\nTry x close to the best trial's value.")


class StudyLLM(ScriptedLLM):
    """Answers the Creator validly (with `rationale` in each config when set), the Executor with `executor`
    and the final analysis with `final`."""

    def __init__(self):
        super().__init__()
        self.rationale: str | None = None
        self.executor = GOOD_SUMMARY
        self.final = GOOD_FINAL
        self.asked: list[str] = []

    def content(self, behaviour, request, body):
        system = str(request["messages"][0]["content"])
        if request.get("response_format"):
            self.asked.append("creator")
            answer = json.loads(super().content(behaviour, request, body))
            if self.rationale is not None:
                for config in answer["configs"]:
                    config["rationale"] = self.rationale
            return json.dumps(answer)
        if system.startswith("You are the Executor"):
            self.asked.append("executor")
            return self.executor
        if "final analysis" in system:
            self.asked.append("final")
            return self.final
        raise AssertionError(f"unexpected request: {system[:80]!r}")


@pytest.fixture
def llm():
    with StudyLLM() as server:
        yield server


def make(llm: StudyLLM, trials: int = 1, seed: int = 1):
    spec = parse_spec(quadratic_spec("sqlite:///never-used.db", proposer="llm", seed=seed,
                                     budget={"trials": trials, "max_failed_trials": 3},
                                     llm={"base_url": llm.base_url, "model": "scripted", "max_retries": 0}),
                      base_dir=None)
    assert spec.uses_llm
    store = MemoryStudyStore()
    study_id = study.open_study(spec, store).study_id
    return spec, store, study_id


def run_study(llm: StudyLLM, trials: int = 1, seed: int = 1):
    spec, store, study_id = make(llm, trials, seed)
    study.run_inprocess(spec, store, study_id)
    history = store.history(study_id)
    assert [t.state for t in history] == [TrialState.FINISHED] * trials
    assert all(t.source == "llm" for t in history), [t.source for t in history]
    assert llm.asked.count("executor") == trials
    return spec, store, study_id, history


def test_a_greeting_from_the_executor_is_set_aside_and_flagged(llm):
    llm.executor = GREETING
    _, store, _, (trial,) = run_study(llm)
    note = store.runs[trial.run_id].note
    assert GREETING not in note and "What is the task" not in note  # the reason quotes only the matched phrase
    assert "**Executor (LLM):**" not in note
    assert "The Executor's LLM summary was set aside: a refusal or greeting" in note
    assert "llm_summary" not in trial.facts
    assert trial.facts["llm_quality"].startswith("flagged: executor: a refusal or greeting")
    assert "rationale:" not in trial.facts["llm_quality"]  # the Creator's rationale was fine
    assert trial.facts["verdict"]  # the deterministic analysis stands


def test_a_summary_that_speaks_about_the_study_is_kept(llm):
    _, store, _, (trial,) = run_study(llm)
    note = store.runs[trial.run_id].note
    assert f"**Executor (LLM):** {GOOD_SUMMARY}" in note
    assert "set aside" not in note
    assert trial.facts["llm_summary"] == GOOD_SUMMARY
    assert trial.facts["llm_quality"] == "ok"
    assert note.startswith("**Creator (llm):** scripted rationale: x")


def test_a_creator_rationale_that_names_nothing_is_set_aside(llm):
    llm.rationale = VAGUE_RATIONALE
    _, store, _, (trial,) = run_study(llm)
    run = store.runs[trial.run_id]
    assert VAGUE_RATIONALE not in run.note and VAGUE_RATIONALE not in trial.rationale
    assert "the Creator's rationale was set aside: names no hyperparameter or metric" in trial.rationale
    assert run.note.startswith(f"**Creator (llm):** {trial.rationale}")
    quality = trial.facts["llm_quality"]
    assert quality.startswith("flagged: rationale: names no hyperparameter or metric"), quality
    assert "executor:" not in quality  # the Executor's summary was good: kept
    assert trial.facts["llm_summary"] == GOOD_SUMMARY


def test_a_final_analysis_repeating_a_sentence_is_set_aside(llm):
    llm.final = " ".join([REPEATED] * 40)
    spec, store, study_id, _ = run_study(llm, trials=2)
    reported = study.report_study(spec, store, study_id)
    assert llm.asked.count("final") == 1
    recorded = store.studies[study_id]
    assert recorded.report == reported.markdown
    assert REPEATED not in recorded.report
    assert "## Final analysis (LLM)" not in recorded.report
    assert "*The LLM's final analysis was set aside: repeats a sentence" in recorded.report
    assert recorded.quality.startswith("flagged: final: repeats a sentence"), recorded.quality
    assert recorded.status == "FINISHED"


def test_a_good_final_analysis_is_kept(llm):
    spec, store, study_id, _ = run_study(llm, trials=2)
    study.report_study(spec, store, study_id)
    recorded = store.studies[study_id]
    assert "## Final analysis (LLM)\n\n" + GOOD_FINAL in recorded.report
    assert "set aside" not in recorded.report
    assert recorded.quality == "ok"


@pytest.mark.parametrize("final", [GOOD_FINAL, " ".join([REPEATED] * 40)], ids=["kept", "set-aside"])
def test_reporting_twice_duplicates_nothing(llm, final):
    llm.final = final
    spec, store, study_id, _ = run_study(llm, trials=2)
    first = study.report_study(spec, store, study_id).markdown
    quality = store.studies[study_id].quality
    second = study.report_study(spec, store, study_id).markdown
    assert llm.asked.count("final") == 2
    assert second == first == store.studies[study_id].report
    assert store.studies[study_id].quality == quality
    for line in ("## Final analysis (LLM)", "final analysis was set aside", "## Best: trial"):
        assert second.count(line) <= 1, line
    assert second.count("## Final analysis (LLM)") + second.count("final analysis was set aside") == 1


def test_the_executor_and_the_final_report_sample_with_seeds_from_the_study(llm):
    """Like the Creator's calls, the analyses are seeded from the spec's `seed`: a study run again asks with
    the same seeds (the same texts where the server honours them); each trial's call has its own."""
    def seeds_asked(seed: int) -> dict[str, list]:
        llm.requests.clear()
        llm.asked.clear()
        spec, store, study_id, _ = run_study(llm, trials=2, seed=seed)
        study.report_study(spec, store, study_id)
        asked: dict[str, list] = {}
        for kind, request in zip(llm.asked, llm.requests, strict=True):
            asked.setdefault(kind, []).append(request.get("seed"))
        return asked

    first, again, other = seeds_asked(7), seeds_asked(7), seeds_asked(8)
    assert len(first["executor"]) == 2 and len(first["final"]) == 1
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in first["executor"] + first["final"])
    assert first == again
    assert first["executor"][0] != first["executor"][1]  # per trial
    assert other["executor"] != first["executor"] and other["final"] != first["final"]
