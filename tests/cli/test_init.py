"""`agenthpo init` drafts specs that `agenthpo check` accepts: a table, a text data set and a graph."""

import pytest
import yaml
from conftest import DATA, run_cli
from scripted_llm import ScriptedLLM

# Whole studies, or the CLI in subprocesses (seconds each).
pytestmark = pytest.mark.slow

CASES = [
    ("predict whether the water is potable, optimising F1", DATA / "water_potability" / "water_potability.csv",
     "xgboost-classification", {"target": "Potability", "split_seed": 0, "labels": [0, 1]}),
    ("classify the sentiment of movie reviews", DATA / "sst2", "text-classification",
     {"model_name": "minilm", "labels": ["0", "1"]}),
    ("classify the papers of the Cora citation graph by topic", DATA / "planetoid", "node-classification",
     {"dataset": "cora"}),
]


@pytest.mark.parametrize("sentence, data, task, options", CASES, ids=["table", "text", "graph"])
def test_a_draft_passes_check(tmp_path, sentence, data, task, options):
    drafted = run_cli("init", sentence, "--data", data, "-o", "spec.yaml", cwd=tmp_path,
                      env={"OPENAI_BASE_URL": ""})
    assert drafted.returncode == 0, drafted.stderr
    assert f"task {task}" in drafted.stdout and "(rules)" in drafted.stdout
    text = (tmp_path / "spec.yaml").read_text()
    assert text.startswith("# Drafted by `agenthpo init` (rules). Its choices:\n#   ")
    spec = yaml.safe_load(text)
    assert spec["task"] == task and spec["task_options"] == options and spec["description"].startswith(sentence)
    checked = run_cli("check", "spec.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.rstrip().endswith("ready: agenthpo tune spec.yaml")


def test_init_refuses_to_overwrite_and_names_bad_data(tmp_path):
    (tmp_path / "spec.yaml").write_text("mine")
    again = run_cli("init", "x", "--data", DATA / "planetoid", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr and (tmp_path / "spec.yaml").read_text() == "mine"
    missing = run_cli("init", "x", "--data", tmp_path / "nope.csv", "-o", "other.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_an_llm_chooses_among_the_candidates_only(tmp_path):
    data = tmp_path / "churn.csv"
    data.write_text("age,plan,churned\n" + "".join(f"{20 + i},{'ab'[i % 2]},{i % 2}\n" for i in range(40)))
    with ScriptedLLM() as server:
        chose = run_cli("init", "will customers churn", "--data", data, "-o", "a.yaml", "--llm-base-url",
                        server.base_url, "--llm-model", "scripted", cwd=tmp_path)
        server.behaviours = ["prose"]
        fell_back = run_cli("init", "will customers churn", "--data", data, "-o", "b.yaml", "--llm-base-url",
                            server.base_url, "--llm-model", "scripted", cwd=tmp_path)
    assert chose.returncode == 0 and "(the LLM chose among the candidates)" in chose.stdout
    drafted = yaml.safe_load((tmp_path / "a.yaml").read_text())
    assert drafted["task"] in ("xgboost-classification", "xgboost-regression")
    assert drafted["task_options"]["target"] in ("age", "plan", "churned")
    assert fell_back.returncode == 0 and "rules' draft stands" in fell_back.stdout
    assert yaml.safe_load((tmp_path / "b.yaml").read_text())["task_options"]["target"] == "churned"
