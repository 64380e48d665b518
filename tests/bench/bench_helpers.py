"""Shared by the benchmark tests: the tiny suite (analytic functions, random and TPE: no LLM, seconds)."""

import yaml
from conftest import ROOT

TINY = ROOT / "benchmarks" / "tiny.yaml"
BRANIN = ROOT / "examples" / "analytic" / "branin.yaml"


def tiny_data(**changes) -> dict:
    """The tiny suite with absolute spec paths, so that a copy can live in a test's folder."""
    data = yaml.safe_load(TINY.read_text())
    data["specs"] = [{**item, "path": str((TINY.parent / item["path"]).resolve())} if isinstance(item, dict)
                     else str((TINY.parent / item).resolve()) for item in data["specs"]]
    return {**data, **changes}


def runs(store, experiment: str, role: str):
    found = store.client.get_experiment_by_name(experiment)
    return store.client.search_runs([found.experiment_id], f"tags.`agenthpo.role` = '{role}'", max_results=10000)


def per_spec_data(**changes) -> dict:
    """The tiny suite with Branin given 1 repeat and a 3-trial best human of its own (the suite says 2 and 10)."""
    data = tiny_data(**changes)
    data["specs"][0] = {**data["specs"][0], "repeats": 1, "human_trials": 3}
    return data

