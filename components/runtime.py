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


def read_config(path: str, slot: int = -1) -> dict[str, Any]:
    """The Creator's artifact: one configuration, or with slot >= 0 the slot-th of a round; a slot the
    round did not fill (too little budget left, or a stop) is skipped."""
    with open(path) as f:
        document = json.load(f)
    if slot < 0:
        return document
    if document.get("status") != "proposed" or slot >= len(document["configs"]):
        return {"status": "skipped", "reason": document.get("reason") or f"no configuration for slot {slot}"}
    return document["configs"][slot]
