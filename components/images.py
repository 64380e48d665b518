"""Container images, named in one place: the compiled pipeline, images/ and manifests/ all follow these.

`python -m agenthpo.components.images` (or `make images`) prints the docker build and push commands;
`--run` runs them. This module needs only the standard library, so it also runs as a plain script
(`python3 components/images.py`) before the project is installed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

# The defaults are what manifests/base deploys; the environment variables retarget a compiled pipeline
# (and the printed build commands) at another registry or tag without editing code.
DEFAULT_REGISTRY = "ghcr.io/agenthpo"
DEFAULT_TAG = "0.1.0"  # the project's version (tests/images checks they agree)
REGISTRY = os.environ.get("AGENTHPO_IMAGE_REGISTRY", DEFAULT_REGISTRY)
TAG = os.environ.get("AGENTHPO_IMAGE_TAG", DEFAULT_TAG)

# Image name (the last part of the repository) -> its Dockerfile, relative to the repository root,
# which is also the build context.
DOCKERFILES = {
    # Open-study, Creator, analysis and report steps, the MLflow server and `agenthpo schedule`: no torch.
    "agenthpo-control": "images/control.Dockerfile",
    # Training steps on CPU nodes (xgboost and torch's CPU build).
    "agenthpo-train-cpu": "images/train-cpu.Dockerfile",
    # Training steps on GPU nodes (torch's CUDA build, the same plug-ins).
    "agenthpo-train-cuda": "images/train-cuda.Dockerfile",
}


def image(name: str, registry: str | None = None, tag: str | None = None) -> str:
    """The full reference of one of the project's images, e.g. ghcr.io/agenthpo/agenthpo-control:0.1.0."""
    if name not in DOCKERFILES:
        raise ValueError(f"unknown image {name!r}; the project's images are {', '.join(DOCKERFILES)}")
    return f"{registry or REGISTRY}/{name}:{tag or TAG}"


CONTROL_IMAGE = image("agenthpo-control")
TRAIN_IMAGE = image("agenthpo-train-cpu")
TRAIN_CUDA_IMAGE = image("agenthpo-train-cuda")


def build_commands(registry: str | None = None, tag: str | None = None, docker: str = "docker",
                   push: bool = True) -> list[list[str]]:
    """The commands that build (and push) every image, to run from the repository root."""
    commands = []
    for name, dockerfile in DOCKERFILES.items():
        ref = image(name, registry, tag)
        commands.append([docker, "build", "-f", dockerfile, "-t", ref, "."])
        if push:
            commands.append([docker, "push", ref])
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agenthpo.components.images",
        description="Print (or run with --run) the commands that build and push the project's images.")
    parser.add_argument("--registry", default=None, help=f"default: $AGENTHPO_IMAGE_REGISTRY or {DEFAULT_REGISTRY}")
    parser.add_argument("--tag", default=None, help=f"default: $AGENTHPO_IMAGE_TAG or {DEFAULT_TAG}")
    parser.add_argument("--docker", default="docker", help="the engine's CLI (docker, podman, nerdctl)")
    parser.add_argument("--no-push", action="store_true", help="build only")
    parser.add_argument("--run", action="store_true", help="run the commands instead of printing them")
    args = parser.parse_args(argv)

    commands = build_commands(args.registry, args.tag, args.docker, push=not args.no_push)
    if not args.run:
        for command in commands:
            print(shlex.join(command))
        return 0
    # The build context is the current folder: a build started elsewhere would miss every COPY source.
    missing = [path for path in DOCKERFILES.values() if not Path(path).is_file()]
    if missing:
        print(f"error: {', '.join(missing)} not found; run from the repository root", file=sys.stderr)
        return 2
    for command in commands:
        print(f"+ {shlex.join(command)}", flush=True)
        try:
            returncode = subprocess.run(command).returncode
        except FileNotFoundError:
            print(f"error: {args.docker!r} is not installed (choose another engine with --docker)", file=sys.stderr)
            return 2
        if returncode != 0:
            print(f"error: exit status {returncode} from: {shlex.join(command)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
