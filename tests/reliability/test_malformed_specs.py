"""Every malformed spec is refused when it loads: a FieldError naming the file and the field, never a traceback,
a hang or a study run. Each variant is written to a file and read by `load_spec`; a few go through the real CLI
(`compile` and `tune`), which must exit 2 naming the field before anything is recorded (no MLflow database, no
KFP output, no pipeline file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

from agenthpo.errors import FieldError
from agenthpo.spec import load_spec


def base() -> dict[str, Any]:
    return {"name": "branin-malformed", "task": "branin", "description": "Minimise an unknown function.",
            "objective": {"metric": "value", "direction": "minimize"},
            "space": {"x1": {"type": "float", "low": -5.0, "high": 10.0},
                      "x2": {"type": "float", "low": 0.0, "high": 15.0}},
            "budget": {"trials": 2, "max_failed_trials": 2}, "proposer": "random", "seed": 0}


def dumped(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Variant:
    """`make` turns the base spec into the file's content: a dict (dumped as YAML), a str or bytes."""

    id: str
    make: Callable[[dict[str, Any]], dict[str, Any] | str | bytes]
    path: str  # the field named; ending in '*': any path under it
    hint: str  # a piece of the message


def with_(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda data: data | changes


def param(name: str, spec: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda data: data | {"space": {**data["space"], name: spec}}


def text(edit: Callable[[str], str]) -> Callable[[dict[str, Any]], str]:
    return lambda data: edit(dumped(data))


def undeclared(data: dict[str, Any]) -> dict[str, Any]:
    """The spec on a plug-in without declared options: its task_options are taken as they are."""
    return data | {"task": "fault_tasks:UNDECLARED", "objective": {"metric": "score", "direction": "maximize"},
                   "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}}}


def bomb(data: dict[str, Any]) -> str:
    """A billion laughs: 10**9 values from ten lines, as options no plug-in declaration would refuse."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    return dumped(undeclared(data)) + "task_options:\n" + "".join(f"  {line}\n" for line in levels)


def undeclared_with(options: str) -> Callable[[dict[str, Any]], str]:
    return lambda data: dumped(undeclared(data)) + f"task_options: {options}\n"


X1 = {"type": "float", "low": -5.0, "high": 10.0}
VARIANTS = [
    # -- the task --
    Variant("unknown-task", with_(task="branni"), "task", "did you mean 'branin'"),
    Variant("module-attr-typo", with_(task="agenthpo.tasks.analytic:BRANNIN"), "task", "did you mean 'BRANIN'"),
    Variant("module-typo", with_(task="agenthpo.tasks.analytc:BRANIN"), "task", "cannot import"),
    Variant("not-a-plug-in", with_(task="os:path"), "task", "is not a task plug-in"),
    Variant("unreported-metric", with_(objective={"metric": "accuracy", "direction": "minimize"}), "objective.metric",
            "not reported"),
    Variant("unknown-task-option", with_(task_options={"nosie": 0.1}), "task_options.nosie", "did you mean 'noise'"),
    Variant("required-hyperparameter-left-out", with_(task="fault_tasks:QUADRATIC", objective={"metric": "score"},
                                                      space={"x": {"type": "float", "low": 0.0, "high": 1.0}}),
            "space", "leaves out ['epochs']"),
    # -- the file --
    Variant("not-utf8", lambda data: dumped(data).replace("unknown", "unknöwn").encode("latin-1"), "",
            "not UTF-8 text: byte 0xf6 on line"),
    Variant("utf16", lambda data: dumped(data).encode("utf-16"), "", "not UTF-8"),
    Variant("duplicate-top-level-key", text(lambda t: t + "budget: {trials: 3}\n"), "budget", "given twice (lines"),
    Variant("duplicate-nested-key", text(lambda t: t.replace("    low: -5.0\n", "    low: -5.0\n    low: -4.0\n")),
            "space.x1.low", "given twice"),
    Variant("duplicate-flow-key", text(lambda t: t + "task_options: {noise: 0.1, noise: 0.2}\n"), "task_options.noise",
            "given twice"),
    Variant("alias-bomb", bomb, "task_options*", "each alias counted as what it repeats"),
    Variant("recursive-alias", undeclared_with("&loop {again: *loop}"), "task_options.again",
            "refers to a node that contains it"),
    Variant("nested-100000-deep", undeclared_with("{deep: " + "[" * 100_000 + "]" * 100_000 + "}"),
            "task_options*", "nested more than 32 levels"),
    Variant("python-object-tag", text(lambda t: t.replace("seed: 0", "seed: !!python/object/apply:os.system [true]")),
            "seed", "is not allowed"),
    Variant("binary-tag", text(lambda t: t.replace("description: Minimise an unknown function.",
                                                   "description: !!binary aGVsbG8=")), "description", "is not allowed"),
    Variant("int-of-5000-digits", text(lambda t: t.replace("seed: 0", "seed: 1" + "0" * 5000)), "seed",
            "5,001 digits"),
    Variant("two-documents", text(lambda t: t + "---\nname: other\n"), "", "expected a single document"),
    Variant("not-yaml", text(lambda t: t.replace("seed: 0", "seed: [unclosed")), "", "not valid YAML"),
    Variant("empty-file", lambda data: "", "", "expected a mapping at the top level"),
    Variant("top-level-list", lambda data: "- name: x\n", "", "expected a mapping at the top level"),
    # -- numbers --
    Variant("int-bounds-1e30", param("n", {"type": "int", "low": 0, "high": 10**30}), "space.n.high", "64-bit"),
    Variant("int-bounds-float-1e30", param("n", {"type": "int", "low": 0, "high": 1e30}), "space.n.high",
            "must be an integer"),
    Variant("float-bounds-1e308", param("x1", {"type": "float", "low": -1e308, "high": 1e308}), "space.x1.low",
            "|x| <= 1e+15"),
    Variant("float-bound-inf", text(lambda t: t.replace("high: 10.0", "high: .inf")), "space.x1.high", "finite"),
    Variant("float-bound-nan", text(lambda t: t.replace("low: -5.0", "low: .nan")), "space.x1.low", "finite"),
    Variant("log-scale-from-zero", param("x1", X1 | {"low": 0.0, "log": True}), "space.x1.low", "> 0 on a log scale"),
    Variant("low-above-high", param("x1", X1 | {"low": 11.0}), "space.x1.low", "swap the bounds"),
    Variant("nan-choice", param("c", {"type": "ordinal", "choices": [1, float("nan")]}), "space.c.choices[1]",
            "finite"),
    Variant("1001-choices", param("c", {"type": "categorical", "choices": list(range(1001))}), "space.c.choices",
            "1-1,000"),
    Variant("cluster-gpu-count-1e30", with_(cluster={"gpu": {"count": 10**30}}), "cluster.gpu.count", "64-bit"),
    # -- budget --
    Variant("trials-10**12", with_(budget={"trials": 10**12}), "budget.trials", "more than 100,000"),
    Variant("trials-zero", with_(budget={"trials": 0}), "budget.trials", "integer >= 1"),
    Variant("trials-text", with_(budget={"trials": "ten"}), "budget.trials", "'ten' must be an integer"),
    Variant("trials-boolean", with_(budget={"trials": True}), "budget.trials", "True must be an integer"),
    Variant("negative-max-failed", with_(budget={"trials": 2, "max_failed_trials": -1}), "budget.max_failed_trials",
            "integer >= 1"),
    Variant("zero-trial-timeout", with_(budget={"trials": 2, "trial_timeout": 0}), "budget.trial_timeout", "seconds"),
    Variant("text-trial-timeout", with_(budget={"trials": 2, "trial_timeout": "1h"}), "budget.trial_timeout",
            "seconds"),
    Variant("unknown-budget-field", with_(budget={"trials": 2, "retries": 1}), "budget.retries", "unknown field"),
    Variant("parallel-above-trials", with_(parallel=3), "parallel", "more than budget.trials=2"),
    # -- sizes --
    Variant("description-10MB", with_(description="x" * 10_000_000), "description", "at most 20,000"),
    Variant("description-a-list", with_(description=["a"]), "description", "must be a str"),
    Variant("spec-over-64KiB", with_(space={f"p{i}": {"type": "categorical", "choices": [c * 240 for c in "abcdefgh"]}
                                            for i in range(40)}), "space", "bytes as JSON"),
    # -- parameter names --
    Variant("mlflow-invalid-name-equals", param("lr=1", X1), "space.lr=1", "MLflow accepts only"),
    Variant("mlflow-invalid-name-comma", param("a,b", X1), "space.a,b", "MLflow accepts only"),
    Variant("name-of-300-characters", param("n" * 300, X1), "space." + "n" * 300, "1-250 characters"),
    Variant("name-path-trick", param("../x", X1), "space.../x", "normalises"),
    Variant("name-the-project-uses", param("agenthpo.params", X1), "space.agenthpo.params", "starts with 'agenthpo'"),
    # -- fields, types, start, proposer, cluster --
    Variant("unknown-top-level-field", lambda data: {**data, "budjet": data["budget"]}, "budjet",
            "did you mean 'budget'"),
    Variant("unknown-param-field", param("x1", X1 | {"lo": 1.0}), "space.x1.lo", "unknown field"),
    Variant("unknown-param-type", param("x1", X1 | {"type": "flaot"}), "space.x1.type", "did you mean 'float'"),
    Variant("space-a-list", with_(space=["x1"]), "space", "must be a mapping"),
    Variant("bad-study-name", with_(name="my study"), "name", "'my study'"),
    Variant("negative-seed", with_(seed=-3), "seed", "non-negative"),
    Variant("seed-2**40", with_(seed=2**40), "seed", "more than 4,294,967,295"),
    Variant("start-outside-the-space", with_(start={"x1": 100.0, "x2": 1.0}), "start.x1", "outside [-5.0, 10.0]"),
    Variant("start-unknown-parameter", with_(start={"x1": 1.0, "x2": 1.0, "x3": 0.0}), "start.x3",
            "unknown parameter"),
    Variant("proposer-unknown", with_(proposer="tpee"), "proposer", "did you mean 'tpe'"),
    Variant("proposer-option-typo", with_(proposer={"name": "tpe", "n_startup_tirals": 2}),
            "proposer.n_startup_tirals", "did you mean 'n_startup_trials'"),
    Variant("llm-temperature", with_(llm={"temperature": 5}), "llm.temperature", "outside [0, 2]"),
    Variant("cluster-bad-toleration", with_(cluster={"tolerations": [{"key": "a", "effect": "NoRun"}]}),
            "cluster.tolerations[0].effect", "must be one of"),
    Variant("cluster-bad-service-account", with_(cluster={"service_account": "Bad_Name"}), "cluster.service_account",
            "Kubernetes name"),
    Variant("cluster-unknown-field", with_(cluster={"node_selecter": {"a": "b"}}), "cluster.node_selecter",
            "did you mean 'node_selector'"),
    Variant("cluster-negative-cpu", with_(cluster={"resources": {"cpu_limit": "-1"}}), "cluster.resources.cpu_limit",
            "quantity"),
    Variant("data-env-unset", with_(data="${AGENTHPO_SURELY_UNSET_VAR}/x.csv"), "data", "which is not set"),
]


def write(tmp_path: Path, variant: Variant) -> Path:
    content = variant.make(base() | {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    path = tmp_path / "spec.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else dumped(content), encoding="utf-8")
    return path


def names_the_field(error: FieldError, variant: Variant) -> bool:
    if variant.path.endswith("*"):
        return error.path.startswith(variant.path[:-1])
    return error.path == variant.path


def test_at_least_40_distinct_variants():
    assert len(VARIANTS) >= 40 and len({v.id for v in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_load_spec_refuses_it_naming_the_field(tmp_path, variant):
    path = write(tmp_path, variant)
    with pytest.raises(FieldError) as raised:
        load_spec(path)
    error = raised.value
    assert error.source == str(path), str(error)
    assert names_the_field(error, variant), f"named {error.path!r}, not {variant.path!r}: {str(error)[:300]}"
    assert variant.hint in error.message, str(error)[:500]
    assert str(error).startswith(f"{path}: {error.path}: " if error.path else f"{path}: ")


CLI_VARIANTS = ["unknown-task", "module-attr-typo", "not-utf8", "int-bounds-1e30", "float-bounds-1e308",
                "trials-10**12", "description-10MB", "duplicate-nested-key", "mlflow-invalid-name-equals",
                "alias-bomb"]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["compile", "tune"])
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.id in CLI_VARIANTS], ids=lambda v: v.id)
def test_the_cli_exits_2_naming_the_field_before_anything_is_recorded(tmp_path, variant, command):
    path = write(tmp_path, variant)
    args = {"compile": ["compile", path, "-o", tmp_path / "pipeline.yaml"],
            "tune": ["tune", path, "--workdir", tmp_path / "work"]}[command]
    done = run_cli(*args, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    field = variant.path.rstrip("*")
    assert f"agenthpo: invalid spec: {path}: {field}" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and variant.hint in done.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "work").exists()
    assert not (tmp_path / "pipeline.yaml").exists()


@pytest.mark.parametrize("budget, extra, field", [
    (501, [], "budget.trials"),
    (10, ["--trials", "501"], "--trials"),
])
def test_compile_refuses_more_trials_than_a_pipeline_unrolls(tmp_path, budget, extra, field):
    path = tmp_path / "spec.yaml"
    path.write_text(dumped(base() | {"budget": {"trials": budget}}))
    done = run_cli("compile", path, "-o", tmp_path / "pipeline.yaml", *extra, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"{field}: 501 trials is more than a compiled pipeline holds (500" in done.stderr
    assert "--trials-per-run" in done.stderr and not (tmp_path / "pipeline.yaml").exists()


@pytest.mark.parametrize("command, budget, extra, field", [
    ("submit", 501, [], "budget.trials"),
    ("schedule", 1000, ["--cron", "0 3 * * *"], "budget.trials"),
    ("schedule", 1000, ["--cron", "0 3 * * *", "--trials-per-run", "600"], "--trials-per-run"),
])
def test_submit_and_schedule_refuse_a_run_of_more_than_500_trials(tmp_path, command, budget, extra, field):
    path = tmp_path / "spec.yaml"
    path.write_text(dumped(base() | {"budget": {"trials": budget}}))
    # Nothing listens on port 9: the refusal comes before any request.
    done = run_cli(command, path, "--host", "http://127.0.0.1:9", *extra, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"{field}: " in done.stderr and "more than a compiled pipeline holds (500" in done.stderr


def test_schedule_in_parts_of_at_most_500_is_not_refused_by_the_limit(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(dumped(base() | {"budget": {"trials": 1000}}))
    done = run_cli("schedule", path, "--host", "http://127.0.0.1:9", "--cron", "0 3 * * *", "--trials-per-run",
                   "500", cwd=tmp_path, timeout=120)
    assert "compiled pipeline holds" not in done.stderr, done.stderr
