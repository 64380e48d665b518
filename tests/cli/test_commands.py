"""The command registry (`_COMMANDS`), the parser built from it, and the session timing of `tune`."""

import argparse
from types import SimpleNamespace

import pytest

from agenthpo import names
from agenthpo.cli import _COMMANDS, build_parser, main
from agenthpo.cli.base import EXIT_USAGE, _BaseCommand
from agenthpo.cli.timing import print_summary, session_timing
from agenthpo.messages import BestTrial


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_every_command_is_registered_with_its_help_in_order():
    assert list(_COMMANDS) == ["init", "tune", "check", "bench", "report", "tasks", "llm", "compile", "submit",
                               "schedule"]
    subcommands = _subcommands(build_parser())
    assert list(subcommands.choices) == list(_COMMANDS)
    helps = {choice.dest: choice.help for choice in subcommands._choices_actions}
    for name, command_type in _COMMANDS.items():
        assert issubclass(command_type, _BaseCommand)
        assert command_type.help and helps[name] == command_type.help


def test_a_parsed_command_dispatches_to_its_class():
    parser = build_parser()
    assert isinstance(parser.parse_args(["report", "s"]).handler, _COMMANDS["report"])
    assert isinstance(parser.parse_args(["llm", "status"]).handler, _COMMANDS["llm"])
    args = parser.parse_args(["schedule", "s.yaml", "--cron", "0 3 * * *"])
    assert isinstance(args.handler, _COMMANDS["schedule"]) and args.cron == "0 0 3 * * *"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: agenthpo")
    for name, command_type in _COMMANDS.items():
        assert name in out and command_type.help[:30] in " ".join(out.split())


@pytest.mark.parametrize("argv", [["frobnicate"], []])
def test_an_unknown_or_missing_command_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: agenthpo" in err and ("invalid choice: 'frobnicate'" in err if argv else "required" in err)


def test_a_bad_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["tune", "spec.yaml", "--trials", "0"])
    assert exited.value.code == EXIT_USAGE and "0 must be >= 1" in capsys.readouterr().err


def test_an_unreadable_file_is_an_invalid_spec_or_suite_by_command(tmp_path, capsys):
    assert main(["tune", str(tmp_path / "missing.yaml")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("agenthpo: invalid spec: ") and "cannot read" in err
    assert main(["bench", str(tmp_path / "missing.yaml")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("agenthpo: invalid suite: ") and "cannot read" in err


def _trial(number, train_seconds=None, **seconds):
    """A trial whose LLM seconds are given per role (creator=2.0 -> metric llm/creator_llm_seconds)."""
    metrics = {names.usage_metric(role, names.LLM_SECONDS): value for role, value in seconds.items()}
    return SimpleNamespace(number=number, train_seconds=train_seconds, metrics=metrics)


def test_session_timing_counts_this_sessions_trials_and_the_final_analysis():
    earlier = _trial(0, 10.0, creator=5.0, executor=1.0)
    now = [_trial(1, 3.0, creator=2.0, executor=0.5), _trial(2, None, creator=1.0)]
    # The study's total: every trial's Creator and Executor calls (9.5 s) and the final analysis (4 s).
    timing = session_timing(20.0, [earlier, *now], now, llm_seconds_total=13.5)
    assert timing == {names.SESSION_WALL_SECONDS: 20.0, names.SESSION_TRAIN_SECONDS: 3.0,
                      names.SESSION_LLM_SECONDS: 7.5, names.SESSION_ORCHESTRATION_SECONDS: 9.5,
                      names.SESSION_TRIALS: 2.0}


def test_session_timing_without_llm_or_trials():
    assert session_timing(2.0, [_trial(0, 1.0)], [], 0.0) == {
        names.SESSION_WALL_SECONDS: 2.0, names.SESSION_TRAIN_SECONDS: 0.0, names.SESSION_LLM_SECONDS: 0.0,
        names.SESSION_ORCHESTRATION_SECONDS: 2.0, names.SESSION_TRIALS: 0.0}
    # A total below the trials' own (no final analysis logged) never makes the session's LLM time negative.
    assert session_timing(2.0, [_trial(0, 1.0, creator=3.0)], [], 1.0)[names.SESSION_LLM_SECONDS] == 0.0


def test_the_summary_prints_best_time_and_where_to_look(capsys):
    spec = SimpleNamespace(name="s", tracking_uri="sqlite:///m.db",
                           objective=SimpleNamespace(metric="accuracy", direction="maximize"))
    timing = session_timing(10.0, [], [], 0.0)
    best = BestTrial(3, 0.91234567, {"lr": 0.0123456, "depth": 4})
    print_summary(spec, best, {}, timing, "failures", "3 trials failed", experiment_id="7")
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "", "best: trial 3  accuracy=0.912346", "  lr=0.01235, depth=4", "stopped: 3 trials failed",
        "time: 10.0s wall for 0 trials = 0.0s training + 10.0s orchestration (pipeline steps, MLflow, analysis)",
        "report: agenthpo report s --tracking-uri sqlite:///m.db",
        "MLflow UI: mlflow ui --backend-store-uri sqlite:///m.db --port 5000, then open",
        # The runs view, sorted by the objective (best first): what a tuner looks for.
        "  http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning&orderByKey=metrics.%60accuracy%60"
        "&orderByAsc=false"]
    assert err == "agenthpo: study stopped: 3 trials failed\n"
