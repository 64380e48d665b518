"""MLflow records of a benchmark: one parent run holding the aggregate results, studies tagged to it.

MLflow allows one parent per run and a study run already parents its trials, so a study is tied to
its benchmark by tags: `agenthpo.benchmark=<suite>` and `agenthpo.benchmark_run_id=<parent run id>`.
The benchmark run has `agenthpo.role=benchmark`, the suite as `suite.json`, and at the end
`results.md` (also its note), `results.json` and the trajectory plots.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agenthpo.tracking.store import MlflowStudyStore, _clip, _now_ms, _quote
from mlflow.entities import Metric, RunTag

from agenthpo import names


class MlflowBenchmarkStore(MlflowStudyStore):
    """The study store plus what a benchmark adds (parent run, study tags, results)."""

    def open_benchmark(self, name: str, suite: Mapping[str, Any]) -> str:
        """The benchmark's run in experiment `name`, created or resumed."""
        experiment_id = self.experiment_id(name)
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{names.ROLE}` = '{names.ROLE_BENCHMARK}' "
                          f"and tags.`{names.BENCHMARK}` = '{_quote(name)}'",
            order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            run_id = runs[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
        else:
            run_id = self.client.create_run(experiment_id, run_name=f"benchmark-{name}", tags={
                names.ROLE: names.ROLE_BENCHMARK, names.BENCHMARK: name}).info.run_id
        self.client.log_text(run_id, json.dumps(dict(suite), indent=2), "suite.json")
        return run_id

    def study_done(self, name: str, experiment: str) -> str | None:
        """The run id of a study that already ended (its report written), else None."""
        study_id = self.find_study(name, experiment)
        if study_id is None:
            return None
        return study_id if self.client.get_run(study_id).info.status in ("FINISHED", "FAILED") else None

    def tag_study(self, study_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(study_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def study_metrics(self, study_id: str) -> dict[str, float]:
        return names.current_metrics(self.client.get_run(study_id).data.metrics)

    def benchmark_studies(self, run_id: str) -> list[str]:
        """Names of the studies tagged to this benchmark run."""
        experiment_id = self.client.get_run(run_id).info.experiment_id
        runs = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{names.BENCHMARK_RUN_ID}` = '{run_id}' and "
                                           f"tags.`{names.ROLE}` = '{names.ROLE_STUDY}'", max_results=10000)
        return sorted(r.data.tags[names.STUDY] for r in runs)

    def write_results(self, run_id: str, markdown: str, files: Sequence[Path], metrics: Mapping[str, float]) -> None:
        for path in files:
            self.client.log_artifact(run_id, str(path))
        stamp = _now_ms()
        points = [Metric(k, float(v), stamp, 0) for k, v in metrics.items()]
        for i in range(0, len(points), 1000):
            self.client.log_batch(run_id, metrics=points[i:i + 1000])
        self.client.log_batch(run_id, tags=[RunTag(names.NOTE, _clip(markdown))])
        self.client.set_terminated(run_id, status="FINISHED")
