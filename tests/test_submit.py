"""`agenthpo submit` and `agenthpo schedule` without a cluster: a recording stand-in for kfp.Client, and
the real kfp.Client against a scripted KFP v2beta1 REST server on 127.0.0.1."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import kfp
import pytest
import yaml
from conftest import ROOT, write_spec

from agenthpo.cli import main

MLFLOW = "http://mlflow.agenthpo:5000"


def spec_file(tmp_path, **changes):
    data = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())
    data["data"] = str(ROOT.parent / "shared" / "data" / "water_potability" / "water_potability.csv")
    data.update({"tracking_uri": MLFLOW, "llm": {"base_url": "http://llm.agenthpo:8000/v1"},
                 "cluster": {"service_account": "agenthpo-pipeline"}}, **changes)
    return write_spec(tmp_path / "spec.yaml", data)


def read_package(path) -> dict:
    """The pipeline document; the Kubernetes platform document (when there is one) under `platform`."""
    with open(path) as f:
        pipeline, *platform = yaml.safe_load_all(f)
    return {**pipeline, "platform": platform}


class FakeClient:
    """Records what the CLI asks of kfp.Client; packages are read while they exist (temp files)."""

    calls: list = []
    existing = [("old-1", "agenthpo-water-potability"), ("other-9", "someone-else")]

    def __init__(self, host=None, namespace="kubeflow", **_):
        self.calls.append(("init", {"host": host, "namespace": namespace}))

    def create_run_from_pipeline_package(self, pipeline_file, **kwargs):
        self.calls.append(("run", {**kwargs, "package": read_package(pipeline_file)}))
        return SimpleNamespace(run_id="run-123")

    def create_experiment(self, name, description=None, namespace=None):
        self.calls.append(("experiment", {"name": name, "namespace": namespace}))
        return SimpleNamespace(experiment_id="exp-1")

    def list_recurring_runs(self, experiment_id=None, filter=None, **_):
        wanted = json.loads(filter)["predicates"][0]["stringValue"]
        return SimpleNamespace(recurring_runs=[SimpleNamespace(recurring_run_id=i, display_name=n)
                                               for i, n in self.existing if n == wanted])

    def create_recurring_run(self, pipeline_package_path, **kwargs):
        self.calls.append(("recurring", {**kwargs, "package": read_package(pipeline_package_path)}))
        return SimpleNamespace(recurring_run_id="rec-2")

    def delete_recurring_run(self, recurring_run_id):
        self.calls.append(("delete", recurring_run_id))


@pytest.fixture
def fake_kfp(monkeypatch):
    FakeClient.calls = []
    monkeypatch.setattr(kfp, "Client", FakeClient)
    monkeypatch.delenv("KFP_HOST", raising=False)
    return FakeClient.calls


def call(kind, calls):
    return [c for k, c in calls if k == kind]


def spec_of(package) -> dict:
    return json.loads(package["root"]["inputDefinitions"]["parameters"]["spec_json"]["defaultValue"])


def test_submit_compiles_and_creates_a_run(tmp_path, fake_kfp, capsys):
    code = main(["submit", str(spec_file(tmp_path)), "--host", "http://kfp.example:8080/", "--trials", "2",
                 "--namespace", "team-a", "--experiment", "hpo", "--run-name", "first"])
    out = capsys.readouterr().out
    assert code == 0
    assert call("init", fake_kfp) == [{"host": "http://kfp.example:8080/", "namespace": "team-a"}]
    [run] = call("run", fake_kfp)
    assert run["run_name"] == "first" and run["experiment_name"] == "hpo" and run["namespace"] == "team-a"
    assert run["service_account"] == "agenthpo-pipeline" and run["arguments"] == {}
    package = run["package"]
    assert package["pipelineInfo"]["name"] == "agenthpo-water-potability"
    assert len(package["root"]["dag"]["tasks"]) == 1 + 2 * 3 + 1
    sent = spec_of(package)
    assert sent["name"] == "water-potability" and sent["budget"]["trials"] == 2 and sent["tracking_uri"] == MLFLOW
    assert "run: run-123  http://kfp.example:8080/#/runs/details/run-123" in out


def test_submit_defaults_host_from_the_environment_and_experiment_from_the_spec(tmp_path, fake_kfp, monkeypatch):
    monkeypatch.setenv("KFP_HOST", "http://env-host:8080")
    assert main(["submit", str(spec_file(tmp_path, experiment="team-hpo"))]) == 0
    assert call("init", fake_kfp)[0]["host"] == "http://env-host:8080"
    [run] = call("run", fake_kfp)
    assert run["experiment_name"] == "team-hpo" and run["run_name"].startswith("water-potability-")
    assert len(run["package"]["root"]["dag"]["tasks"]) == 1 + 10 * 3 + 1  # the spec's whole budget


def test_a_spec_without_a_cluster_section_is_submitted_with_the_defaults(tmp_path, fake_kfp, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-never-sent")
    assert main(["submit", str(spec_file(tmp_path, cluster=None)), "--host", "http://kfp:8080"]) == 0
    [run] = call("run", fake_kfp)
    assert run["service_account"] is None
    [platform] = run["package"]["platform"]
    creator = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-creator"]
    assert creator["secretAsEnv"][0]["secretName"] == "agenthpo-llm"
    assert "sk-sentinel-never-sent" not in json.dumps(run["package"])


def test_submit_without_a_host_says_how_to_give_one(tmp_path, fake_kfp, capsys):
    assert main(["submit", str(spec_file(tmp_path))]) == 2
    assert "--host" in capsys.readouterr().err and not fake_kfp


@pytest.mark.parametrize("changes, field, shown", [
    ({"tracking_uri": "sqlite:///mlflow.db"}, "tracking_uri", "sqlite:///"),
    ({"tracking_uri": "http://127.0.0.1:5000"}, "tracking_uri", "'http://127.0.0.1:5000'"),
    ({"llm": {}}, "llm.base_url", "is not set"),
    ({"llm": {"base_url": "http://localhost:8080/v1"}}, "llm.base_url", "'http://localhost:8080/v1'"),
    ({"cluster": {"data_volume": {"claim": "data", "mount_path": "/data"}}}, "data", "mount_path '/data'"),
])
def test_submit_refuses_what_pods_could_not_use(tmp_path, fake_kfp, capsys, changes, field, shown):
    assert main(["submit", str(spec_file(tmp_path, **changes)), "--host", "http://kfp:8080"]) == 2
    err = capsys.readouterr().err
    assert f"spec.yaml: {field}: " in err and shown in err, err
    assert not fake_kfp  # nothing was sent


def test_tracking_uri_override_and_keyless_random_study(tmp_path, fake_kfp):
    path = spec_file(tmp_path, tracking_uri="sqlite:///mlflow.db", proposer="random", llm={})
    assert main(["submit", str(path), "--host", "http://kfp:8080", "--tracking-uri", MLFLOW]) == 0
    assert spec_of(call("run", fake_kfp)[0]["package"])["tracking_uri"] == MLFLOW


def test_schedule_replaces_the_recurring_run_of_that_name(tmp_path, fake_kfp, capsys):
    code = main(["schedule", str(spec_file(tmp_path)), "--cron", "0 3 * * *", "--host", "http://kfp:8080",
                 "--trials-per-run", "3", "--trials", "12"])
    out = capsys.readouterr().out
    assert code == 0
    assert call("experiment", fake_kfp) == [{"name": "water-potability", "namespace": None}]
    [recurring] = call("recurring", fake_kfp)
    assert recurring["cron_expression"] == "0 0 3 * * *" and recurring["job_name"] == "agenthpo-water-potability"
    assert recurring["experiment_id"] == "exp-1" and recurring["service_account"] == "agenthpo-pipeline"
    assert recurring["max_concurrency"] == 1 and recurring["no_catchup"] is True and recurring["enabled"] is True
    # Each run unrolls 3 iterations; the budget the Creators stop at is the study's total.
    assert len(recurring["package"]["root"]["dag"]["tasks"]) == 1 + 3 * 3 + 1
    assert spec_of(recurring["package"])["budget"]["trials"] == 12
    # Created first, then the old one of the same name deleted; others are left alone.
    assert [k for k, _ in fake_kfp if k in ("recurring", "delete")] == ["recurring", "delete"]
    assert call("delete", fake_kfp) == ["old-1"]
    assert "replaced: old-1" in out and "http://kfp:8080/#/recurringrun/details/rec-2" in out


def test_schedule_trials_per_run_defaults_to_the_budget(tmp_path, fake_kfp, capsys):
    assert main(["schedule", str(spec_file(tmp_path)), "--cron", "*/30 * * * *", "--host", "kfp:8080",
                 "--name", "nightly", "--trials-per-run", "50"]) == 0
    [recurring] = call("recurring", fake_kfp)
    assert recurring["job_name"] == "nightly" and not call("delete", fake_kfp)
    assert len(recurring["package"]["root"]["dag"]["tasks"]) == 1 + 10 * 3 + 1  # capped at budget.trials
    assert "no earlier recurring run named 'nightly'" in capsys.readouterr().out


@pytest.mark.parametrize("cron, reason", [("61 * * * *", "minute field '61' is outside 0-59"),
                                          ("daily", "must have 5 fields")])
def test_schedule_rejects_a_bad_cron_naming_the_option(tmp_path, fake_kfp, capsys, cron, reason):
    with pytest.raises(SystemExit) as exited:
        main(["schedule", str(spec_file(tmp_path)), "--cron", cron, "--host", "http://kfp:8080"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --cron" in err and repr(cron) in err and reason in err
    assert not fake_kfp


def test_a_server_error_is_reported_not_raised(tmp_path, fake_kfp, monkeypatch, capsys):
    from kfp_server_api.exceptions import ApiException

    def refuse(self, *args, **kwargs):
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(FakeClient, "create_run_from_pipeline_package", refuse)
    assert main(["submit", str(spec_file(tmp_path)), "--host", "http://kfp:8080"]) == 1
    assert "403 Forbidden" in capsys.readouterr().err


class ScriptedKfp(BaseHTTPRequestHandler):
    """Answers the KFP v2beta1 REST calls kfp.Client makes for a run and a recurring run."""

    requests: list = []
    recurring = [{"recurring_run_id": "old-1", "display_name": "agenthpo-water-potability"}]

    def log_message(self, *args):
        pass

    def answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        self.requests.append(("GET", url.path, parse_qs(url.query)))
        if url.path == "/apis/v2beta1/healthz":
            return self.answer({"multi_user": False})
        if url.path == "/apis/v2beta1/experiments":
            return self.answer({})  # none yet: the client creates it
        if url.path == "/apis/v2beta1/recurringruns":
            return self.answer({"recurringRuns": self.recurring})
        self.send_error(404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body))
        if self.path == "/apis/v2beta1/experiments":
            return self.answer({"experiment_id": "exp-7", "display_name": body["display_name"]})
        if self.path == "/apis/v2beta1/runs":
            return self.answer({"run_id": "run-7", "display_name": body["display_name"]})
        if self.path == "/apis/v2beta1/recurringruns":
            return self.answer({"recurring_run_id": "rec-7", "display_name": body["display_name"]})
        self.send_error(404)

    def do_DELETE(self):
        self.requests.append(("DELETE", self.path, None))
        self.answer({})


@pytest.fixture
def kfp_server(monkeypatch, tmp_path):
    # The client reads ~/.config/kfp/context.json when there is one: not this test's.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "context.json"))
    ScriptedKfp.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedKfp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", ScriptedKfp.requests
    server.shutdown()


def test_the_real_client_sends_the_pipeline_with_its_secret_reference(tmp_path, kfp_server, monkeypatch, capsys):
    host, requests = kfp_server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-never-sent")
    assert main(["submit", str(spec_file(tmp_path)), "--host", host, "--trials", "1"]) == 0
    [run] = [body for method, path, body in requests if (method, path) == ("POST", "/apis/v2beta1/runs")]
    assert run["experiment_id"] == "exp-7" and run["service_account"] == "agenthpo-pipeline"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "agenthpo-water-potability"
    executors = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-creator"]["secretAsEnv"][0]["secretName"] == "agenthpo-llm"
    assert "sk-sentinel-never-sent" not in json.dumps(requests)
    assert f"run: run-7  {host}/#/runs/details/run-7" in capsys.readouterr().out


def test_the_real_client_creates_the_recurring_run_then_deletes_the_old_one(tmp_path, kfp_server):
    host, requests = kfp_server
    assert main(["schedule", str(spec_file(tmp_path)), "--cron", "15 2 * * 1-5", "--host", host,
                 "--trials-per-run", "2"]) == 0
    calls = [(method, path) for method, path, _ in requests]
    assert calls.index(("POST", "/apis/v2beta1/recurringruns")) < calls.index(
        ("DELETE", "/apis/v2beta1/recurringruns/old-1"))
    [listed] = [query for method, path, query in requests if (method, path) == ("GET", "/apis/v2beta1/recurringruns")]
    assert listed["experiment_id"] == ["exp-7"]
    assert json.loads(listed["filter"][0])["predicates"][0]["stringValue"] == "agenthpo-water-potability"
    [job] = [body for method, path, body in requests if (method, path) == ("POST", "/apis/v2beta1/recurringruns")]
    assert job["trigger"]["cron_schedule"]["cron"] == "0 15 2 * * 1-5"
    assert job["max_concurrency"] == 1
    assert job["no_catchup"] is True and job["mode"] == "ENABLE"
    assert len(job["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]) == 1 + 2 * 3 + 1


def test_each_firing_of_a_scheduled_run_opens_the_generation_its_data_belongs_to(tmp_path, kfp_server, sqlite_uri):
    """The recurring run as scheduled through the KFP API, fired twice: its steps' bodies, run here as its pods
    would run them, with the data file changed between the firings (what the open step fingerprints)."""
    from agenthpo.components import bodies
    from agenthpo.tracking import MlflowStudyStore
    from conftest import quadratic_spec

    from agenthpo import study
    from agenthpo.messages import StudyOpened
    from agenthpo.spec import parse_spec

    host, requests = kfp_server
    data = tmp_path / "weekly.csv"
    data.write_text("x\n1\n")
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(MLFLOW, data=str(data), budget={"trials": 2},
                                                              cluster={"service_account": "agenthpo-pipeline"}))
    assert main(["schedule", str(spec), "--cron", "0 3 * * 1", "--host", host, "--trials-per-run", "2"]) == 0
    [job] = [body for method, path, body in requests if (method, path) == ("POST", "/apis/v2beta1/recurringruns")]
    pipeline = job["pipeline_spec"].get("pipeline_spec", job["pipeline_spec"])  # beside a platform spec, or alone
    scheduled = {**spec_of(pipeline), "tracking_uri": sqlite_uri}  # the pods' MLflow, here
    spec_json = json.dumps(scheduled)

    def fire() -> StudyOpened:
        opened = StudyOpened.from_json(json.loads(bodies.open_study(spec_json)))
        study.run_inprocess(parse_spec(scheduled, base_dir=None), MlflowStudyStore(sqlite_uri), opened.study_id)
        return opened

    assert fire().generation == 1
    assert (fire().generation, fire().began) == (1, "")  # the same data: nothing new
    data.write_text("x\n1\n2\n")
    opened = fire()
    assert opened.generation == 2 and opened.began.startswith("the data changed since generation 1 (2 trials)")
    history = MlflowStudyStore(sqlite_uri).history(opened.study_id)
    assert [(t.number, t.generation) for t in history] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert [t.source for t in history if t.generation == 2] == ["warm_start", "warm_start"]
