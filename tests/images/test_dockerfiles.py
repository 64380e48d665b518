"""No Docker engine here: the Dockerfiles are linted statically (hadolint-style rules written in Python), and
what their `pip install` would put into an image is checked by building the project's wheel from exactly
the files they copy."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from agenthpo.components import images
from conftest import ROOT

DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The extras that bring torch: the control image must not have them (size, start-up time).
TORCH_EXTRAS = {"vision", "text", "graph", "recsys"}
# What a training image needs so that every task plug-in can train in it.
TRAINING_EXTRAS = {"tracking", "pipelines", "xgboost", *TORCH_EXTRAS}


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


def instructions(path: Path) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    result, pending, start = [], "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        start = start if pending else number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        result.append(Instruction(start, keyword.upper(), arguments.strip()))
    assert not pending, f"{path.name}: the last instruction ends with a line continuation"
    return result


def pip_installs(path: Path) -> list[str]:
    """Each `pip install ...` command of the RUN instructions."""
    commands = []
    for instruction in instructions(path):
        if instruction.keyword == "RUN":
            for command in re.split(r"&&|;|\|\|", instruction.arguments):
                if re.search(r"\bpip3? install\b", command):
                    commands.append(command.strip())
    return commands


def installed_extras(path: Path) -> set[str]:
    extras = set()
    for command in pip_installs(path):
        for word in shlex.split(command):
            found = re.fullmatch(r"\.\[([a-z0-9,_-]+)\]", word)
            if found:
                extras |= set(found.group(1).split(","))
    return extras


def dockerignore_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip().lstrip("/") for line in lines if line.strip() and not line.strip().startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `relative` (or a folder above it) out of the build context. Enough of Docker's
    rules for the patterns we write: `**/NAME` matches NAME at any depth, others match from the root."""
    assert not any(p.startswith("!") for p in patterns), "extend ignored() before using ! in .dockerignore"
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/") and "/" not in pattern[3:]:
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern.rstrip("/")) for prefix in prefixes):
            return True
    return False


def test_dockerignore_keeps_local_state_out_and_sources_in():
    patterns = dockerignore_patterns()
    for path in (".venv/bin/python", ".git/HEAD", "demo/mlflow.db", "src/agenthpo/__pycache__/space.cpython-311.pyc",
                 "mlflow.db", "bench-results/default/results.json", "agenthpo.egg-info/PKG-INFO"):
        assert ignored(path, patterns), f".dockerignore should leave {path} out of the build context"
    for path in ("src/agenthpo/space.py", "components/steps.py", "pyproject.toml", "constraints.txt"):
        assert not ignored(path, patterns), f".dockerignore leaves {path} out, but the images need it"


@pytest.fixture(params=DOCKERFILES, ids=lambda p: p.name)
def dockerfile(request) -> Path:
    return request.param


def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile):
    patterns = dockerignore_patterns()
    copies = [i for i in instructions(dockerfile) if i.keyword in ("COPY", "ADD")]
    assert copies, f"{dockerfile.name}: copies nothing"
    for instruction in copies:
        words = [w for w in shlex.split(instruction.arguments) if not w.startswith("--")]
        where = f"{dockerfile.name}:{instruction.line}"
        assert len(words) >= 2, f"{where}: {instruction.keyword} needs a source and a target"
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"{where}: COPY {source} does not exist"
            assert not ignored(source, patterns), f"{where}: COPY {source} is excluded by .dockerignore"


def test_the_copied_files_are_what_the_package_needs(dockerfile):
    """pyproject's package folders, its readme and the constraints must all be in the image to install it."""
    copied = {w.rstrip("/") for i in instructions(dockerfile) if i.keyword == "COPY"
              for w in shlex.split(i.arguments)[:-1]}
    needed = {"pyproject.toml", "constraints.txt", PYPROJECT["project"]["readme"],
              *PYPROJECT["tool"]["setuptools"]["package-dir"].values()}
    missing = [path for path in sorted(needed)
               if not any(path == source or path.startswith(f"{source}/") for source in copied)]
    assert not missing, f"{dockerfile.name} does not copy {missing}"


