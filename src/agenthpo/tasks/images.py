"""Image files for the vision plug-ins: finding them in a folder, a zip or a folder of zips, and decoding them.

Images are read straight from their zip (never extracted). Nothing here imports torch: the data
contract and the dataset profile use it in the control step. Also the readers of the task options
that the vision plug-ins share.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Folder names that mark a predefined split, as image-folder datasets spell them.
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
                 "validation": "validation", "test": "test", "testing": "test"}
PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class ImageFile:
    """One image: `relative` is its path inside the dataset (what labels and splits are read from)."""

    relative: str
    path: str
    archive: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(part for part in self.relative.split("/") if part)


def existing_path(data: str | None, task: str, what: str) -> Path:
    """The data path, or a ValueError naming it (and what the task expects there)."""
    if not data:
        raise ValueError(f"task {task!r} needs `data`: {what}")
    path = Path(data)
    if not path.exists():
        raise ValueError(f"task {task!r}: data path {data!r} does not exist (expected {what})")
    return path


def _is_image(name: str) -> bool:
    # Plain string work: pathlib costs seconds over CIFAR's 60,000 names.
    # Zips made on macOS carry resource forks (__MACOSX/, ._name) that look like images by name.
    base = name.rsplit("/", 1)[-1]
    return (base.lower().endswith(IMAGE_SUFFIXES) and not base.startswith(".")
            and not name.startswith("__MACOSX/"))


def _zip_images(archive: Path) -> list[ImageFile]:
    try:
        with zipfile.ZipFile(archive) as handle:
            names = handle.namelist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{archive} is not a readable zip file ({exc})") from None
    return [ImageFile(name, name, str(archive)) for name in names if _is_image(name)]


def list_image_files(root: Path) -> list[ImageFile]:
    """Every image under `root`: a zip, or a folder whose images and zips (at any depth) hold them."""
    if root.is_file():
        if not zipfile.is_zipfile(root):
            raise ValueError(f"{root} is neither a folder nor a zip file of images")
        return _zip_images(root)
    files: list[ImageFile] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() == ".zip":
            files.extend(_zip_images(path))
        elif path.is_file() and _is_image(path.name):
            files.append(ImageFile(path.relative_to(root).as_posix(), str(path)))
    return files


class ImageReader:
    """Reads image bytes, keeping each zip open while it is used."""

    def __init__(self) -> None:
        self._archives: dict[str, zipfile.ZipFile] = {}

    def read(self, image: ImageFile) -> bytes:
        if image.archive is None:
            return Path(image.path).read_bytes()
        if image.archive not in self._archives:
            self._archives[image.archive] = zipfile.ZipFile(image.archive)
        return self._archives[image.archive].read(image.path)

    def close(self) -> None:
        for handle in self._archives.values():
            handle.close()
        self._archives.clear()


@contextmanager
def image_reader() -> Iterator[ImageReader]:
    reader = ImageReader()
    try:
        yield reader
    finally:
        reader.close()


def decode(data: bytes, mode: str | None, size: tuple[int, int] | None = None, nearest: bool = False) -> np.ndarray:
    """Pixels as uint8 (H, W[, C]) in `mode` (None keeps the file's own: label masks, whose values are classes),
    resized to size=(width, height) when given (nearest for label masks)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image = image.convert(mode) if mode is not None and image.mode != mode else image
        if size is not None and image.size != size:
            image = image.resize(size, Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def describe(data: bytes) -> dict[str, Any]:
    """What the data contract checks about one image file; a file that fails to decode is described as such."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return {"decoded": True, "width": image.width, "height": image.height, "mode": image.mode}
    except (OSError, SyntaxError, ValueError):
        return {"decoded": False, "width": None, "height": None, "mode": None}


def stratified_carve(labels: Iterable[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept, carved) positions: `fraction` of each class carved out, at least one image of a class with two."""
    by_class: dict[str, list[int]] = {}
    for position, label in enumerate(labels):
        by_class.setdefault(label, []).append(position)
    rng = np.random.default_rng(seed)
    kept: list[int] = []
    carved: list[int] = []
    for label in sorted(by_class):
        positions = rng.permutation(by_class[label]).tolist()
        count = min(max(int(round(len(positions) * fraction)), 1), len(positions) - 1)
        carved.extend(positions[:count])
        kept.extend(positions[count:])
    return sorted(kept), sorted(carved)
