"""No Docker engine here: the Dockerfiles are checked statically."""

import re
from pathlib import Path

import pytest
from agenthpo.components import images
from conftest import ROOT

DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists_and_kfp_is_installed(path: Path):
    text = path.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{path.name}: COPY {source} does not exist"
    installed = re.search(r'pip install .*"\.\[([a-z,]+)\]"', text)
    assert installed and "pipelines" in installed.group(1).split(","), "kfp must be in the image"


def test_the_images_the_pipeline_names_have_dockerfiles():
    for image in (images.CONTROL_IMAGE, images.TRAIN_IMAGE):
        name = image.rsplit("/", 1)[1].split(":")[0].removeprefix("agenthpo-")
        assert (ROOT / "images" / f"{name}.Dockerfile").exists(), image