def test_base_images_are_pinned(dockerfile):
    froms = [i for i in instructions(dockerfile) if i.keyword == "FROM"]
    assert froms, f"{dockerfile.name}: no FROM"
    for instruction in froms:
        image = [w for w in instruction.arguments.split() if not w.startswith("--")][0]
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and "/" not in tag, f"{dockerfile.name}:{instruction.line}: {image} has no tag"
        assert tag != "latest", f"{dockerfile.name}:{instruction.line}: {image} must name a version, not latest"
        # `python:3.11` moves with every patch release; a patch version makes rebuilds reproducible.
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{dockerfile.name}:{instruction.line}: {image}: pin a patch version"


def test_the_image_runs_as_a_non_root_user(dockerfile):
    steps = instructions(dockerfile)
    users = [i for i in steps if i.keyword == "USER"]
    assert users, f"{dockerfile.name}: no USER, so containers run as root"
    last = users[-1]
    assert all(i.keyword != "RUN" for i in steps if i.line > last.line), \
        f"{dockerfile.name}: RUN after the last USER runs as that user, put USER at the end"
    user = last.arguments.split(":")[0]
    # Numeric, because Kubernetes can verify runAsNonRoot only for a numeric uid.
    assert user.isdigit() and int(user) != 0, f"{dockerfile.name}: USER {last.arguments} must be a numeric uid > 0"


def test_pip_installs_are_constrained_and_leave_no_cache(dockerfile):
    commands = pip_installs(dockerfile)
    assert commands, f"{dockerfile.name}: installs nothing with pip"
    env = " ".join(i.arguments for i in instructions(dockerfile) if i.keyword == "ENV")
    no_cache_env = re.search(r"\bPIP_NO_CACHE_DIR=(1|true|yes|on)\b", env, re.IGNORECASE)
    for command in commands:
        assert re.search(r"(-c|--constraint)[ =]constraints\.txt\b", command), \
            f"{dockerfile.name}: `{command}` must use -c constraints.txt (the pinned versions)"
        assert no_cache_env or "--no-cache-dir" in command, \
            f"{dockerfile.name}: `{command}` keeps pip's cache in the layer (--no-cache-dir or PIP_NO_CACHE_DIR=1)"
        assert " -e " not in f" {command} " and "--editable" not in command, \
            f"{dockerfile.name}: an editable install depends on the copied source tree at run time"


def test_apt_lists_are_removed_in_the_same_layer(dockerfile):
    for instruction in instructions(dockerfile):
        if instruction.keyword == "RUN" and "apt-get install" in instruction.arguments:
            assert "--no-install-recommends" in instruction.arguments, f"{dockerfile.name}:{instruction.line}"
            assert "rm -rf /var/lib/apt/lists" in instruction.arguments, f"{dockerfile.name}:{instruction.line}"


def test_kfp_comes_with_the_pipelines_extra(dockerfile):
    """Components run with install_kfp_package=False: kfp (and kfp-kubernetes) must be in every image."""
    assert "pipelines" in installed_extras(dockerfile), f"{dockerfile.name} does not install .[pipelines]"
    assert {"kfp", "kfp-kubernetes"} <= {re.split(r"[=<>!~\[ ]", r)[0]
                                         for r in PYPROJECT["project"]["optional-dependencies"]["pipelines"]}


def test_the_control_image_has_no_torch():
    extras = installed_extras(ROOT / "images" / "control.Dockerfile")
    assert extras, "control.Dockerfile installs no extras"
    assert not extras & TORCH_EXTRAS, f"the control image must not install torch: {sorted(extras & TORCH_EXTRAS)}"
    assert not any(re.search(r"\btorch\b", c) for c in pip_installs(ROOT / "images" / "control.Dockerfile"))
    # It serves MLflow for the cluster (manifests/base/mlflow): PostgreSQL and S3 drivers come with `tracking`.
    assert "tracking" in extras


@pytest.mark.parametrize("name", ["train-cpu", "train-cuda"])
def test_training_images_can_train_every_task(name):
    extras = installed_extras(ROOT / "images" / f"{name}.Dockerfile")
    assert TRAINING_EXTRAS <= extras, f"{name}.Dockerfile lacks {sorted(TRAINING_EXTRAS - extras)}"


def test_the_cpu_image_takes_torch_from_the_cpu_index_and_the_cuda_image_from_pypi():
    cpu = " ".join(pip_installs(ROOT / "images" / "train-cpu.Dockerfile"))
    cuda = " ".join(pip_installs(ROOT / "images" / "train-cuda.Dockerfile"))
    assert "download.pytorch.org/whl/cpu" in cpu
    # PyPI's torch is the CUDA build; any other index here would be a different, unpinned build.
    assert "index-url" not in cuda


