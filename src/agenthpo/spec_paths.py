"""Paths and URIs in a spec: relative data paths taken from the spec's folder, `${VAR:-default}` expanded,
relative SQLite URIs made absolute (so that step processes in other folders agree)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from agenthpo.errors import FieldError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def absolute_sqlite_uri(uri: str) -> str:
    """sqlite:///relative.db -> sqlite:////abs/path/relative.db, so subprocesses in other folders agree."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        return prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def resolve_path(value: str, base_dir: Path | None) -> str:
    if "://" in value or base_dir is None or os.path.isabs(value):
        return value
    return str((base_dir / value).resolve())


def expand_env(value: str, field_path: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in os.environ:
            return os.environ[var]
        if default is None:
            raise FieldError(field_path, f"{value!r} uses ${{{var}}}, which is not set (write ${{{var}:-default}})")
        return default

    return _ENV.sub(substitute, value)
