"""`agenthpo tasks [NAME] [--json]`: the task plug-ins, their metrics, options and default spaces."""

from __future__ import annotations

import argparse
import json

from agenthpo.cli.base import EXIT_OK, _BaseCommand


class _Tasks(_BaseCommand):
    help = "list the task plug-ins (with NAME: its options, metrics and default space, ready for a spec)"
    document = "task"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", help="one task: everything it declares")
        parser.add_argument("--json", action="store_true", help="as JSON (for tools)")

    def take_action(self, args: argparse.Namespace) -> int:
        from agenthpo.tasks.catalog import all_tasks, describe_task

        entries = [describe_task(args.name)] if args.name else all_tasks()
        if args.json:
            print(json.dumps(entries if not args.name else entries[0], indent=2, default=str))
        elif args.name:
            print(_detail(entries[0]))
        else:
            print(_table(entries))
        return EXIT_OK


def _table(entries: list[dict]) -> str:
    width = max(len(e["name"]) for e in entries)
    lines = []
    for entry in entries:
        objective = entry.get("default_objective")
        goal = f"{objective['direction']} {objective['metric']}" if objective else "(your own code: Python API)"
        lines.append(f"{entry['name']:<{width}}  {goal:<22}  {entry['description'].splitlines()[0][:90]}")
    lines.append("\n`agenthpo tasks NAME` shows a task's options, metrics and default space.")
    return "\n".join(lines)


def _detail(entry: dict) -> str:
    import yaml

    lines = [f"task: {entry['name']}", "", entry["description"], ""]
    if "metrics" not in entry:
        return "\n".join(lines).rstrip()
    objective = entry["default_objective"]
    lines += [f"objective (default): {objective['direction']} {objective['metric']}",
              f"metrics: {', '.join(entry['metrics'])}", f"a step is one {entry['step']}", "", "task_options:"]
    for option in entry["options"]:
        default = "REQUIRED" if option["required"] else json.dumps(option["default"])
        rule = f", {option['rule']}" if option["rule"] else ""
        lines.append(f"  {option['name']} ({option['type']}{rule}; default {default}): {option['help']}")
    space = yaml.safe_dump({"space": entry["default_space"]}, sort_keys=False, default_flow_style=None).rstrip()
    defaults = ", ".join(f"{k}={v}" for k, v in entry["param_defaults"].items()) or "none"
    lines += ["", "default space (copy into a spec):", space, "",
              f"left out of a spec's space, a hyperparameter trains with its default: {defaults}"]
    return "\n".join(lines)