def test_image_names_and_dockerfiles_match_both_ways():
    on_disk = {f"images/{p.name}" for p in DOCKERFILES}
    named = set(images.DOCKERFILES.values())
    assert named <= on_disk, f"components/images.py names missing Dockerfiles: {sorted(named - on_disk)}"
    assert on_disk <= named, f"Dockerfiles no image in components/images.py builds: {sorted(on_disk - named)}"
    for constant in (images.CONTROL_IMAGE, images.TRAIN_IMAGE, images.TRAIN_CUDA_IMAGE):
        name = constant.rsplit("/", 1)[1].split(":")[0]
        assert name in images.DOCKERFILES, constant


def test_the_default_tag_is_the_project_version():
    assert images.DEFAULT_TAG == PYPROJECT["project"]["version"], \
        "components/images.py DEFAULT_TAG and pyproject's version must move together"


def test_every_component_runs_on_one_of_the_projects_images():
    from agenthpo.components import steps

    built = {images.image(name) for name in images.DOCKERFILES}
    components = {name: value for name, value in vars(steps).items() if hasattr(value, "component_spec")}
    assert components, "no KFP components found in agenthpo.components.steps"
    for name, component in components.items():
        image = component.component_spec.implementation.container.image
        assert image in built, f"component {name} runs on {image}, which no Dockerfile builds"


def test_build_commands_cover_every_image(capsys):
    assert images.main(["--registry", "registry.example/team", "--tag", "9.9.9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, dockerfile in images.DOCKERFILES.items():
        ref = f"registry.example/team/{name}:9.9.9"
        assert f"docker build -f {dockerfile} -t {ref} ." in lines
        assert f"docker push {ref}" in lines
    assert len(lines) == 2 * len(images.DOCKERFILES)


def test_the_images_module_runs_without_the_package_installed():
    """`make images` runs it with the system Python, before any venv exists: standard library only."""
    done = subprocess.run([sys.executable, "-I", str(ROOT / "components" / "images.py"), "--no-push"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("docker build") == len(images.DOCKERFILES)


# -- what a non-editable install (the images' `pip install .`) contains --------------------------------
def package_folders() -> dict[str, Path]:
    """Every importable package in the source tree, by dotted name, from pyproject's package-dir roots."""
    found = {}
    for root_name, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(ROOT / folder).parts
            found[".".join((root_name, *relative))] = init.parent
    return found


def test_every_subpackage_is_listed_in_pyproject():
    """setuptools installs only the listed packages: a folder missing here is missing from every image."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = package_folders()
    missing = sorted(set(on_disk) - listed)
    assert not missing, (f"pyproject.toml [tool.setuptools] packages lacks {missing}: a non-editable install "
                         f"(every container image) would not have them")
    stale = sorted(listed - set(on_disk))
    assert not stale, f"pyproject.toml lists packages with no folder and __init__.py: {stale}"


def test_data_files_inside_packages_are_declared():
    package_data = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    for package, folder in package_folders().items():
        for path in folder.iterdir():
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                globs = package_data.get(package, []) + package_data.get("*", [])
                assert any(fnmatch.fnmatch(path.name, g) for g in globs), \
                    f"{path.relative_to(ROOT)} is not in [tool.setuptools.package-data]: the wheel would lack it"


def copy_like_docker(sources: list[str], target: str, into: Path) -> None:
    """COPY's rules: a folder's contents go to the target; several sources or a target ending in / need a folder."""
    destination = into / target
    for source in sources:
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, destination, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif len(sources) > 1 or target.endswith("/") or target == ".":
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination / path.name)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_a_wheel_built_from_the_copied_files_holds_every_module(tmp_path, dockerfile):
    """What the images' `pip install .` does, without an engine: copy what the Dockerfile copies into an empty
    folder (its WORKDIR), build the wheel there and compare its modules with the source tree."""
    context = tmp_path / "context"
    context.mkdir()
    for instruction in instructions(dockerfile):
        if instruction.keyword == "COPY":
            *sources, target = shlex.split(instruction.arguments)
            copy_like_docker(sources, target, context)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "-w", str(tmp_path / "dist"), str(context)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("agenthpo-*.whl")
    in_wheel = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}

    expected = set()
    for package, folder in package_folders().items():
        for module in folder.glob("*.py"):
            expected.add("/".join((*package.split("."), module.name)))
    missing = sorted(expected - in_wheel)
    assert not missing, f"the wheel (and so every image) lacks {missing}"
