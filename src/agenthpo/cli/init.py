"""`agenthpo init "a sentence" --data FILE [-o spec.yaml]`: a spec drafted from a sentence and the data."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agenthpo.cli.base import EXIT_OK, EXIT_USAGE, _BaseCommand


class _Init(_BaseCommand):
    help = "draft a spec from a sentence and a data file (plug-in, target, metric, default space), ready to tune"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("sentence", help='what to tune, in words (e.g. "predict whether water is potable")')
        parser.add_argument("--data", required=True, help="a CSV/TSV table, a 'label sentence' .txt file, a folder "
                                                          "of train/dev splits or of Planetoid graph files")
        parser.add_argument("-o", "--output", default="spec.yaml", help="where to write the spec (default: spec.yaml)")
        parser.add_argument("--name", help="the study's name (default: from the data's name)")
        parser.add_argument("--llm-base-url", help="let an OpenAI-compatible endpoint choose among the candidates "
                                                   "(default: $OPENAI_BASE_URL when set; else rules only)")
        parser.add_argument("--llm-model", help="the endpoint's model")
        parser.add_argument("--force", action="store_true", help="overwrite the output file")

    def take_action(self, args: argparse.Namespace) -> int:
        import yaml

        from agenthpo import drafting
        from agenthpo.spec import parse_spec

        output = Path(args.output)
        if output.exists() and not args.force:
            print(f"agenthpo: {output} exists; choose another -o or add --force", file=sys.stderr)
            return EXIT_USAGE
        try:
            shape = drafting.inspect(args.data)
        except ValueError as exc:
            print(f"agenthpo: {exc}", file=sys.stderr)
            return EXIT_USAGE
        draft = drafting.by_rules(args.sentence, shape)
        how = "rules"
        base_url = args.llm_base_url or os.environ.get("OPENAI_BASE_URL")
        if base_url:
            from agenthpo.agents.drafter import choose
            from agenthpo.llm.config import LLMConfig

            draft, how = choose(args.sentence, shape, draft, LLMConfig(base_url=base_url, model=args.llm_model,
                                                                        max_retries=1))
        data = drafting.spec_from(args.sentence, shape, draft, args.name)
        parse_spec(data, base_dir=output.resolve().parent, source=str(output))  # FieldError (exit 2): a bad draft
        comments = "".join(f"#   {line}\n" for line in draft.choices)
        output.write_text(f"# Drafted by `agenthpo init` ({how}). Its choices:\n{comments}# Check it, then: agenthpo "
                          f"check {output} && agenthpo tune {output}\n"
                          + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110))
        print(f"agenthpo: wrote {output}: task {draft.task}, {draft.direction} {draft.metric} "
              f"({how}); {', '.join(draft.choices)}")
        print(f"next: agenthpo check {output}")
        return EXIT_OK
