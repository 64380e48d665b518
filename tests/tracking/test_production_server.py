"""The production MLflow setup for real: `mlflow server` on PostgreSQL, artifacts in an S3 bucket (SeaweedFS).

CI installs Debian's postgresql (.ci/run); elsewhere the test is skipped when PostgreSQL is missing.
"""

import os
from contextlib import ExitStack, closing

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec, run_cli, write_spec
from servers import postgres_bin, start_mlflow_server, start_postgres, start_seaweedfs

from agenthpo.trial import TrialState

pytestmark = pytest.mark.slow

PREFIX = "mlartifacts"  # where the server puts artifacts inside the bucket


@pytest.fixture
def production_mlflow(tmp_path):
    """(server URL, PostgreSQL, S3): `mlflow server` on both, as a cluster would run it."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        why = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: .ci/run installs Debian's postgresql package")
        pytest.skip(f"{why}: apt-get install postgresql")
    with ExitStack() as stack:
        postgres = stack.enter_context(start_postgres(bin_dir))
        s3 = stack.enter_context(start_seaweedfs())
        url = stack.enter_context(start_mlflow_server(
            postgres.uri, f"s3://{s3.bucket}/{PREFIX}", s3.env, tmp_path / "mlflow-server.log"))
        yield url, postgres, s3


def test_study_through_a_server_on_postgresql_and_s3(tmp_path, production_mlflow):
    url, postgres, s3 = production_mlflow
    # A test task with learning curves, so trials log artifacts too (an analytic function has none);
    # one round of 3 trials side by side: one pipeline run, and concurrent writers on the server.
    spec = write_spec(tmp_path / "quadratic.yaml", quadratic_spec(url, proposer="tpe", parallel=3))
    # The CLI is not given the S3 credentials: artifacts go through the server, as from a pipeline's pods.
    # TMPDIR: KFP's local runner leaves a temporary folder per step behind.
    done = run_cli("tune", spec, cwd=tmp_path, timeout=300, env={"TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "mlflow.db").exists(), "with a server URI nothing may be written locally"

    store = MlflowStudyStore(url)
    study_id = store.find_study("quadratic")
    assert study_id is not None, "no study run named 'quadratic' on the server"
    history = store.history(study_id)
    assert [t.state for t in history] == [TrialState.FINISHED] * 3
    for trial in history:
        run = store.client.get_run(trial.run_id)
        assert run.data.tags["mlflow.parentRunId"] == study_id
        assert run.data.metrics["score"] == pytest.approx(trial.value)
    study = store.client.get_run(study_id)
    assert study.info.status == "FINISHED"
    assert study.info.artifact_uri.startswith("mlflow-artifacts:/"), study.info.artifact_uri

    # The runs are rows in PostgreSQL, not in some local file.
    with closing(postgres.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs WHERE experiment_id = %s", (study.info.experiment_id,))
        assert cursor.fetchone()[0] == 4
        cursor.execute("SELECT count(*) FROM tags WHERE key = 'mlflow.parentRunId' AND value = %s", (study_id,))
        assert cursor.fetchone()[0] == 3

    # The artifacts went through the server into the bucket.
    study_prefix = f"{PREFIX}/{study.info.experiment_id}/{study_id}/artifacts/"
    study_files = {key.removeprefix(study_prefix) for key in s3.keys(study_prefix)}
    assert {"spec.json", "report.md", "optimization_history.png"} <= study_files, study_files
    trial_files = {key.rsplit("/", 1)[-1] for t in history
                   for key in s3.keys(f"{PREFIX}/{study.info.experiment_id}/{t.run_id}/")}
    assert "learning_curves.png" in trial_files, trial_files
    # Read back through the server, as `agenthpo report` does.
    assert store.load_spec(study_id).name == "quadratic"



def test_claims_hold_on_postgresql_directly_and_through_the_server(production_mlflow):
    """Eight drivers race for trial slots (budget 5) and for one claim, half of them on PostgreSQL directly
    (SQLAlchemy), half through the server (REST): unique numbers, never more than the budget."""
    import threading

    from agenthpo.tracking.claims import ClaimBook

    from agenthpo import names
    from agenthpo.spec import parse_spec
    from agenthpo.trial import Proposal

    url, postgres, s3 = production_mlflow
    study_id = MlflowStudyStore(url).open_study(parse_spec(quadratic_spec(url, name="race"), base_dir=None))
    claims, owners, errors, barrier = [], [], [], threading.Barrier(8)

    def driver(i: int) -> None:
        store = MlflowStudyStore(postgres.uri if i % 2 else url)
        barrier.wait()
        try:
            owners.append(ClaimBook(store.client).create_once(".agenthpo/test/race", {names.CLAIM_RUN: str(i)}))
            claims.extend(store.claim_trial(study_id, Proposal({"x": i / 10 + j / 100, "epochs": 2}, "random"), 5)
                          for j in range(2))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=driver, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert len(claims) == 16 and len({c.number for c in claims}) == 16
    assert sorted(c.number for c in claims if c.granted) == [1, 2, 3, 4, 5]
    assert len({owner[names.CLAIM_RUN] for owner in owners}) == 1
    store = MlflowStudyStore(url)
    assert [t.number for t in store.history(study_id)] == [1, 2, 3, 4, 5] and store.slots_held(study_id) == 5
    # A claim is a deleted experiment that keeps its name in PostgreSQL: hidden, still reserved.
    with closing(postgres.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT lifecycle_stage, count(*) FROM experiments WHERE name LIKE %s GROUP BY 1",
                       (f".agenthpo/claims/{study_id}/%",))
        assert cursor.fetchall() == [("deleted", 16)]
