"""What every component body does: the spec and the study store from its parameters, and the step
messages (`agenthpo.messages`) loaded from and dumped to the JSON that KFP passes between steps."""

from __future__ import annotations

import json

from agenthpo.messages import Round, TrialConfig
from agenthpo.spec import StudySpec


def load(spec_json: str):
    from agenthpo.tracking import MlflowStudyStore

    spec = StudySpec.from_json(json.loads(spec_json))
    return spec, MlflowStudyStore(spec.tracking_uri)


def dump(message) -> str:
    """A step message as the JSON string a component returns."""
    return json.dumps(message.to_json())


def read_config(path: str, slot: int = -1) -> TrialConfig:
    """The Creator's artifact (a Round): the slot-th configuration of the round, the first one for a
    sequential study (slot -1). A slot the round did not fill (too little budget left, or a stop) is
    a STOPPED config: its training and analysis steps pass through."""
    with open(path) as f:
        return Round.from_json(json.load(f)).slot(max(slot, 0))
