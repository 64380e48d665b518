"""What every component body does: the spec and the study store from its parameters, and the step
messages (`agenthpo.messages`) loaded from and dumped to the JSON that KFP passes between steps.

A step's exits are redacted (`agenthpo.redact`): `load` routes its log records and stdout/stderr (the
traceback of a failed step included) through the redaction, and `dump` redacts what KFP stores."""

from __future__ import annotations

import json

from agenthpo.messages import Round, TrialConfig
from agenthpo.redact import install, redact
from agenthpo.spec import StudySpec

_STORES: dict = {}  # tracking URI -> this process's store (its history view is kept between steps)


def store_for(tracking_uri: str):
    """The process's store for `tracking_uri`: the local runner's warm worker refreshes its view of the
    study before each fork, so that a step's first history read costs only what is new."""
    from agenthpo.tracking import MlflowStudyStore

    if tracking_uri not in _STORES:
        _STORES[tracking_uri] = MlflowStudyStore(tracking_uri)
    return _STORES[tracking_uri]


def load(spec_json: str):
    install()
    spec = StudySpec.from_json(json.loads(spec_json))
    return spec, store_for(spec.tracking_uri)


def dump(message) -> str:
    """A step message as the JSON string a component returns (and KFP stores): redacted."""
    return redact(json.dumps(message.to_json()))


def read_config(path: str, slot: int = -1) -> TrialConfig:
    """The Creator's artifact (a Round): the slot-th configuration of the round, the first one for a
    sequential study (slot -1). A slot the round did not fill (too little budget left, or a stop) is
    a STOPPED config: its training and analysis steps pass through."""
    with open(path) as f:
        return Round.from_json(json.load(f)).slot(max(slot, 0))
