"""The CLI's line for a pruned trial: PRUNED with the pruner's reason, once its analysis is written."""

import io
from types import SimpleNamespace

from agenthpo.cli.progress import ProgressPrinter
from agenthpo.generations import Generation
from agenthpo.trial import TrialRecord, TrialState

SPEC = SimpleNamespace(objective=SimpleNamespace(metric="accuracy"), budget=SimpleNamespace(trials=10))
REASON = "validation_accuracy 0.41 (its best so far) at epoch 12, below the median 0.63 of 4 finished trials"


def test_a_pruned_trial_is_shown_as_pruned_with_its_reason(tmp_path):
    pruned = TrialRecord(3, {"x": 0.9}, TrialState.PRUNED, source="tpe", train_seconds=4.2, pruned_step=12,
                         pruned_reason=REASON)
    history = []  # trials already ended when the printer starts are not shown again
    printer = ProgressPrinter(SPEC, SimpleNamespace(history=lambda study_id: history,
                                                    generation=lambda study_id: Generation()), "study",
                              llm_status=tmp_path / "none.json")
    printer.out = io.StringIO()
    history.append(pruned)
    printer.poll()
    assert printer.out.getvalue() == ""  # its analysis is not written yet
    history[0] = TrialRecord(3, {"x": 0.9}, TrialState.PRUNED, source="tpe", train_seconds=4.2, pruned_step=12,
                             pruned_reason=REASON, facts={"verdict": "pruned"})
    printer.poll()
    printer.poll()
    line = printer.out.getvalue()
    assert line.count("\n") == 1 and line.startswith("  trial   3/10  tpe      PRUNED   validation_accuracy 0.41")
    assert line.rstrip().endswith("4.2s")
