"""A drop-in MlflowClient that writes nothing secret: every text it sends passes `agenthpo.redact`.

`RedactingClient(client)` behaves as `client` does; its writes first redact (and strip terminal
colour codes from) the string values they carry: tags (`set_tag`, `create_run(tags=)`, `log_batch`'s
tags, `set_experiment_tag`, `create_experiment(tags=)`), params (`log_param`, `log_batch`'s params),
run names and descriptions, and text artifacts (`log_text`, `log_dict`, and the files given to
`log_artifact` / `log_artifacts`, which are copied redacted when they hold a secret). Reads and every
other call go to the wrapped client unchanged.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlflow.entities import Param, RunTag

from agenthpo.redact import clean, redact, redact_bytes

MAX_SCANNED_BYTES = 64 * 1024 * 1024  # larger files (models, datasets) are logged as they are


def _text(value: Any) -> Any:
    """A tag's or param's value as MLflow stores it (a string), cleaned; None stays None."""
    return None if value is None else clean(str(value))


def _tags(tags: Any) -> Any:
    return {k: _text(v) for k, v in tags.items()} if isinstance(tags, dict) else tags


def _redacted(value: Any) -> Any:
    """A JSON-like value with every string in it redacted (keys too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _needs_redaction(path: Path) -> bytes | None:
    """The file's redacted bytes, or None when it holds nothing to redact (or is too large to read)."""
    if path.stat().st_size > MAX_SCANNED_BYTES:
        return None
    data = path.read_bytes()
    redacted = redact_bytes(data)
    return None if redacted == data else redacted


class RedactingClient:
    """An MlflowClient whose writes are redacted; see the module's docstring."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    # -- tags, params, names -------------------------------------------------------------------------
    def create_run(self, experiment_id, start_time=None, tags=None, run_name=None):
        return self._client.create_run(experiment_id, start_time=start_time, tags=_tags(tags),
                                       run_name=_text(run_name))

    def create_experiment(self, name, artifact_location=None, tags=None):
        return self._client.create_experiment(name, artifact_location=artifact_location, tags=_tags(tags))

    def set_tag(self, run_id, key, value, synchronous=None):
        return self._client.set_tag(run_id, key, _text(value), synchronous=synchronous)

    def set_experiment_tag(self, experiment_id, key, value):
        return self._client.set_experiment_tag(experiment_id, key, _text(value))

    def log_param(self, run_id, key, value, synchronous=None):
        return self._client.log_param(run_id, key, _text(value), synchronous=synchronous)

    def log_batch(self, run_id, metrics=(), params=(), tags=(), synchronous=None):
        params = [Param(p.key, _text(p.value)) for p in params or ()]
        tags = [RunTag(t.key, _text(t.value)) for t in tags or ()]
        return self._client.log_batch(run_id, metrics=metrics, params=params, tags=tags, synchronous=synchronous)

    def update_run(self, run_id, status=None, name=None):
        return self._client.update_run(run_id, status=status, name=_text(name))

    # -- artifacts -----------------------------------------------------------------------------------
    def log_text(self, run_id, text, artifact_file):
        return self._client.log_text(run_id, redact(text), artifact_file)

    def log_dict(self, run_id, dictionary, artifact_file):
        return self._client.log_dict(run_id, _redacted(dictionary), artifact_file)

    def log_artifact(self, run_id, local_path, artifact_path=None):
        path = Path(local_path)
        if not path.is_file() or (redacted := _needs_redaction(path)) is None:
            return self._client.log_artifact(run_id, local_path, artifact_path)
        with tempfile.TemporaryDirectory(prefix="agenthpo-redacted-") as folder:
            copy = Path(folder) / path.name
            copy.write_bytes(redacted)
            return self._client.log_artifact(run_id, str(copy), artifact_path)

    def log_artifacts(self, run_id, local_dir, artifact_path=None):
        root = Path(local_dir)
        changed = {f: r for f in root.rglob("*") if f.is_file() and (r := _needs_redaction(f)) is not None}
        if not changed:
            return self._client.log_artifacts(run_id, local_dir, artifact_path)
        with tempfile.TemporaryDirectory(prefix="agenthpo-redacted-") as folder:
            copy = Path(folder) / root.name
            shutil.copytree(root, copy)
            for original, redacted in changed.items():
                (copy / original.relative_to(root)).write_bytes(redacted)
            return self._client.log_artifacts(run_id, str(copy), artifact_path)
