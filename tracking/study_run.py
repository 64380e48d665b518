"""What the study run shows at a glance in the MLflow UI: each trial's objective and the best so far at
step = trial number (a native optimisation-history chart), the best trial tagged, and a first note line
linking to it with the trivial baseline beside it; the generation the study trains in. A mixin of
`MlflowStudyStore` (its client)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow.entities import Metric, RunTag

from agenthpo import names
from agenthpo.generations import Generation

GENERATIONS_LOG = "generations.json"


class StudyRunMixin:
    def write_progress(self, study_id: str, metric: str, series: Sequence[tuple[int, float, float]],
                       best_run_id: str, baseline: tuple[float, str] | None) -> str:
        """Log the points of `series` (number, value, best so far) not logged yet; tag `best_run_id` the best
        (and no other trial); the note's first line, as Markdown."""
        client = self.client  # type: ignore[attr-defined]
        per_trial, best_so_far = names.trial_objective_metric(metric), f"best_so_far_{metric}"
        logged = {m.step for m in client.get_metric_history(study_id, per_trial)}
        stamp = int(time.time() * 1000)
        points = [Metric(per_trial, value, stamp, number) for number, value, _ in series if number not in logged]
        points += [Metric(best_so_far, best, stamp, number) for number, _, best in series if number not in logged]
        for i in range(0, len(points), 1000):
            client.log_batch(study_id, metrics=points[i:i + 1000])
        line = ""
        if best_run_id:
            run = client.get_run(best_run_id)
            tagged = client.search_runs([run.info.experiment_id], filter_string=(
                f"tags.`{names.PARENT}` = '{study_id}' and tags.`{names.BEST}` = 'true'"))
            for earlier in tagged:  # a resumed study found a better trial: one best at a time
                if earlier.info.run_id != best_run_id:
                    client.set_tag(earlier.info.run_id, names.BEST, "false")
            client.set_tag(best_run_id, names.BEST, "true")
            number, value = run.data.tags.get(names.TRIAL, "?"), float(run.data.tags.get(names.VALUE, "nan"))
            line = (f"**Best: [trial {number}](#/experiments/{run.info.experiment_id}/runs/{best_run_id})**, "
                    f"{metric} = {value:.4g}")
        if baseline is not None:
            line += ("; " if line else "") + f"trivial baseline ({baseline[1]}): {metric} = {baseline[0]:.4g}"
        return line

    def write_report(self, study_id: str, markdown: str, plot: Path | None, summary: Mapping[str, float],
                     stopped: str, quality: str = "", html: str = "", header: str = "") -> None:
        """`header`: the note's first lines (the best trial linked, the baseline), above the report."""
        from agenthpo.tracking.store import NOTE, _clip, _now_ms  # the store imports this mixin

        self.client.log_text(study_id, markdown, "report.md")
        if html:  # MLflow's artifact view shows it as a page
            self.client.log_text(study_id, html, "report.html")
        if plot is not None:
            self.client.log_artifact(study_id, str(plot))
        stamp = _now_ms()
        self.client.log_batch(study_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in summary.items()],
                              tags=[RunTag(NOTE, _clip(f"{header}\n\n{markdown}" if header else markdown)),
                                    RunTag(names.STOPPED, stopped or "-"),
                                    *([RunTag(names.LLM_QUALITY, _clip(quality))] if quality else [])])
        self.client.set_terminated(study_id, status="FAILED" if stopped else "FINISHED")

    def stored_report(self, study_id: str) -> str:
        """The report the report step last wrote on the study run ('' before any)."""
        return self._artifact_text(study_id, "report.md")

    def _artifact_text(self, run_id: str, path: str) -> str:
        import tempfile

        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as folder:
            try:
                return Path(self.client.download_artifacts(run_id, path, folder)).read_text()
            except (MlflowException, OSError):
                return ""

    def log_session(self, study_id: str, timing: Mapping[str, float]) -> int:
        """A `tune` session's time split on the study run at step = the session's number (1, 2, ...: one
        point per session, not a Unix timestamp on the chart's axis); that number."""
        number = len(self.client.get_metric_history(study_id, names.SESSION_WALL_SECONDS)) + 1
        stamp = int(time.time() * 1000)
        self.client.log_batch(study_id, metrics=[Metric(k, float(v), stamp, number) for k, v in timing.items()])
        return number

    def generation(self, study_id: str) -> Generation:
        """The study's current generation (the first, with no fingerprint, until one is recorded)."""
        tags = self.client.get_run(study_id).data.tags
        return Generation(int(tags.get(names.GENERATION, "1")), tags.get(names.GENERATION_FINGERPRINT, ""))

    def begin_generation(self, study_id: str, generation: Generation, note: str) -> None:
        """Record the generation the study trains in now (tags), and its start in the `generations.json`
        artifact, the log of every generation (JSON, not a tag: it grows with every change of the data)."""
        log = json.loads(self._artifact_text(study_id, GENERATIONS_LOG) or "[]")
        if log and log[-1].get("generation") == generation.number:
            log = log[:-1]  # two drivers saw the same change at once: one entry for the generation
        log.append({"generation": generation.number, "fingerprint": generation.fingerprint,
                    "began": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "note": note})
        self.client.log_text(study_id, json.dumps(log, indent=2), GENERATIONS_LOG)
        self.client.log_batch(study_id, tags=[RunTag(names.GENERATION, str(generation.number)),
                                              RunTag(names.GENERATION_FINGERPRINT, generation.fingerprint)])

    def generations_log(self, study_id: str) -> list[dict]:
        """Every generation's start as `begin_generation` recorded it, oldest first."""
        return json.loads(self._artifact_text(study_id, GENERATIONS_LOG) or "[]")
