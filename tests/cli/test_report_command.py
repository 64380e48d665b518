"""`agenthpo report`: a spec names where its study is; the LLM's final analysis is printed; no stray database."""

from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec, run_cli, write_spec

from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal

FINAL = ("## Final analysis (LLM)\n\nThe best configuration is trial 1 (x = 0.3).\n\n"
         "Next steps: try x between 0.25 and 0.35 with more epochs.")


def recorded_study(tmp_path, sqlite_uri, final: str):
    spec_data = quadratic_spec(sqlite_uri)
    spec = parse_spec(spec_data, base_dir=None)
    store = MlflowStudyStore(sqlite_uri)
    study_id = store.open_study(spec)
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.3, "epochs": 2}, "random"))
    store.finish_trial(trial_id, 0.8, {"score": 0.8}, {}, 1.0, None)
    store.write_report(study_id, "# quadratic: report\n\n(old table)\n" + final, None, {}, "")
    return write_spec(tmp_path / "spec.yaml", spec_data)


def test_a_spec_leads_to_its_store_and_the_final_analysis_is_shown(tmp_path, sqlite_uri):
    spec_path = recorded_study(tmp_path, sqlite_uri, FINAL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("report", spec_path, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "trial 1" in result.stdout.lower() and "(old table)" not in result.stdout  # the table is rebuilt
    assert result.stdout.rstrip().endswith("Next steps: try x between 0.25 and 0.35 with more epochs.")
    assert not (elsewhere / "mlflow.db").exists()


def test_no_final_analysis_no_section(tmp_path, sqlite_uri):
    spec_path = recorded_study(tmp_path, sqlite_uri, "")
    result = run_cli("report", spec_path, cwd=tmp_path)
    assert result.returncode == 0 and "Final analysis" not in result.stdout


def test_a_name_without_a_database_creates_none(tmp_path):
    result = run_cli("report", "quadratic", cwd=tmp_path)
    assert result.returncode == 1 and "no MLflow database at" in result.stderr
    assert list(tmp_path.iterdir()) == []
