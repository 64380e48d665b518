"""What every component body does first: the spec from its JSON parameter and the study store."""

from __future__ import annotations

import json
from typing import Any

from agenthpo.spec import StudySpec


def load(spec_json: str):
    from agenthpo.tracking import MlflowStudyStore

    spec = StudySpec.from_json(json.loads(spec_json))
    return spec, MlflowStudyStore(spec.tracking_uri)


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, default=str)
